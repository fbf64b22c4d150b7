"""The Job controller (batch/v1) and the TTL-after-finished controller.

core.py and decide.py hold every decision as pure functions (pod tracking through the
batch.kubernetes.io/job-tracking finalizer, counters, conditions, pods to create or
delete), failurepolicy.py the podFailurePolicy rules, indexes.py Indexed completion
indexes; controller.py and ttl.py are the thin shells that read the informer caches and
write.
"""
