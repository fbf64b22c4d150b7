"""Pull policy decisions and the image pull back-off, as tables."""

import pytest

from tinykube.agent.images.policy import PullBackOff, default_pull_policy, should_pull

D = "sha256:" + "cd" * 32


@pytest.mark.parametrize("image,policy", [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
    (f"busybox@{D}", "IfNotPresent"), (f"busybox:latest@{D}", "Always"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:v1", "IfNotPresent"),
])
def test_default_pull_policy(image, policy):
    assert default_pull_policy(image) == policy


@pytest.mark.parametrize("policy,image,present,pull", [
    ("Always", "busybox:1.36", True, True),
    ("Always", "busybox:1.36", False, True),
    ("IfNotPresent", "busybox", True, False),
    ("IfNotPresent", "busybox", False, True),
    ("Never", "busybox", False, False),
    ("Never", "busybox", True, False),
    ("", "busybox", True, True),            # :latest defaults to Always
    ("", "busybox:1.36", True, False),      # a tag defaults to IfNotPresent
    ("", "busybox:1.36", False, True),
])
def test_should_pull(policy, image, present, pull):
    assert should_pull(policy, image, present) is pull


def test_unknown_policy():
    with pytest.raises(ValueError):
        should_pull("Sometimes", "busybox", True)


def test_back_off_doubles_to_the_cap_per_key():
    b = PullBackOff()
    assert not b.in_back_off("pod_img", 0.0)
    delays = [b.next("pod_img", t) for t in (0, 10, 30, 70, 150, 310, 610)]
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    assert b.in_back_off("pod_img", 610 + 299.9)
    assert not b.in_back_off("pod_img", 610 + 300)
    assert not b.in_back_off("other", 611)  # per key


def test_back_off_window_is_since_the_last_failure():
    b = PullBackOff()
    b.next("k", 100.0)
    assert b.in_back_off("k", 109.9) and not b.in_back_off("k", 110.0)


def test_back_off_restarts_after_an_idle_period_and_gc():
    b = PullBackOff()
    for t in (0, 10, 30):
        b.next("k", t)
    assert b.delay("k") == 40
    assert b.next("k", 30 + 601) == 10  # idle longer than twice the cap: from the start
    b.gc(30 + 601 + 601)
    assert b.delay("k") == 0
    b.next("k", 0)
    b.reset("k")
    assert not b.in_back_off("k", 1)
