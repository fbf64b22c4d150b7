"""tinykube: a Kubernetes-compatible container orchestrator in Python.

Layers, low to high: util, api, storage, client, then the components (apiserver,
controllers, and later scheduler, agent, proxy, dns), then cli which composes them.
See docs/architecture.md.
"""

__version__ = "0.1.0"
