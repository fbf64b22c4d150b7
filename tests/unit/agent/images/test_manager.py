"""The kubelet's EnsureImageExists flow (policy, back-off, secrets, events), driven against a
recording fake of ImageService; the real service is covered by the integration tests."""

import base64
import json

import pytest

from tinykube.agent.images.auth import Credentials
from tinykube.agent.images.errors import (ErrImageNeverPull, ErrImagePull, ImagePullBackOff,
                                          InvalidImageName)
from tinykube.agent.images.manager import ImageManager, go_duration
from tinykube.agent.images.pull import PullResult
from tinykube.agent.images.registry import Stats
from tinykube.agent.images.store import ImageRecord

RECORD = ImageRecord("docker.io/library/busybox:1.36", "sha256:" + "a" * 64, "", "", "", 1234, 0.0)


class FakeImages:
    """Records pulls; `present` and `fail` steer the answers."""

    def __init__(self, present=False, fail=None):
        self.present, self.fail, self.pulls = present, fail, []

    def get_image(self, image):
        return RECORD if self.present else None

    async def pull(self, image, *, credentials=()):
        self.pulls.append((image, list(credentials)))
        if self.fail:
            raise self.fail
        self.present = True
        return PullResult(RECORD, Stats(), 1.2345, False)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


async def ensure(manager, image="busybox:1.36", **kw):
    events = []
    try:
        return await manager.ensure_image(image, pod_uid="uid", record_event=lambda *e: events.append(e), **kw), events
    except Exception as e:
        e.events = events
        raise


async def test_pull_when_absent_with_events():
    fake = FakeImages()
    record, events = await ensure(ImageManager(fake))
    assert record == RECORD and fake.pulls == [("busybox:1.36", [])]
    assert events == [("Normal", "Pulling", 'Pulling image "busybox:1.36"'),
                      ("Normal", "Pulled", 'Successfully pulled image "busybox:1.36" in 1.234s '
                       "(1.234s including waiting). Image size: 1234 bytes.")]


async def test_present_with_if_not_present_does_not_pull():
    fake = FakeImages(present=True)
    _, events = await ensure(ImageManager(fake))
    assert fake.pulls == [] and events == [
        ("Normal", "Pulled", 'Container image "busybox:1.36" already present on machine')]


async def test_latest_defaults_to_always():
    fake = FakeImages(present=True)
    await ensure(ImageManager(fake), "busybox")
    assert fake.pulls == [("busybox", [])]


async def test_never_and_absent():
    with pytest.raises(ErrImageNeverPull) as err:
        await ensure(ImageManager(FakeImages()), policy="Never")
    assert err.value.events == [("Warning", "ErrImageNeverPull",
                                 'Container image "busybox:1.36" is not present with pull policy of Never')]


async def test_invalid_name():
    with pytest.raises(InvalidImageName) as err:
        await ensure(ImageManager(FakeImages()), "Bad:Name:")
    assert err.value.events[0][:2] == ("Warning", "InspectFailed")


async def test_failures_back_off_per_pod_and_image():
    clock = Clock()
    fake = FakeImages(fail=ErrImagePull("boom"))
    manager = ImageManager(fake, clock=clock)
    with pytest.raises(ErrImagePull) as err:
        await ensure(manager)
    assert err.value.events[-1] == ("Warning", "Failed", 'Failed to pull image "busybox:1.36": boom')
    clock.now += 9
    with pytest.raises(ImagePullBackOff) as backoff:
        await ensure(manager)
    assert backoff.value.events == [("Normal", "BackOff", 'Back-off pulling image "busybox:1.36"')]
    assert len(fake.pulls) == 1
    clock.now += 1  # 10 s after the failure: try again, fail, now 20 s
    with pytest.raises(ErrImagePull):
        await ensure(manager)
    clock.now += 19
    with pytest.raises(ImagePullBackOff):
        await ensure(manager)
    assert manager.back_off.delay("uid_busybox:1.36") == 20


async def test_pull_secrets_become_credentials():
    config = {"auths": {"r.example.com": {"auth": base64.b64encode(b"u:p").decode()}}}
    secret = {"type": "kubernetes.io/dockerconfigjson",
              "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}
    fake = FakeImages()
    await ensure(ImageManager(fake), "r.example.com/app:1", pull_secrets=[secret])
    assert fake.pulls == [("r.example.com/app:1", [Credentials("u", "p")])]


@pytest.mark.parametrize("seconds,text", [(0.0004, "0ms"), (0.5234, "523ms"), (1.25, "1.25s"),
                                          (12.0, "12s"), (1.2349, "1.234s")])
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text
