"""policy/v1 PodDisruptionBudget: validation messages, defaulting and `kubectl get pdb` cells (tables)."""

from __future__ import annotations

import datetime

import pytest

from tinykube.api import defaults, printers, validation
from tinykube.api.registry import REGISTRY

PDB = REGISTRY.by_plural("policy", "v1", "poddisruptionbudgets")
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def pdb(spec: dict | None = None, status: dict | None = None, name: str = "web") -> dict:
    obj = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": name, "namespace": "default", "generation": 1},
           "spec": {"selector": {"matchLabels": {"app": "web"}}, **(spec or {})}}
    if status is not None:
        obj["status"] = status
    return obj


def messages(causes) -> list[tuple[str, str]]:
    return [(c.field, c.to_dict()["message"]) for c in causes]


@pytest.mark.parametrize("spec, expected", [
    ({"minAvailable": 2}, []),
    ({"minAvailable": "50%"}, []),
    ({"maxUnavailable": 0}, []),
    ({"maxUnavailable": "100%", "unhealthyPodEvictionPolicy": "AlwaysAllow"}, []),
    ({"unhealthyPodEvictionPolicy": "IfHealthyBudget"}, []),
    ({"minAvailable": -1}, [("spec.minAvailable", "Invalid value: -1: must be greater than or equal to 0")]),
    ({"maxUnavailable": "101%"}, [("spec.maxUnavailable", "Invalid value: 101%: must not be greater than 100%")]),
    ({"minAvailable": "half"}, [("spec.minAvailable",
                                 "Invalid value: half: a valid percent string must be a numeric string followed by "
                                 "an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")]),
    ({"unhealthyPodEvictionPolicy": "Never"}, [("spec.unhealthyPodEvictionPolicy",
                                                'Unsupported value: "Never": supported values: "AlwaysAllow", '
                                                '"IfHealthyBudget"')]),
    ({"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
     [("spec.selector.matchExpressions[0].values",
       "Required value: must be specified when `operator` is 'In' or 'NotIn'")]),
])
def test_spec_validation(spec, expected):
    assert messages(validation.validate_create(PDB, pdb(spec))) == expected


def test_min_available_and_max_unavailable_are_exclusive():
    causes = validation.validate_create(PDB, pdb({"minAvailable": 1, "maxUnavailable": 1}))
    assert [c.field for c in causes] == ["spec"]
    assert causes[0].to_dict()["message"].endswith(": minAvailable and maxUnavailable cannot be both set")


def test_name_must_be_a_dns_subdomain_and_the_spec_may_change():
    assert [c.field for c in validation.validate_create(PDB, pdb(name="Web_1"))] == ["metadata.name"]
    old = pdb({"minAvailable": 1})
    old["metadata"]["resourceVersion"] = "5"
    new = pdb({"minAvailable": 2})
    new["metadata"]["resourceVersion"] = "5"
    assert validation.validate_update(PDB, new, old) == []


@pytest.mark.parametrize("status, expected", [
    ({"disruptionsAllowed": 1, "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 2}, []),
    ({"disruptionsAllowed": -1}, [("status.disruptionsAllowed",
                                   "Invalid value: -1: must be greater than or equal to 0")]),
    ({"conditions": [{"type": "DisruptionAllowed", "status": "Maybe", "reason": "SufficientPods",
                      "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
     [("status.conditions[0].status", 'Unsupported value: "Maybe": supported values: "False", "True", "Unknown"')]),
    ({"conditions": [{"type": "DisruptionAllowed", "status": "True"}]},
     [("status.conditions[0].lastTransitionTime", "Required value: must be set"),
      ("status.conditions[0].reason", "Required value: must be set")]),
])
def test_status_validation(status, expected):
    old = pdb(status={})
    assert messages(validation.validate_status_update(PDB, pdb(status=status), old)) == expected


def test_create_resets_status_and_sets_generation_and_nothing_is_defaulted():
    obj = pdb({"minAvailable": 2}, status={"disruptionsAllowed": 5})
    defaults.apply_defaults(PDB, obj)
    defaults.prepare_for_create(PDB, obj)
    assert obj["spec"] == {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}
    assert obj["status"] == {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}
    assert obj["metadata"]["generation"] == 1


def test_a_spec_change_bumps_the_generation():
    old, new = pdb({"minAvailable": 1}), pdb({"minAvailable": 2})
    assert defaults.bump_generation_if_spec_changed(new, old, PDB)
    assert new["metadata"]["generation"] == 2


@pytest.mark.parametrize("spec, allowed, cells", [
    ({"minAvailable": 2}, 1, ["web", "2", "N/A", 1]),
    ({"maxUnavailable": "25%"}, 0, ["web", "N/A", "25%", 0]),
    ({}, None, ["web", "N/A", "N/A", 0]),
])
def test_printer_cells(spec, allowed, cells):
    obj = pdb(spec, status={} if allowed is None else {"disruptionsAllowed": allowed})
    obj["metadata"]["creationTimestamp"] = "2025-12-31T23:00:00Z"
    table = printers.table(PDB, [obj], now=NOW, include_object="None", resource_version="1")
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"]
    assert table["rows"][0]["cells"] == cells + ["60m"]
