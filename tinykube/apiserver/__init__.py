"""The API server: the single entry point of the cluster.

HTTPS with a generated CA, authentication (bearer tokens, client certificates),
authorization, admission, then the REST verbs of Kubernetes over the storage, a watch
cache so that many watchers cost one store watch, discovery and OpenAPI.
"""
