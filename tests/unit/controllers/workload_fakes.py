"""Fakes for the workload controllers' unit tests (Job, CronJob, DaemonSet, StatefulSet).

`make(cls, *objects)` builds a controller over a FakeApiClient holding the objects and
informer stores filled with them (no informer runs: a test calls `sync(key)` once and
looks at `client.writes()` and `recorder.events`), with a FakeClock at NOW.
"""

from __future__ import annotations

import datetime

from tinykube.client import FakeApiClient, FakeClock, InformerFactory
from tinykube.controllers.base import ControllerContext

NOW = datetime.datetime(2024, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


class RecordingRecorder:
    """EventRecorder's record(), kept in a list."""

    def __init__(self):
        self.events: list[tuple[str, str, str, str]] = []  # (object name, type, reason, message)

    def record(self, obj: dict, type: str, reason: str, message: str, **_) -> None:
        self.events.append((obj["metadata"]["name"], type, reason, message))

    def reasons(self) -> list[str]:
        return [e[2] for e in self.events]


def make(cls, *objects: dict, now: datetime.datetime = NOW):
    client = FakeApiClient()
    seeded = [client.seed(o) for o in objects]
    clock = FakeClock(wall=now)
    ctx = ControllerContext(client=client, informers=InformerFactory(client), recorder=RecordingRecorder(),
                            clock=clock)
    controller = cls(ctx)
    for informer in ctx.informers._informers.values():
        for obj in seeded:
            if (obj["apiVersion"], obj["kind"]) == (informer.rt.api_version, informer.rt.kind):
                informer.store.put(obj)
    return controller, client


def refill(controller) -> None:
    """Make the informer stores equal to the fake server's objects again (a watch caught up)."""
    client = controller.client
    for informer in controller.ctx.informers._informers.values():
        for key in informer.store.keys():
            informer.store.remove(key)
        for (group, plural, _, _), obj in client._objects.items():
            if (group, plural) == (informer.rt.group, informer.rt.plural):
                informer.store.put(dict(obj, apiVersion=informer.rt.api_version, kind=informer.rt.kind))


def writes(client, *verbs: str) -> list:
    return [a for a in client.writes() if not verbs or a.verb in verbs]
