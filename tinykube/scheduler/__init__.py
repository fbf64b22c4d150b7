"""The scheduler: binds every pod without spec.nodeName to a node.

A scheduling queue (active, back-off, unschedulable), filter and score plugins that are
pure functions of (pod, node, cluster snapshot), and a binder that writes
`pods/binding`. Talks only to the API server (tinykube.client).
"""
