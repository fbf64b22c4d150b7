"""Parse Kubernetes REST paths into what they address.

/api/v1/pods                                  list pods in all namespaces
/api/v1/namespaces/NS/pods[/NAME[/SUB]]       namespaced resources
/api/v1/nodes[/NAME[/SUB]]                    cluster-scoped resources
/api/v1/namespaces[/NAME[/SUB]]               the namespaces themselves
/apis/GROUP/VERSION/...                       the same shapes in a named group
/api/v1/watch/..., /apis/G/V/watch/...        the legacy watch form
"""

from __future__ import annotations

from dataclasses import dataclass

from tinykube.api import errors
from tinykube.api.registry import REGISTRY, ResourceType


@dataclass(frozen=True)
class Target:
    rt: ResourceType
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    legacy_watch: bool = False


def parse(path: str) -> Target | None:
    """The resource a path names, or None if it is not a resource path.

    Raises NotFound for a resource path naming an unknown resource.
    """
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    legacy_watch = rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    return _resolve(group, version, rest, legacy_watch, path)


def _resolve(group: str, version: str, rest: list[str], legacy_watch: bool, path: str) -> Target:
    namespace = ""
    # namespaces/NS/<plural>... addresses a namespaced resource; namespaces[/NAME[/SUB]] the
    # Namespace objects themselves.
    if rest[0] == "namespaces" and len(rest) >= 3 and not _namespace_subresource(rest):
        namespace, rest = rest[1], rest[2:]
    plural, name, sub = rest[0], _at(rest, 1), _at(rest, 2)
    if len(rest) > 3:
        raise errors.NotFound("the server could not find the requested resource")
    rt = REGISTRY.by_plural(group, version, plural)
    if rt is None:
        raise errors.NotFound("the server could not find the requested resource")
    if namespace and not rt.namespaced:
        raise errors.NotFound("the server could not find the requested resource")
    if sub and sub not in rt.subresources:
        raise errors.NotFound("the server could not find the requested resource")
    return Target(rt, namespace, name, sub, legacy_watch)


def _namespace_subresource(rest: list[str]) -> bool:
    """namespaces/NAME/status and namespaces/NAME/finalize address the Namespace itself."""
    namespaces = REGISTRY.by_plural("", "v1", "namespaces")
    return len(rest) == 3 and rest[2] in namespaces.subresources


def _at(items: list[str], i: int) -> str:
    return items[i] if len(items) > i else ""
