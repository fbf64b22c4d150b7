"""The Kubernetes API model: the registry of kinds, errors as Status objects,
defaulting, validation, selectors, patches, the OpenAPI schemas and Table printing.

Everything here is pure: objects are plain dicts in Kubernetes JSON form.
"""
