"""The node agent (tinykube's kubelet): it registers its Node and renews its Lease, watches
the Pods bound to it, pulls their images into a content-addressed store (images/), builds
each pod's sandbox (namespaces, CNI networking in network/) and runs its containers with runc
(runtime/), mounts volumes, and reports container states, pod phases and events back to the
API server, which is the only component it talks to.
"""
