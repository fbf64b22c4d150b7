"""Images: the node's content-addressed image store, registry pulls and archive imports.

It owns DATA_DIR/images: blobs by digest (verified before they land), an index of image
references, and one unpacked snapshot per layer that overlayfs stacks into each
container's root filesystem (OCI whiteouts already in overlayfs form). Pulls speak the OCI
distribution protocol (bearer-token and basic auth, imagePullSecrets, indexes narrowed to
the node's platform); `tinykube image import` loads OCI and docker-save archives. Pull
policy and back-off are pure functions with the kubelet's rules; errors are one typed tree
whose `reason` is the kubelet's waiting reason. Nothing here talks to the API server.

The agent uses `ImageManager.ensure_image` (policy, back-off, secrets, events); the runtime
uses `ImageService.rootfs_layers`, `image_config` and `lease`/`release`.
"""

from tinykube.agent.images.errors import (ErrImageNeverPull, ErrImagePull, ImageError,
                                          ImageInspectError, ImageNotFound, ImagePullBackOff,
                                          ImageUnauthorized, InvalidImageName)
from tinykube.agent.images.manager import ImageManager
from tinykube.agent.images.policy import PullBackOff, default_pull_policy, should_pull
from tinykube.agent.images.reference import Reference, normalize, parse
from tinykube.agent.images.service import ImageService
from tinykube.agent.images.store import ImageRecord

__all__ = [
    "ErrImageNeverPull", "ErrImagePull", "ImageError", "ImageInspectError", "ImageManager",
    "ImageNotFound", "ImagePullBackOff", "ImageRecord", "ImageService", "ImageUnauthorized",
    "InvalidImageName", "PullBackOff", "Reference", "default_pull_policy", "normalize", "parse",
    "should_pull",
]
