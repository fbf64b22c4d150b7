"""The content store: verified blob writes, the image index, leases."""

import os

import pytest

from tinykube.agent.images.errors import ContentError
from tinykube.agent.images.store import ContentStore, ImageRecord, check_digest, sha256_digest


@pytest.fixture
def store(tmp_path):
    return ContentStore(str(tmp_path / "images"))


def ingest_is_empty(store) -> bool:
    return os.listdir(os.path.join(store.root, "ingest")) == []


def test_blob_lands_only_when_its_digest_matches(store):
    digest = store.write_blob(b"hello")
    assert digest == sha256_digest(b"hello") and store.read_blob(digest) == b"hello"
    with pytest.raises(ContentError, match="unexpected commit digest"):
        store.write_blob(b"tampered", digest="sha256:" + "1" * 64)
    assert not store.has_blob("sha256:" + "1" * 64) and ingest_is_empty(store)


def test_size_is_checked_too(store):
    with pytest.raises(ContentError, match="unexpected commit size"):
        with store.writer(sha256_digest(b"abc"), size=4) as w:
            w.write(b"abc")
    assert store.blob_digests() == set() and ingest_is_empty(store)


def test_writer_without_digest_names_the_blob_by_its_content(store):
    with store.writer(None) as w:
        w.write(b"a")
        w.write(b"b")
    assert w.digest == sha256_digest(b"ab") and store.has_blob(w.digest)


def test_a_failed_write_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        with store.writer(sha256_digest(b"x")) as w:
            w.write(b"x")
            raise RuntimeError("connection lost")
    assert store.blob_digests() == set() and ingest_is_empty(store)


@pytest.mark.parametrize("digest", ["sha512:" + "a" * 128, "sha256:../../etc/passwd", "sha256:ABC", ""])
def test_only_sha256_digests(digest):
    with pytest.raises(ContentError):
        check_digest(digest)


def record(ref: str, n: int = 1) -> ImageRecord:
    d = f"sha256:{n:064x}"
    return ImageRecord(ref, d, "application/vnd.oci.image.manifest.v1+json", d, d, 10, 1.0)


def test_index_put_get_delete(store):
    store.put(record("docker.io/library/a:1"))
    store.put(record("docker.io/library/b:1", 2))
    assert store.get("docker.io/library/a:1") == record("docker.io/library/a:1")
    assert sorted(store.images()) == ["docker.io/library/a:1", "docker.io/library/b:1"]
    assert store.delete(["docker.io/library/a:1", "nope"]) == ["docker.io/library/a:1"]
    assert list(store.images()) == ["docker.io/library/b:1"]
    assert ContentStore(store.root).images() == store.images()  # it is on disk


def test_leases(store):
    store.add_lease("ctr-1", record("lease:ctr-1"))
    open(os.path.join(store.root, "leases", ".tmp-partial"), "w").write("{")
    assert list(store.leases()) == ["ctr-1"]
    store.remove_lease("ctr-1")
    store.remove_lease("ctr-1")  # idempotent
    assert store.leases() == {}
    with pytest.raises(ValueError):
        store.add_lease("../escape", record("x"))
