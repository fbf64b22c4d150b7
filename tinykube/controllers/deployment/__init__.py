"""The Deployment controller: ReplicaSets per pod template, rolled over as upstream does.

Pure decisions live in their own modules, each a table-tested translation of
upstream's pkg/controller/deployment and its util package:
- revisions.py: the pod-template-hash (fnv32a + safe encoding), new/old ReplicaSets,
  the revision / revision-history / desired-replicas / max-replicas annotations,
  revisionHistoryLimit clean-up;
- rolling.py: maxSurge/maxUnavailable (ints and percentages, upstream rounding) and the
  RollingUpdate scale-up/scale-down plans;
- scaling.py: proportional scaling of every active ReplicaSet when replicas change
  mid-rollout (or while paused);
- recreate.py: Recreate's "no old pod still running" gate;
- progress.py: status and the Progressing / Available / ReplicaFailure conditions with
  upstream's reasons and messages, progressDeadlineSeconds.
controller.py is the shell: informers, claims, and the writes those plans ask for.
"""
