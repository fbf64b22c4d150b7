"""Controllers: one module per controller, each with one idempotent sync(key)."""
