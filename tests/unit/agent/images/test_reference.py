"""Table tests of image reference parsing and normalization (docker/distribution's grammar,
the kubelet's default tag)."""

import pytest

from tinykube.agent.images.errors import InvalidImageName
from tinykube.agent.images.reference import Reference, is_localhost, normalize, parse

D = "sha256:" + "ab" * 32

NORMALIZED = [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox:1.36", "docker.io/library/busybox:1.36"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    ("bitnami/nginx:1.25", "docker.io/bitnami/nginx:1.25"),
    ("ghcr.io/org/app:v1.2.3", "ghcr.io/org/app:v1.2.3"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"),
    ("127.0.0.1:5000/app:1", "127.0.0.1:5000/app:1"),
    (f"busybox@{D}", f"docker.io/library/busybox@{D}"),
    (f"busybox:1.36@{D}", f"docker.io/library/busybox:1.36@{D}"),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
    ("my-registry.local:443/x_y/z--w:Tag_1.0-rc", "my-registry.local:443/x_y/z--w:Tag_1.0-rc"),
    ("Example.COM/app", "Example.COM/app:latest"),  # upper case is fine in the domain
    ("UPPER/case", "UPPER/case:latest"),  # ... and makes the first component a domain
]


@pytest.mark.parametrize("image,expected", NORMALIZED)
def test_normalize(image, expected):
    assert normalize(image) == expected


@pytest.mark.parametrize("image", [
    "", "Busybox", "busybox:", "busybox:-x", "busybox@sha256:short", "a//b",
    "busybox:" + "t" * 129, "ab" * 32, "-lead", "docker.io/Library/busybox", "x/y:tag:more",
])
def test_invalid(image):
    with pytest.raises(InvalidImageName) as err:
        parse(image)
    assert err.value.reason == "InvalidImageName"
    assert str(err.value).startswith(f'Failed to apply default image tag "{image}": couldn\'t parse image name')


def test_parts_endpoint_and_scheme():
    ref = parse("busybox:1.36")
    assert ref == Reference("docker.io", "library/busybox", "1.36", "")
    assert (ref.name, ref.endpoint, ref.scheme, ref.object) == (
        "docker.io/library/busybox", "registry-1.docker.io", "https", "1.36")
    pinned = parse(f"localhost:5000/app:1@{D}")
    assert (pinned.endpoint, pinned.scheme, pinned.object) == ("localhost:5000", "http", D)
    assert str(pinned.with_digest(D)) == f"localhost:5000/app@{D}"


@pytest.mark.parametrize("domain,local", [
    ("localhost", True), ("localhost:5000", True), ("127.0.0.1:5000", True), ("127.8.9.1", True),
    ("[::1]:5000", True), ("example.com", False), ("10.0.0.1:5000", False), ("localhost.example", False),
])
def test_localhost_is_plain_http(domain, local):
    assert is_localhost(domain) is local
