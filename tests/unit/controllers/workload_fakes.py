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


def writes(client, *verbs: str) -> list:
    return [a for a in client.writes() if not verbs or a.verb in verbs]
