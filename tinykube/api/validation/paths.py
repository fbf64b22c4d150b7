"""Path and file-mode rules shared by volumes, mounts and profiles.

Relative paths may not be absolute or contain a ".." element; "non-reserved" ones may
not start with ".." either.  File modes are 0..0777.
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from .fields import invalid, is_int

FILE_MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"


def file_mode_causes(mode, path: str) -> list[Cause]:
    if is_int(mode) and not 0 <= mode <= 0o777:
        return [invalid(path, mode, FILE_MODE_MSG)]
    return []


def no_backsteps(target: str, path: str) -> list[Cause]:
    if ".." in target.split("/"):
        return [invalid(path, target, "must not contain '..'")]
    return []


def local_descending_path(target: str, path: str) -> list[Cause]:
    causes = [invalid(path, target, "must be a relative path")] if target.startswith("/") else []
    return causes + no_backsteps(target, path)


def local_non_reserved_path(target: str, path: str) -> list[Cause]:
    causes = local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        causes.append(invalid(path, target, "must not start with '..'"))
    return causes
