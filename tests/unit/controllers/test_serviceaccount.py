"""ServiceAccount controller: which namespaces get a default ServiceAccount."""

from __future__ import annotations

import pytest

from tinykube.controllers.serviceaccount import ServiceAccountController, missing_accounts

from .helpers_gc import fake_context, seed, writes


@pytest.mark.parametrize("namespace, existing, expected", [
    (None, set(), []),
    ({"metadata": {"name": "a"}}, set(), ["default"]),
    ({"metadata": {"name": "a"}, "status": {"phase": "Active"}}, {"default"}, []),
    ({"metadata": {"name": "a", "deletionTimestamp": "t"}}, set(), []),
    ({"metadata": {"name": "a"}, "status": {"phase": "Terminating"}}, set(), []),
])
def test_missing_accounts(namespace, existing, expected):
    assert missing_accounts(namespace, existing) == expected


async def test_sync_creates_default_once():
    ctx, client, _ = fake_context()
    controller = ServiceAccountController(ctx)
    seed(client, [controller.namespaces, controller.accounts],
         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}, "status": {"phase": "Active"}})
    await controller.sync("team")
    assert writes(client) == [("create", "serviceaccounts", "default", "")]
    created = await client.get(("v1", "ServiceAccount"), "default", namespace="team")
    controller.accounts.store.put(created)
    await controller.sync("team")
    assert len(writes(client)) == 1
