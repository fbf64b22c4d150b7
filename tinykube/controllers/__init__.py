"""The controller manager: level-triggered loops that drive observed state to desired state.

Each controller is one module with one class (a `Controller` subclass, base.py): its
event handlers only turn objects into keys on a WorkQueue, and one idempotent
`sync(key)` reads the informer caches, makes the fewest writes that converge, and may
raise to be retried with back-off. All controllers share one InformerFactory (one list +
watch per resource), one EventRecorder and one Lease (`kube-controller-manager` in
kube-system): `ControllerManager` (manager.py) only runs them while it leads, so two
copies never act at once. `Expectations` (expectations.py) keeps a stale cache from
making a controller create or delete twice.

Controllers talk only to the API server (tinykube.client); they never import the
apiserver, scheduler or agent.
"""
