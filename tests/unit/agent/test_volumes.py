"""Volume contents (pure) and the kubelet's atomic writer, on a real directory."""

import base64
import os
import socket

import pytest

from tinykube.agent.volumes import AtomicWriter, File, VolumeError, check_host_path, volume_files

POD = {"metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"}},
       "spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "32Mi"}}}]}}
CMS = {"cfg": {"metadata": {"name": "cfg"}, "data": {"a.conf": "A", "b.conf": "B"},
               "binaryData": {"blob": base64.b64encode(b"\x00\x01").decode()}}}
SECRETS = {"s": {"metadata": {"name": "s"}, "data": {"token": base64.b64encode(b"t0k").decode()}}}


def files(volume):
    return volume_files(volume, POD, configmaps=CMS, secrets=SECRETS)


def test_config_map_all_keys_default_mode():
    out = files({"configMap": {"name": "cfg"}})
    assert out == {"a.conf": File(b"A", 0o644), "b.conf": File(b"B", 0o644), "blob": File(b"\x00\x01", 0o644)}


def test_items_paths_and_modes():
    out = files({"configMap": {"name": "cfg", "defaultMode": 0o600,
                               "items": [{"key": "a.conf", "path": "conf/a"}, {"key": "b.conf", "path": "b", "mode": 0o400}]}})
    assert out == {"conf/a": File(b"A", 0o600), "b": File(b"B", 0o400)}


def test_secret_is_decoded():
    assert files({"secret": {"secretName": "s"}}) == {"token": File(b"t0k", 0o644)}


def test_missing_objects_and_keys():
    with pytest.raises(VolumeError, match='configmap "nope" not found'):
        files({"configMap": {"name": "nope"}})
    assert files({"secret": {"secretName": "nope", "optional": True}}) == {}
    with pytest.raises(VolumeError, match="non-existent config key: zzz"):
        files({"configMap": {"name": "cfg", "items": [{"key": "zzz", "path": "z"}]}})


def test_downward_api_and_projected():
    out = files({"downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Mi"}}]}})
    assert out == {"labels": File(b'a="b"', 0o644), "mem": File(b"32", 0o644)}
    projected = files({"projected": {"sources": [{"configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "a"}]}},
                                                  {"secret": {"name": "s"}}]}})
    assert projected == {"a": File(b"A", 0o644), "token": File(b"t0k", 0o644)}
    with pytest.raises(VolumeError, match="not supported by tinykube yet"):
        files({"projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}})


def test_other_volume_kinds_have_no_files():
    assert files({"emptyDir": {}}) is None


def test_atomic_writer_swaps_data_and_prunes(tmp_path):
    target = str(tmp_path / "vol")
    writer = AtomicWriter(target)
    assert writer.write({"a": File(b"1", 0o644), "dir/b": File(b"2", 0o600)})
    assert open(os.path.join(target, "a")).read() == "1"
    assert open(os.path.join(target, "dir/b")).read() == "2"
    assert os.readlink(os.path.join(target, "a")) == "..data/a"
    first = os.readlink(os.path.join(target, "..data"))
    assert not writer.write({"a": File(b"1", 0o644), "dir/b": File(b"2", 0o600)})  # unchanged
    assert writer.write({"a": File(b"updated", 0o644)})
    assert open(os.path.join(target, "a")).read() == "updated"
    assert not os.path.exists(os.path.join(target, "dir"))
    assert os.readlink(os.path.join(target, "..data")) != first
    assert not os.path.exists(os.path.join(target, first))  # the old generation is gone


def test_atomic_writer_refuses_escaping_paths(tmp_path):
    with pytest.raises(VolumeError):
        AtomicWriter(str(tmp_path / "v")).write({"../escape": File(b"x", 0o644)})


def test_host_path_type_checks(tmp_path):
    made = tmp_path / "made"
    check_host_path(str(made), "DirectoryOrCreate")
    assert made.is_dir()
    check_host_path(str(tmp_path / "f"), "FileOrCreate")
    assert (tmp_path / "f").is_file()
    with pytest.raises(VolumeError, match="is not a directory"):
        check_host_path(str(tmp_path / "f"), "Directory")
    with pytest.raises(VolumeError, match="is not a socket file"):
        check_host_path(str(tmp_path / "missing"), "Socket")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s.sock"))
    check_host_path(str(tmp_path / "s.sock"), "Socket")
    sock.close()
    check_host_path(str(tmp_path / "anything"), "")  # no type: no check
