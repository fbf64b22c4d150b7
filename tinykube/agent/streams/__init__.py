"""Streaming from the node agent (the kubelet API's streaming half): container logs,
exec, attach and port-forward, and the resource metrics `kubectl top` reads.

server.py (one level up) serves these on the agent's authenticated HTTPS endpoint; the API
server proxies `pods/log`, `pods/exec`, `pods/attach`, `pods/portforward` to it. Pure
parts (CRI log parsing, channel framing, SPDY framing, rate math) are separate from the
shells that read files, run `runc exec` and open sockets. See docs/streaming.md.
"""
