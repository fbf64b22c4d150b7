"""Pod volumes and their sources (ValidateVolumes / validateVolumeSource).

`validate_volumes` returns the volumes that passed (name -> source), so that mounts
naming a broken volume are reported "Not found", as Kubernetes does.  The sources
tinykube runs (emptyDir, hostPath, secret, configMap, downwardAPI, projected,
persistentVolumeClaim, nfs, csi, ephemeral, image, gitRepo) are checked in depth; the
cloud/legacy ones are only counted.  Paths with upstream typos are kept on purpose.
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from . import quantity
from .downward import downward_api_file
from .fields import (
    as_dict, as_list, as_str, at, child, duplicate, forbidden, invalid, invalid_each, is_int,
    not_supported, required, too_long,
)
from .names import dns1123_label_errors, dns1123_subdomain_errors, name_is_dns_subdomain
from .paths import file_mode_causes, local_descending_path, local_non_reserved_path, no_backsteps

# (JSON key, path used in "more than 1 volume type"), in Kubernetes' checking order.
SOURCES = (
    ("emptyDir", "emptyDir"), ("hostPath", "hostPath"), ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"), ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"), ("nfs", "nfs"), ("iscsi", "iscsi"), ("glusterfs", "glusterfs"),
    ("flocker", "flocker"), ("persistentVolumeClaim", "persistentVolumeClaim"), ("rbd", "rbd"),
    ("cinder", "cinder"), ("cephfs", "cephFS"), ("quobyte", "quobyte"), ("downwardAPI", "downwarAPI"),
    ("fc", "fc"), ("flexVolume", "flexVolume"), ("configMap", "configMap"), ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"), ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"), ("azureDisk", "azureDisk"), ("storageos", "storageos"),
    ("projected", "projected"), ("scaleIO", "scaleIO"), ("csi", "csi"), ("ephemeral", "ephemeral"),
    ("image", "image"),
)
HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File",
                   "FileOrCreate", "Socket")


def validate_volumes(volumes, path: str, *, pod_name: str = "", is_pod: bool = False) -> tuple[dict, list[Cause]]:
    valid: dict = {}
    causes: list[Cause] = []
    for i, volume in enumerate(map(as_dict, as_list(volumes))):
        errs = _one_volume(volume, at(path, i), valid, pod_name, is_pod)
        if errs:
            causes += errs
        else:
            valid[as_str(volume.get("name"))] = volume
    return valid, causes


def _one_volume(volume: dict, path: str, seen: dict, pod_name: str, is_pod: bool) -> list[Cause]:
    name = as_str(volume.get("name"))
    causes = validate_volume_source(volume, path, name=name, pod_name=pod_name, is_pod=is_pod)
    name_path = child(path, "name")
    if not name:
        causes.append(required(name_path))
    else:
        causes += invalid_each(name_path, name, dns1123_label_errors(name))
    if name in seen:
        causes.append(duplicate(name_path, name))
    return causes


def validate_volume_source(source: dict, path: str, *, name: str = "", pod_name: str = "",
                           is_pod: bool = False) -> list[Cause]:
    causes: list[Cause] = []
    count = 0
    for json_key, shown in SOURCES:
        if source.get(json_key) is None:
            continue
        if count:
            causes.append(forbidden(child(path, shown), "may not specify more than 1 volume type"))
            continue
        count += 1
        causes += _source_causes(json_key, as_dict(source[json_key]), child(path, json_key), is_pod)
        if json_key == "ephemeral" and pod_name and name:
            causes += _ephemeral_claim_name(pod_name, name, path)
    if not count:
        causes.append(required(path, "must specify a volume type"))
    return causes


def _source_causes(kind: str, src: dict, path: str, is_pod: bool) -> list[Cause]:
    check = _CHECKS.get(kind)
    if kind == "image":
        return _image(src, path, is_pod)
    return check(src, path) if check else []


# --- individual sources --------------------------------------------------------------


def _empty_dir(src: dict, path: str) -> list[Cause]:
    limit = src.get("sizeLimit")
    try:
        negative = limit is not None and quantity.parse_quantity(limit) < 0
    except ValueError as err:
        return [invalid(child(path, "sizeLimit"), str(limit), str(err))]
    return [forbidden(child(path, "sizeLimit"), "SizeLimit field must be a valid resource quantity")] if negative else []


def _host_path(src: dict, path: str) -> list[Cause]:
    host = as_str(src.get("path"))
    if not host:
        return [required(child(path, "path"))]
    causes = no_backsteps(host, child(path, "path"))
    kind = src.get("type")
    if kind is not None and kind not in HOST_PATH_TYPES:
        causes.append(not_supported(child(path, "type"), as_str(kind), HOST_PATH_TYPES))
    return causes


def _git_repo(src: dict, path: str) -> list[Cause]:
    causes = [] if as_str(src.get("repository")) else [required(child(path, "repository"))]
    return causes + local_descending_path(as_str(src.get("directory")), child(path, "directory"))


def _secret(src: dict, path: str) -> list[Cause]:
    causes = [] if as_str(src.get("secretName")) else [required(child(path, "secretName"))]
    return causes + file_mode_causes(src.get("defaultMode"), child(path, "defaultMode")) + _items(src, path)


def _config_map(src: dict, path: str) -> list[Cause]:
    causes = [] if as_str(src.get("name")) else [required(child(path, "name"))]
    return causes + file_mode_causes(src.get("defaultMode"), child(path, "defaultMode")) + _items(src, path)


def _items(src: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, item in enumerate(map(as_dict, as_list(src.get("items")))):
        causes += key_to_path(item, at(child(path, "items"), i))
    return causes


def key_to_path(item: dict, path: str) -> list[Cause]:
    causes = [] if as_str(item.get("key")) else [required(child(path, "key"))]
    if not as_str(item.get("path")):
        causes.append(required(child(path, "path")))
    causes += local_non_reserved_path(as_str(item.get("path")), child(path, "path"))
    return causes + file_mode_causes(item.get("mode"), child(path, "mode"))


def _pvc(src: dict, path: str) -> list[Cause]:
    return [] if as_str(src.get("claimName")) else [required(child(path, "claimName"))]


def _nfs(src: dict, path: str) -> list[Cause]:
    causes = [] if as_str(src.get("server")) else [required(child(path, "server"))]
    nfs_path = as_str(src.get("path"))
    if not nfs_path:
        causes.append(required(child(path, "path")))
    if not nfs_path.startswith("/"):
        causes.append(invalid(child(path, "path"), nfs_path, "must be an absolute path"))
    return causes


def _csi(src: dict, path: str) -> list[Cause]:
    causes = csi_driver_name_causes(as_str(src.get("driver")), child(path, "driver"))
    ref = src.get("nodePublishSecretRef")
    if ref is not None:
        ref_name = as_str(as_dict(ref).get("name"))
        if not ref_name:
            causes.append(required(child(path, "nodePublishSecretRef", "name")))
        causes += invalid_each(child(path, "name"), ref_name, name_is_dns_subdomain(ref_name) if ref_name else [])
    return causes


def csi_driver_name_causes(driver: str, path: str) -> list[Cause]:
    causes = [] if driver else [required(path)]
    if len(driver) > 63:
        causes.append(too_long(path, 63))
    return causes + invalid_each(path, driver, dns1123_subdomain_errors(driver.lower()))


def _ephemeral(src: dict, path: str) -> list[Cause]:
    if src.get("volumeClaimTemplate") is None:
        return [required(child(path, "volumeClaimTemplate"))]
    return []  # TODO: ValidatePersistentVolumeClaimTemplate (accessModes, storage request, ...).


def _ephemeral_claim_name(pod_name: str, volume_name: str, path: str) -> list[Cause]:
    claim = f"{pod_name}-{volume_name}"
    return [invalid(child(path, "name"), volume_name, f'PVC name "{claim}": {msg}')
            for msg in dns1123_subdomain_errors(claim)]


def _image(src: dict, path: str, is_pod: bool) -> list[Cause]:
    causes = [required(child(path, "reference"))] if is_pod and not as_str(src.get("reference")) else []
    return causes + pull_policy_causes(src.get("pullPolicy"), child(path, "pullPolicy"))


def pull_policy_causes(policy, path: str) -> list[Cause]:
    """Absent means "defaulted"; an explicit empty string is still Required."""
    if policy is None or policy in ("Always", "IfNotPresent", "Never"):
        return []
    if policy == "":
        return [required(path)]
    return [not_supported(path, as_str(policy), ("Always", "IfNotPresent", "Never"))]


def _downward_api(src: dict, path: str) -> list[Cause]:
    causes = file_mode_causes(src.get("defaultMode"), child(path, "defaultMode"))
    for item in map(as_dict, as_list(src.get("items"))):
        causes += downward_api_file(item, path)
    return causes



# --- projected -----------------------------------------------------------------------


def _projected(src: dict, path: str) -> list[Cause]:
    causes = file_mode_causes(src.get("defaultMode"), child(path, "defaultMode"))
    seen: set = set()
    for i, source in enumerate(map(as_dict, as_list(src.get("sources")))):
        causes += _projection(source, at(child(path, "sources"), i), path, seen)
    return causes


def _projection(source: dict, src_path: str, path: str, seen: set) -> list[Cause]:
    kinds = [k for k in ("secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle")
             if source.get(k) is not None]
    causes: list[Cause] = []
    for kind in kinds:
        causes += _PROJECTIONS[kind](as_dict(source[kind]), child(src_path, kind), path, seen)
    if len(kinds) > 1:
        causes.append(forbidden(src_path, "may not specify more than 1 volume type per source"))
    return causes


def _project_object(obj: dict, proj_path: str, path: str, seen: set) -> list[Cause]:
    causes = [] if as_str(obj.get("name")) else [required(child(proj_path, "name"))]
    for i, item in enumerate(map(as_dict, as_list(obj.get("items")))):
        causes += key_to_path(item, at(child(proj_path, "items"), i))
        causes += _unique_path(as_str(item.get("path")), path, as_str(obj.get("name")), seen)
    return causes


def _project_downward(obj: dict, proj_path: str, path: str, seen: set) -> list[Cause]:
    causes: list[Cause] = []
    for item in map(as_dict, as_list(obj.get("items"))):
        causes += downward_api_file(item, proj_path)
        causes += _unique_path(as_str(item.get("path")), path, as_str(item.get("path")), seen)
    return causes


def _unique_path(file_path: str, path: str, shown: str, seen: set) -> list[Cause]:
    if not file_path:
        return []
    if file_path in seen:
        return [invalid(path, shown, "conflicting duplicate paths")]
    seen.add(file_path)
    return []


def _project_token(obj: dict, proj_path: str, path: str, seen: set) -> list[Cause]:
    seconds = obj.get("expirationSeconds", 3600)
    causes = []
    if is_int(seconds) and seconds < 600:
        causes.append(invalid(child(proj_path, "expirationSeconds"), seconds,
                              "may not specify a duration less than 10 minutes"))
    if is_int(seconds) and seconds > 1 << 32:
        causes.append(invalid(child(proj_path, "expirationSeconds"), seconds,
                              "may not specify a duration larger than 2^32 seconds"))
    token_path = as_str(obj.get("path"))
    if not token_path:
        return causes + [required(child(path, "path"))]
    return causes + local_non_reserved_path(token_path, child(path, "path"))


def _project_bundle(obj: dict, proj_path: str, path: str, seen: set) -> list[Cause]:
    return []  # TODO: clusterTrustBundle name/signerName/labelSelector rules.


_PROJECTIONS = {"secret": _project_object, "configMap": _project_object, "downwardAPI": _project_downward,
                "serviceAccountToken": _project_token, "clusterTrustBundle": _project_bundle}


_CHECKS = {"emptyDir": _empty_dir, "hostPath": _host_path, "gitRepo": _git_repo, "secret": _secret,
           "configMap": _config_map, "persistentVolumeClaim": _pvc, "nfs": _nfs, "csi": _csi,
           "ephemeral": _ephemeral, "downwardAPI": _downward_api, "projected": _projected}
