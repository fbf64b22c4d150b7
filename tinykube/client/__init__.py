"""The one HTTP client of the API server, informers and work queues (later issues)."""
