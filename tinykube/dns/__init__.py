"""Cluster DNS: answers NAME.NAMESPACE.svc.cluster.local and friends from the API.

Services, EndpointSlices and Pods come from informers; the answers are pure functions of
that cache; other names are forwarded to the node's resolvers. Talks only to the API
server (tinykube.client).
"""
