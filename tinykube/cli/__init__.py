"""The `tinykube` command: server, up (the whole cluster in one process), version."""
