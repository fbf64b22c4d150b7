"""ImageManager: the kubelet's `EnsureImageExists` for one container of one pod.

    parse the image (InvalidImageName) -> present? -> should_pull(policy)?
      no,  present  -> event Pulled "Container image "x" already present on machine"
      no,  absent   -> event ErrImageNeverPull, raise ErrImageNeverPull
      yes           -> in back-off for (pod uid, image)? raise ImagePullBackOff (event BackOff)
                    -> event Pulling, pull with the pod's imagePullSecrets
                    -> failure: event Failed, back-off.next, raise ErrImagePull
                    -> success: event Pulled "Successfully pulled image ..."

Events are handed to `record_event(type, reason, message)` with the kubelet's reasons and
messages, so `kubectl describe pod` reads as it does on Kubernetes. Returns the image's
record: `record.config` is the image ID, `record.target` its repo digest.
"""

from __future__ import annotations

import time
from typing import Callable

from tinykube.agent.images import errors
from tinykube.agent.images.auth import docker_configs_from_secrets, lookup_credentials
from tinykube.agent.images.policy import PullBackOff, should_pull
from tinykube.agent.images.reference import parse
from tinykube.agent.images.service import ImageService
from tinykube.agent.images.store import ImageRecord

NORMAL, WARNING = "Normal", "Warning"
EventRecorder = Callable[[str, str, str], None]


def _ignore(kind: str, reason: str, message: str) -> None:
    pass


class ImageManager:
    def __init__(self, images: ImageService, *, back_off: PullBackOff | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.images = images
        self.back_off = back_off or PullBackOff()
        self.clock = clock

    async def ensure_image(self, image: str, *, pod_uid: str, policy: str = "",
                           pull_secrets: list[dict] = (),
                           record_event: EventRecorder = _ignore) -> ImageRecord:
        """`pull_secrets`: the pod's imagePullSecrets as Secret objects (type
        kubernetes.io/dockerconfigjson or dockercfg)."""
        try:
            parse(image)
        except errors.InvalidImageName as e:
            record_event(WARNING, "InspectFailed", str(e))
            raise
        record = self.images.get_image(image)
        if not should_pull(policy, image, record is not None):
            return self._not_pulling(image, record, record_event)
        return await self._pull(image, pod_uid, pull_secrets, record_event)

    def _not_pulling(self, image: str, record: ImageRecord | None,
                     record_event: EventRecorder) -> ImageRecord:
        if record is None:
            err = errors.never_pull(image)
            record_event(WARNING, "ErrImageNeverPull", str(err))
            raise err
        record_event(NORMAL, "Pulled", f'Container image "{image}" already present on machine')
        return record

    async def _pull(self, image: str, pod_uid: str, pull_secrets: list[dict],
                    record_event: EventRecorder) -> ImageRecord:
        key = f"{pod_uid}_{image}"
        if self.back_off.in_back_off(key, self.clock()):
            err = errors.back_off(image)
            record_event(NORMAL, "BackOff", str(err))
            raise err
        record_event(NORMAL, "Pulling", f'Pulling image "{image}"')
        credentials = lookup_credentials(docker_configs_from_secrets(list(pull_secrets)),
                                         parse(image).name)
        try:
            result = await self.images.pull(image, credentials=credentials)
        except errors.ImageError as e:
            record_event(WARNING, "Failed", f'Failed to pull image "{image}": {e}')
            self.back_off.next(key, self.clock())
            raise
        took = go_duration(result.seconds)
        record_event(NORMAL, "Pulled", f'Successfully pulled image "{image}" in {took} '
                     f"({took} including waiting). Image size: {result.record.size} bytes.")
        return result.record


def go_duration(seconds: float) -> str:
    """A duration as Go prints one truncated to milliseconds: 523ms, 1.25s."""
    ms = int(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    return f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + "s"
