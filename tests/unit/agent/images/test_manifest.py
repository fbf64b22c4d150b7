"""Choosing the node's platform from an image index; manifest kinds."""

import pytest

from tinykube.agent.images.errors import ContentError, ImageNotFound
from tinykube.agent.images.manifest import (DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, Platform,
                                            choose_platform, config_diff_ids, kind_of)


def entry(n: int, arch: str, os_name: str = "linux", variant: str = "") -> dict:
    platform = {"os": os_name, "architecture": arch, **({"variant": variant} if variant else {})}
    return {"mediaType": DOCKER_MANIFEST, "digest": f"sha256:{n:064x}", "size": 1, "platform": platform}


INDEX = {"manifests": [
    entry(1, "amd64"), entry(2, "arm64", variant="v8"), entry(3, "arm", variant="v6"),
    entry(4, "arm", variant="v7"), entry(5, "amd64", os_name="windows"),
    entry(6, "unknown", os_name="unknown"),  # a buildx attestation manifest
]}


@pytest.mark.parametrize("want,chosen", [
    (Platform("linux", "amd64"), 1),
    (Platform("linux", "arm64"), 2),           # arm64's default variant is v8
    (Platform("linux", "arm64", "v8"), 2),
    (Platform("linux", "arm", "v7"), 4),
    (Platform("linux", "arm", "v6"), 3),
])
def test_choose_platform(want, chosen):
    assert choose_platform(INDEX, want).digest == f"sha256:{chosen:064x}"


def test_an_exact_variant_wins_over_none():
    index = {"manifests": [entry(1, "arm64"), entry(2, "arm64", variant="v9")]}
    assert choose_platform(index, Platform("linux", "arm64", "v9")).digest.endswith("2")
    assert choose_platform(index, Platform("linux", "arm64")).digest.endswith("1")


def test_no_match():
    with pytest.raises(ImageNotFound) as err:
        choose_platform(INDEX, Platform("linux", "s390x"))
    assert str(err.value) == "no match for platform linux/s390x in manifest: not found"


@pytest.mark.parametrize("media_type,doc,kind", [
    (OCI_INDEX, {}, "index"), (DOCKER_LIST, {}, "index"), (DOCKER_MANIFEST, {}, "manifest"),
    ("", {"manifests": []}, "index"), ("", {"config": {}}, "manifest"),
    ("text/plain", {"mediaType": OCI_INDEX}, "index"),  # the body's own type wins
])
def test_kind_of(media_type, doc, kind):
    assert kind_of(media_type, doc) == kind


def test_unknown_kind_and_rootfs():
    with pytest.raises(ContentError):
        kind_of("application/vnd.cncf.helm.config.v1+json", {})
    with pytest.raises(ContentError):
        config_diff_ids({"rootfs": {"type": "zfs"}})
    assert config_diff_ids({"rootfs": {"type": "layers", "diff_ids": ["sha256:x"]}}) == ["sha256:x"]
