"""Pulls from a real docker-registry on 127.0.0.1: tags, digests, platforms, auth, errors,
pull policies; the registry's own access log witnesses what was (not) downloaded."""

from __future__ import annotations

import os
import glob

import pytest

from tinykube.agent.images import (ErrImageNeverPull, ErrImagePull, ImageManager, ImageNotFound,
                                   ImagePullBackOff, ImageService, ImageUnauthorized)
from tinykube.agent.images.manifest import Platform

from .conftest import dockerconfig_secret


def read(layers: list[str], path: str) -> str:
    """A file as the top-most layer that has it shows it."""
    for layer in reversed(layers):
        if os.path.lexists(os.path.join(layer, path)):
            with open(os.path.join(layer, path)) as f:
                return f.read()
    raise FileNotFoundError(path)


async def test_pull_by_tag_then_unchanged_tag_downloads_nothing(registry, images):
    ref = f"{registry.host}/library/busybox:1.36"
    first = await images.pull(ref)
    layers = await images.rootfs_layers(ref)
    assert os.access(os.path.join(layers[0], "bin/busybox"), os.X_OK)
    assert os.readlink(os.path.join(layers[0], "bin/sh")) == "busybox"
    assert images.image_config(ref)["Cmd"] == ["sh"]
    blob_files = glob.glob(os.path.join(images.root, "blobs/sha256/*"))
    mtimes = {p: os.stat(p).st_mtime_ns for p in blob_files}
    served_before = len(registry.requests())

    second = await images.pull(ref)

    assert second.unchanged and not first.unchanged
    assert second.stats.blobs_fetched == [] and second.stats.requests == [
        f"HEAD http://{registry.host}/v2/library/busybox/manifests/1.36"]
    served = registry.requests()[served_before:]
    assert [(m, p) for m, p, _ in served] == [("HEAD", "/v2/library/busybox/manifests/1.36")]
    assert {p: os.stat(p).st_mtime_ns for p in blob_files} == mtimes
    assert second.record == first.record


async def test_pull_by_digest_then_no_request_at_all(registry, images, tmp_path):
    digest = (await images.pull(f"{registry.host}/library/busybox:1.36")).record.target
    pinned = f"{registry.host}/library/busybox@{digest}"
    assert images.is_present(pinned)  # the repo digest of the tag we pulled

    fresh = ImageService(str(tmp_path / "other"))
    try:
        result = await fresh.pull(pinned)
        assert result.record.ref == pinned and result.record.target == digest
        assert read(await fresh.rootfs_layers(pinned), "etc/passwd").startswith("root:")
        served_before = len(registry.requests())
        again = await fresh.pull(pinned)
        assert again.unchanged and again.stats.requests == []
        assert len(registry.requests()) == served_before
    finally:
        await fresh.close()


@pytest.mark.parametrize("platform,marker", [
    (Platform("linux", "amd64"), "amd64"),
    (Platform("linux", "arm64", "v8"), "arm64"),
    (Platform("linux", "arm", "v7"), "armv7"),
])
async def test_index_resolves_to_the_node_platform(registry, tmp_path, platform, marker):
    service = ImageService(str(tmp_path / "data"), platform=platform)
    try:
        ref = f"{registry.host}/library/multi:1"
        result = await service.pull(ref)
        assert result.record.target != result.record.manifest  # an index, then a manifest
        assert read(await service.rootfs_layers(ref), "etc/marker") == f"{marker}\n"
        # only our platform's layers were downloaded: base + our marker
        assert len([d for d in result.stats.blobs_fetched]) == 3  # config + 2 layers
    finally:
        await service.close()


async def test_docker_schema2_manifest_list(registry, tmp_path):
    service = ImageService(str(tmp_path / "data"), platform=Platform("linux", "arm64"))
    try:
        ref = f"{registry.host}/library/multi-docker:1"
        record = (await service.pull(ref)).record
        assert record.media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
        manifest = service.store.read_blob(record.manifest)
        assert b"application/vnd.docker.distribution.manifest.v2+json" in manifest
        assert read(await service.rootfs_layers(ref), "etc/marker") == "arm64\n"
    finally:
        await service.close()


async def test_index_without_the_node_platform(registry, tmp_path):
    service = ImageService(str(tmp_path / "data"), platform=Platform("linux", "s390x"))
    try:
        with pytest.raises(ImageNotFound) as err:
            await service.pull(f"{registry.host}/library/multi:1")
        assert str(err.value) == (f'failed to pull and unpack image "{registry.host}/library/multi:1": '
                                  "no match for platform linux/s390x in manifest: not found")
    finally:
        await service.close()


async def test_missing_image_is_err_image_pull_then_back_off(registry, images):
    events = []
    manager = ImageManager(images, clock=lambda: 1000.0)
    ref = f"{registry.host}/library/nope:1"
    with pytest.raises(ErrImagePull) as err:
        await manager.ensure_image(ref, pod_uid="u1", record_event=lambda *e: events.append(e))
    assert err.value.reason == "ErrImagePull"
    assert str(err.value) == (f'failed to pull and unpack image "{ref}": failed to resolve '
                              f'reference "{ref}": {ref}: not found')
    with pytest.raises(ImagePullBackOff) as backoff:
        await manager.ensure_image(ref, pod_uid="u1", record_event=lambda *e: events.append(e))
    assert backoff.value.reason == "ImagePullBackOff"
    assert [e[1] for e in events] == ["Pulling", "Failed", "BackOff"]
    assert events[1][2] == f'Failed to pull image "{ref}": {err.value}'
    assert events[2][2] == f'Back-off pulling image "{ref}"'


async def test_never_and_absent_is_err_image_never_pull(registry, images):
    served_before = len(registry.requests())
    ref = f"{registry.host}/library/busybox:1.36"
    with pytest.raises(ErrImageNeverPull) as err:
        await ImageManager(images).ensure_image(ref, pod_uid="u", policy="Never")
    assert err.value.reason == "ErrImageNeverPull"
    assert str(err.value) == f'Container image "{ref}" is not present with pull policy of Never'
    assert len(registry.requests()) == served_before


async def test_policies_when_present(registry, images):
    ref = f"{registry.host}/library/busybox:1.36"
    manager = ImageManager(images)
    events = []
    record = await manager.ensure_image(ref, pod_uid="u", policy="IfNotPresent",
                                        record_event=lambda *e: events.append(e))
    assert events[-1][1] == "Pulled" and events[-1][2].startswith(f'Successfully pulled image "{ref}" in ')
    served_before = len(registry.requests())
    for policy in ("IfNotPresent", "Never"):
        assert await manager.ensure_image(ref, pod_uid="u", policy=policy,
                                          record_event=lambda *e: events.append(e)) == record
    assert events[-1] == ("Normal", "Pulled", f'Container image "{ref}" already present on machine')
    assert len(registry.requests()) == served_before  # neither asked the registry
    await manager.ensure_image(ref, pod_uid="u", policy="Always")
    assert [m for m, _, _ in registry.requests()[served_before:]] == ["HEAD"]


async def test_basic_auth_with_an_image_pull_secret(basic_registry, images):
    ref = f"{basic_registry.host}/private/busybox:1.36"
    manager = ImageManager(images)
    with pytest.raises(ImageUnauthorized) as err:
        await manager.ensure_image(ref, pod_uid="anonymous")
    assert "401 Unauthorized" in str(err.value) and err.value.reason == "ErrImagePull"
    wrong = dockerconfig_secret(basic_registry.host, "puller", "wrong")
    with pytest.raises(ImageUnauthorized):
        await manager.ensure_image(ref, pod_uid="wrong", pull_secrets=[wrong])

    secret = dockerconfig_secret(basic_registry.host, "puller", "s3cret-pass")
    record = await manager.ensure_image(ref, pod_uid="good", pull_secrets=[wrong, secret])
    assert read(await images.rootfs_layers(ref), "etc/group").startswith("root:")
    assert record.ref == ref


async def test_bearer_token_auth_with_an_image_pull_secret(token_registry, images):
    ref = f"{token_registry.host}/private/busybox:1.36"
    manager = ImageManager(images)
    with pytest.raises(ImageUnauthorized):
        await manager.ensure_image(ref, pod_uid="anonymous")
    secret = dockerconfig_secret(f"http://{token_registry.host}", "puller", "s3cret-pass")
    issued_before = len(token_registry.tokens.issued)
    await manager.ensure_image(ref, pod_uid="good", pull_secrets=[secret])
    assert images.is_present(ref)
    # one token for the whole pull, scoped to the repository
    assert token_registry.tokens.issued[issued_before:] == [
        ("puller", "repository:private/busybox:pull")]
    result = await images.pull(ref, credentials=_creds("puller", "s3cret-pass"))
    assert result.unchanged
    assert len(token_registry.tokens.issued) == issued_before + 1  # the token was reused


async def test_corrupted_blob_is_refused_and_never_lands(registry, images, layout):
    ref = f"{registry.host}/library/fragile:1"
    built = layout["images"]["fragile:1"]
    marker_digest = [d for d in built.blobs if d not in layout["images"]["busybox:1.36"].blobs
                     and d != built.desc["digest"]]
    storage = os.path.join(registry.workdir, "storage/docker/registry/v2/blobs/sha256")
    for d in marker_digest:  # flip bytes in the registry's copy: it serves what it stores
        path = os.path.join(storage, d[7:9], d[7:], "data")
        data = bytearray(open(path, "rb").read())
        data[len(data) // 2] ^= 0xFF
        open(path, "wb").write(bytes(data))
    with pytest.raises(ErrImagePull) as err:
        await images.pull(ref)
    assert "unexpected commit digest" in str(err.value)
    assert not any(images.store.has_blob(d) for d in marker_digest)
    assert os.listdir(os.path.join(images.root, "ingest")) == []
    assert images.get_image(ref) is None


def _creds(user, password):
    from tinykube.agent.images.auth import Credentials

    return [Credentials(user, password)]


async def test_concurrent_pulls_of_one_image_share_one_download(registry, images):
    import asyncio

    ref = f"{registry.host}/library/busybox:1.36"
    before = len(registry.blob_gets())
    results = await asyncio.gather(*(images.pull(ref) for _ in range(5)))
    assert len({r.record for r in results}) == 1
    assert len(registry.blob_gets()) - before == 2  # config + layer, once


def test_cli_pull(registry, tmp_path, capsys):
    from tinykube.agent.images.cli import main

    ref = f"{registry.host}/library/busybox:1.36"
    data = str(tmp_path / "data")
    assert main(["pull", ref, "--data-dir", data]) == 0
    assert main(["pull", ref, "--data-dir", data]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"pulled {ref} (sha256:") and out[1] == f"Image is up to date for {ref}"
