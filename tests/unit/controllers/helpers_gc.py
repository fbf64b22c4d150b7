"""Fakes shared by the housekeeping controllers' unit tests: a context over FakeApiClient
whose informer stores a test fills directly (no informer task runs)."""

from __future__ import annotations

from tinykube.client import EventRecorder, FakeApiClient, FakeClock, InformerFactory
from tinykube.controllers.base import ControllerContext, ControllerOptions


def fake_context(objects=(), **options) -> tuple[ControllerContext, FakeApiClient, FakeClock]:
    client = FakeApiClient()
    clock = FakeClock()
    ctx = ControllerContext(client=client, informers=InformerFactory(client),
                            recorder=EventRecorder(client, component="test"),
                            options=ControllerOptions(**options), clock=clock)
    return ctx, client, clock


def seed(client: FakeApiClient, controller_informers, *objects: dict) -> list[dict]:
    """Put objects in the fake server and in the matching informer caches."""
    out = []
    for obj in objects:
        stored = client.seed(obj)
        for informer in controller_informers:
            if (informer.rt.api_version, informer.rt.kind) == (stored["apiVersion"], stored["kind"]):
                informer.store.put(stored)
        out.append(stored)
    return out


def writes(client: FakeApiClient) -> list[tuple]:
    return [(a.verb, a.plural, a.name, a.subresource) for a in client.writes()]
