"""Delete propagation finalizers and the admission plugins, as tables."""

from __future__ import annotations

import pytest

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.apiserver import admission, propagation


@pytest.mark.parametrize("finalizers, policy, orphan, expected", [
    ([], None, None, []),
    ([], "Background", None, []),
    ([], "Orphan", None, ["orphan"]),
    ([], "Foreground", None, ["foregroundDeletion"]),
    ([], None, True, ["orphan"]),
    ([], None, False, []),
    (["a"], "Foreground", None, ["a", "foregroundDeletion"]),
    (["orphan", "a"], None, None, ["orphan", "a"]),  # no policy: the finalizer present decides
    (["orphan", "a"], "Background", None, ["a"]),
    (["foregroundDeletion"], "Orphan", None, ["orphan"]),
])
def test_finalizers_for_delete(finalizers, policy, orphan, expected):
    assert propagation.finalizers_for_delete(finalizers, policy, orphan) == expected


def test_policy_and_orphan_dependents_cannot_be_both_set():
    with pytest.raises(errors.Invalid):
        propagation.finalizers_for_delete([], "Orphan", True)


@pytest.mark.parametrize("tolerations, expected_added", [
    (None, 2),
    ([], 2),
    ([{"key": admission.NOT_READY, "operator": "Exists", "effect": "NoExecute"}], 1),
    ([{"operator": "Exists"}], 0),
    ([{"key": admission.UNREACHABLE, "operator": "Exists"}], 1),
    ([{"key": "other", "operator": "Exists", "effect": "NoExecute"}], 2),
])
def test_default_tolerations(tolerations, expected_added):
    spec = {} if tolerations is None else {"tolerations": list(tolerations)}
    admission.default_tolerations(spec, 7)
    added = spec["tolerations"][len(tolerations or []):]
    assert len(added) == expected_added
    assert all(t["tolerationSeconds"] == 7 and t["effect"] == "NoExecute" for t in added)


class FakeCache:
    def __init__(self, keys):
        self.keys = set(keys)

    async def wait_fresh(self):
        pass

    def get(self, key):
        return object() if key in self.keys else None


async def test_service_account_must_exist():
    adm = admission.Admission(FakeCache({admission.SERVICE_ACCOUNTS.key("ns", "default")}), default_sa_wait=0)
    pods = REGISTRY.by_plural("", "v1", "pods")
    await adm.validate_create(pods, "ns", {"metadata": {"name": "p"}, "spec": {"serviceAccountName": "default"}})
    with pytest.raises(errors.Forbidden) as exc:
        await adm.validate_create(pods, "ns", {"metadata": {"name": "p"}, "spec": {"serviceAccountName": "x"}})
    assert str(exc.value.message if hasattr(exc.value, "message") else exc.value) == (
        'pods "p" is forbidden: error looking up service account ns/x: serviceaccount "x" not found')
