"""One typed tree of image errors, each carrying the kubelet waiting reason it maps to.

The agent puts `err.reason` and `str(err)` into the container's
`state.waiting.{reason,message}` and into the Failed event, as the kubelet does:

    ImageError
    ├── ErrImagePull          reason ErrImagePull: the pull failed (message as containerd words it)
    │   ├── ImageNotFound        the registry has no such manifest / blob
    │   └── ImageUnauthorized    401/403: the next imagePullSecret may work
    ├── ErrImageNeverPull     reason ErrImageNeverPull: absent and the policy is Never
    ├── ImagePullBackOff      reason ImagePullBackOff: still inside the back-off window
    ├── InvalidImageName      reason InvalidImageName: the reference does not parse
    ├── ImageInspectError     reason ImageInspectError: asked about an image we do not have
    └── ContentError          bad content (digest mismatch, unsafe tar, unknown media type):
        └── UnsafeLayerError     raised by the store and unpacker, wrapped into ErrImagePull
                                 when it happens during a pull
"""

from __future__ import annotations


class ImageError(Exception):
    """Base of every image error; `reason` is the kubelet's waiting reason."""

    reason = "ErrImagePull"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ErrImagePull(ImageError):
    reason = "ErrImagePull"


class ImageNotFound(ErrImagePull):
    pass


class ImageUnauthorized(ErrImagePull):
    pass


class ErrImageNeverPull(ImageError):
    reason = "ErrImageNeverPull"


class ImagePullBackOff(ImageError):
    reason = "ImagePullBackOff"


class InvalidImageName(ImageError):
    reason = "InvalidImageName"


class ImageInspectError(ImageError):
    reason = "ImageInspectError"


class ContentError(ImageError):
    pass


class UnsafeLayerError(ContentError):
    pass


# --- constructors with the kubelet's and containerd's words ------------------------------


def never_pull(image: str) -> ErrImageNeverPull:
    return ErrImageNeverPull(f'Container image "{image}" is not present with pull policy of Never')


def back_off(image: str) -> ImagePullBackOff:
    return ImagePullBackOff(f'Back-off pulling image "{image}"')


def wrap(err: ImageError, context: str) -> ImageError:
    """The same kind of error with `context: ` in front, as Go's `fmt.Errorf("...: %w")`."""
    wrapped = type(err)(f"{context}: {err}")
    wrapped.__cause__ = err
    return wrapped


def pull_failed(ref: str, cause: ImageError) -> ErrImagePull:
    """containerd's outermost wrapping of a failed pull; always an ErrImagePull."""
    if not isinstance(cause, ErrImagePull):
        cause = ErrImagePull(str(cause))
    return wrap(cause, f'failed to pull and unpack image "{ref}"')


def not_present(ref: str) -> ImageInspectError:
    return ImageInspectError(f'image "{ref}" is not present in the image store')
