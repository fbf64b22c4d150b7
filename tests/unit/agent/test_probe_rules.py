"""Table tests of the probe state machine (the kubelet's prober worker rules)."""

import pytest

from tinykube.agent.probes.rules import (
    LIVENESS, READINESS, STARTUP, ProbeSpec, ProbeState, Result, container_probes, failed_message,
    initial_state, kill_message, observe, should_probe, verdict, wants_readiness_run)

S, F, W = Result.SUCCESS, Result.FAILURE, Result.WARNING


def spec(probe_type=LIVENESS, **fields):
    probe = {"httpGet": {"port": 80}, **fields}
    field = {LIVENESS: "livenessProbe", READINESS: "readinessProbe", STARTUP: "startupProbe"}[probe_type]
    return ProbeSpec.from_container({"name": "app", field: probe}, probe_type)


def test_defaults_are_the_api_defaults():
    s = spec()
    assert (s.handler, s.initial_delay, s.period, s.timeout, s.success_threshold, s.failure_threshold) == \
        ("httpGet", 0, 10, 1, 1, 3)
    assert s.termination_grace is None
    assert spec(terminationGracePeriodSeconds=5).termination_grace == 5


def test_container_probes_and_supported_handlers():
    c = {"name": "app", "livenessProbe": {"grpc": {"port": 9090}}, "readinessProbe": {"exec": {"command": ["true"]}},
         "startupProbe": {"periodSeconds": 1}}  # no handler at all: reported, never run
    probes = container_probes(c)
    assert set(probes) == {LIVENESS, READINESS, STARTUP}
    assert probes[LIVENESS].handler == "grpc" and probes[LIVENESS].action == {"port": 9090}
    assert probes[LIVENESS].supported and probes[READINESS].supported and not probes[STARTUP].supported


@pytest.mark.parametrize("probe_type,initial", [(READINESS, F), (LIVENESS, S), (STARTUP, Result.UNKNOWN)])
def test_initial_results(probe_type, initial):
    assert initial_state(probe_type).result == initial


@pytest.mark.parametrize("probe_type,fields,results,published,on_hold", [
    (LIVENESS, {}, [F, F], S, False),                 # below failureThreshold 3
    (LIVENESS, {}, [F, F, F], F, True),               # published, then on hold
    (LIVENESS, {}, [F, F, S, F, F], S, False),        # a success resets the run
    (LIVENESS, {"failureThreshold": 1}, [F], F, True),
    (READINESS, {}, [S], S, False),
    (READINESS, {"successThreshold": 2}, [S], F, False),
    (READINESS, {"successThreshold": 2}, [S, S], S, False),
    (READINESS, {}, [S, F, F, F], F, False),           # readiness never holds
    (READINESS, {}, [S, F, F, F, S], S, False),
    (READINESS, {}, [W], S, False),                    # a warning is a success
    (STARTUP, {"failureThreshold": 2}, [F, F], F, True),
    (STARTUP, {}, [F, S], S, False),
])
def test_thresholds(probe_type, fields, results, published, on_hold):
    s, state = spec(probe_type, **fields), initial_state(probe_type)
    for r in results:
        state = observe(s, state, r)
    assert (state.result, state.on_hold) == (published, on_hold)


@pytest.mark.parametrize("probe_type,fields,state,running_for,started,expected", [
    (LIVENESS, {}, ProbeState(S), 0, True, True),
    (LIVENESS, {"initialDelaySeconds": 5}, ProbeState(S), 4.9, True, False),
    (LIVENESS, {"initialDelaySeconds": 5}, ProbeState(S), 5, True, True),
    (LIVENESS, {}, ProbeState(S), 10, False, False),       # startup not passed yet
    (READINESS, {}, ProbeState(F), 10, False, False),
    (STARTUP, {}, ProbeState(Result.UNKNOWN), 0, False, True),
    (STARTUP, {}, ProbeState(S), 0, True, False),           # done once started
    (LIVENESS, {}, ProbeState(F, on_hold=True), 10, True, False),
])
def test_should_probe(probe_type, fields, state, running_for, started, expected):
    assert should_probe(spec(probe_type, **fields), state, running_for=running_for, started=started) == expected


@pytest.mark.parametrize("types,results,expected", [
    ((), (), (True, True, "")),
    ((READINESS,), (F,), (True, False, "")),
    ((READINESS,), (S,), (True, True, "")),
    ((STARTUP, READINESS), (Result.UNKNOWN, S), (False, False, "")),
    ((STARTUP,), (S,), (True, True, "")),
    ((STARTUP,), (F,), (False, False, STARTUP)),
    ((LIVENESS,), (F,), (True, True, LIVENESS)),
    ((LIVENESS, READINESS), (S, F), (True, False, "")),
])
def test_verdict(types, results, expected):
    probes = {t: spec(t) for t in types}
    states = {t: ProbeState(r) for t, r in zip(types, results)}
    v = verdict(probes, states)
    assert (v.started, v.ready, v.kill_reason) == expected


@pytest.mark.parametrize("types,results,wanted", [
    ((READINESS,), (F,), True),                          # started (no startupProbe), not ready yet
    ((READINESS,), (S,), False),                         # ready already
    ((STARTUP, READINESS), (Result.UNKNOWN, F), False),  # not started: readiness waits
    ((STARTUP, READINESS), (S, F), True),                # the startupProbe just succeeded
    ((STARTUP,), (S,), False),                           # no readinessProbe to run
    ((LIVENESS,), (S,), False),
])
def test_wants_readiness_run(types, results, wanted):
    probes = {t: spec(t) for t in types}
    states = {t: ProbeState(r) for t, r in zip(types, results)}
    assert wants_readiness_run(probes, verdict(probes, states)) is wanted


def test_event_messages_are_upstreams():
    assert failed_message(LIVENESS, "HTTP probe failed with statuscode: 500") == \
        "Liveness probe failed: HTTP probe failed with statuscode: 500"
    assert kill_message("app", LIVENESS) == "Container app failed liveness probe, will be restarted"
    assert kill_message("app", STARTUP) == "Container app failed startup probe, will be restarted"
