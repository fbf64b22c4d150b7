"""InterPodAffinity's score as tables, after upstream's scoring.go: existing pods counted one
by one, their own terms weighed against the incoming pod, upstream's float normalisation."""

from __future__ import annotations

import pytest

from tinykube.scheduler.cache import PodInfo
from tinykube.scheduler.config import ConfigError, SchedulerConfig, instantiate
from tinykube.scheduler.framework import CycleState
from tinykube.scheduler.plugins.interpodaffinity import InterPodAffinity
from tests.unit.scheduler.helpers import cache_with, node, pod

ZONE, HOST = "zone", "kubernetes.io/hostname"


def nodes():
    return [node("a1", labels={ZONE: "a"}), node("a2", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"}),
            node("c1", labels={ZONE: "c"})]


def term(labels: dict, key: str = ZONE) -> dict:
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key}


def weighted(weight: int, labels: dict, key: str = ZONE) -> dict:
    return {"weight": weight, "podAffinityTerm": term(labels, key)}


def scores(plugin, incoming: dict, placed: list) -> dict[str, int] | None:
    cache = cache_with(nodes(), placed)
    got = plugin.score(CycleState(PodInfo(incoming), cache), cache.node_list)
    return None if got is None else dict(zip((n.name for n in cache.node_list), got))


def web(i: int, **spec) -> dict:
    return pod(f"web{i}", labels={"app": "web"}, **spec)


def test_preferred_anti_affinity_counts_every_matching_pod():
    # zone a holds 3 web pods, zone b one: a scores -15, b -5, c 0
    placed = [(web(0), "a1"), (web(1), "a1"), (web(2), "a2"), (web(3), "b1")]
    incoming = pod("new", affinity={"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [weighted(5, {"app": "web"})]}})
    assert scores(InterPodAffinity(), incoming, placed) == {"a1": 0, "a2": 0, "b1": 66, "c1": 100}


def test_preferred_affinity_counts_every_matching_pod():
    placed = [(web(0), "a1"), (web(1), "a2"), (web(2), "b1")]
    incoming = pod("new", affinity={"podAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [weighted(3, {"app": "web"})]}})
    assert scores(InterPodAffinity(), incoming, placed) == {"a1": 100, "a2": 100, "b1": 50, "c1": 0}


def test_existing_pods_preferred_anti_affinity_pushes_the_incoming_pod_away():
    lonely = pod("lonely", affinity={"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [weighted(10, {"app": "web"}, HOST)]}})
    assert scores(InterPodAffinity(), web(9), [(lonely, "a1")]) == {"a1": 0, "a2": 100, "b1": 100, "c1": 100}
    # upstream's ignorePreferredTermsOfExistingPods: a pod without terms of its own skips the plugin
    assert scores(InterPodAffinity(ignorePreferredTermsOfExistingPods=True), web(9), [(lonely, "a1")]) is None


def test_existing_pods_preferred_affinity_and_required_affinity_by_hard_weight():
    fan = pod("fan", affinity={"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [term({"app": "web"})],
        "preferredDuringSchedulingIgnoredDuringExecution": [weighted(4, {"app": "web"}, HOST)]}})
    # zone b: +1 (hardPodAffinityWeight 1), b1 itself: +4 more
    assert scores(InterPodAffinity(), web(9), [(fan, "b1")]) == {"a1": 0, "a2": 0, "b1": 100, "c1": 0}
    got = scores(InterPodAffinity(hardPodAffinityWeight=0), web(9), [(fan, "b1")])
    assert got == {"a1": 0, "a2": 0, "b1": 100, "c1": 0}  # the preferred term alone
    only_required = pod("req", affinity={"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [term({"app": "web"})]}})
    assert scores(InterPodAffinity(hardPodAffinityWeight=0), web(9), [(only_required, "b1")]) is None
    assert scores(InterPodAffinity(hardPodAffinityWeight=7), web(9), [(only_required, "b1")]) == {
        "a1": 0, "a2": 0, "b1": 100, "c1": 0}


def test_terms_of_pods_in_other_namespaces_follow_their_namespace_rules():
    other = pod("lonely", ns="other", affinity={"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [weighted(10, {"app": "web"}, HOST)]}})
    # the existing pod's term names no namespace: it means its own, "other", not ours
    assert scores(InterPodAffinity(), web(9), [(other, "a1")]) is None


def test_nothing_to_count_skips_the_plugin():
    assert scores(InterPodAffinity(), web(9), [(web(0), "a1")]) is None


def test_normalisation_is_upstreams_float_arithmetic():
    # raw 29, 100, 0: upstream's int64(100 * (29/100)) is 28, not 29
    placed = [(pod("x", labels={"app": "x"}), "a1"), (pod("y", labels={"app": "y"}), "b1")]
    incoming = pod("new", affinity={"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        weighted(29, {"app": "x"}, HOST), weighted(100, {"app": "y"}, HOST)]}})
    assert scores(InterPodAffinity(), incoming, placed) == {"a1": 28, "a2": 0, "b1": 100, "c1": 0}


@pytest.mark.parametrize("args, message", [
    ({"hardPodAffinityWeight": 101}, "not in valid range"),
    ({"hardPodAffinityWeigth": 1}, "unexpected keyword"),
])
def test_bad_plugin_args_are_a_config_error(args, message):
    config = SchedulerConfig()
    config.plugin_args = {"InterPodAffinity": args}
    with pytest.raises(ConfigError, match=message):
        instantiate(config)


@pytest.mark.parametrize("command", ["scheduler", "up"])
def test_a_refused_scheduler_config_stops_the_command_before_it_starts(tmp_path, capsys, command):
    from tinykube.cli.main import main

    path = tmp_path / "sched.yaml"
    path.write_text("pluginArgs:\n  InterPodAffinity: {hardPodAffinityWeight: 500}\n")
    argv = [command, "--scheduler-config", str(path)]
    argv += ["--kubeconfig", str(tmp_path / "none")] if command == "scheduler" else ["--data-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"tinykube {command}: --scheduler-config {path}: plugin 'InterPodAffinity'" in err
    assert "not in valid range [0-100]" in err
