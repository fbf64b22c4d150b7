"""Which user a container runs as: the kubelet's and containerd's rules (pure functions).

The kubelet takes runAsUser/runAsGroup (container over pod), else the user part of the
image's USER (its group part is dropped: Kubernetes passes the runtime only a uid or a
user name, a long-standing upstream behaviour kept here), and refuses runAsNonRoot when
that is uid 0 or a name it cannot check. containerd then resolves names and the primary
group from the image's /etc/passwd and /etc/group (`passwd`/`group` text, read from the
rootfs by the caller), and sets the supplementary groups: the primary gid, the groups that
list the user by name, then the pod's supplementalGroups and fsGroup, sorted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import CreateContainerConfigError, CreateContainerError


@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()

    def to_oci(self) -> dict:
        out = {"uid": self.uid, "gid": self.gid}
        if self.additional_gids:
            out["additionalGids"] = list(self.additional_gids)
        return out


def effective(pod: Mapping, container: Mapping, key: str):
    """A securityContext field, the container's over the pod's."""
    csc = container.get("securityContext") or {}
    if csc.get(key) is not None:
        return csc[key]
    return ((pod.get("spec") or {}).get("securityContext") or {}).get(key)


def image_user(image_user_str: str) -> tuple[int | None, str]:
    """(uid, "") or (None, name) from an image USER; no USER means root."""
    name = image_user_str.split(":", 1)[0]
    if not name:
        return 0, ""
    return (int(name), "") if name.isdigit() else (None, name)


def verify_run_as_non_root(pod: Mapping, container: Mapping, uid: int | None, username: str) -> None:
    """The kubelet's verifyRunAsNonRoot; CreateContainerConfigError on a violation."""
    if not effective(pod, container, "runAsNonRoot"):
        return
    where = f'(pod: "{_pod_ref(pod)}", container: {container.get("name", "")})'
    run_as = effective(pod, container, "runAsUser")
    if run_as is not None:
        if run_as == 0:
            raise CreateContainerConfigError(f"container's runAsUser breaks non-root policy {where}")
        return
    if uid == 0:
        raise CreateContainerConfigError(f"container has runAsNonRoot and image will run as root {where}")
    if uid is None and username:
        raise CreateContainerConfigError(
            f"container has runAsNonRoot and image has non-numeric user ({username}), "
            f"cannot verify user is non-root {where}")


def _pod_ref(pod: Mapping) -> str:
    meta = pod.get("metadata") or {}
    return f'{meta.get("name", "")}_{meta.get("namespace", "")}({meta.get("uid", "")})'


def resolve_user(pod: Mapping, container: Mapping, image_user_str: str, *,
                 passwd: str | None = None, group: str | None = None) -> User:
    """The OCI process.user for a container."""
    image_uid, image_name = image_user(image_user_str)
    run_as = effective(pod, container, "runAsUser")
    uid, name = (run_as, "") if run_as is not None else (image_uid, image_name)
    verify_run_as_non_root(pod, container, uid, name)
    users = parse_passwd(passwd or "")
    uid, gid, name = _primary(uid, name, users)
    run_as_group = effective(pod, container, "runAsGroup")
    gid = run_as_group if run_as_group is not None else gid
    return User(uid, gid, _additional_gids(pod, gid, name, group))


def _primary(uid: int | None, name: str, users: list[tuple[str, int, int]]) -> tuple[int, int, str]:
    """containerd's WithUserID / WithUsername: (uid, gid, user name) from /etc/passwd."""
    for entry_name, entry_uid, entry_gid in users:
        if (uid is not None and entry_uid == uid) or (uid is None and entry_name == name):
            return entry_uid, entry_gid, entry_name
    if uid is None:
        raise CreateContainerError(f"unable to find user {name}: no matching entries in passwd file")
    return uid, 0, ""


def _additional_gids(pod: Mapping, gid: int, name: str, group: str | None) -> tuple[int, ...]:
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    gids = {gid}
    if name and psc.get("supplementalGroupsPolicy") != "Strict":
        gids.update(g for g_name, g, members in parse_group(group or "")
                    if name in members and g_name != name)
    gids.update(int(g) for g in psc.get("supplementalGroups") or ())
    if psc.get("fsGroup") is not None:
        gids.add(int(psc["fsGroup"]))
    return tuple(sorted(gids))


def parse_passwd(text: str) -> list[tuple[str, int, int]]:
    """(name, uid, gid) of each well-formed /etc/passwd line."""
    out = []
    for fields in _colon_lines(text, 4):
        if fields[2].isdigit() and fields[3].isdigit():
            out.append((fields[0], int(fields[2]), int(fields[3])))
    return out


def parse_group(text: str) -> list[tuple[str, int, tuple[str, ...]]]:
    """(name, gid, members) of each well-formed /etc/group line."""
    out = []
    for fields in _colon_lines(text, 3):
        members = tuple(m for m in (fields[3] if len(fields) > 3 else "").split(",") if m)
        if fields[2].isdigit():
            out.append((fields[0], int(fields[2]), members))
    return out


def _colon_lines(text: str, minimum: int):
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            fields = line.split(":")
            if len(fields) >= minimum:
                yield fields
