"""The informer's in-memory cache: objects by "namespace/name" key, plus indexes.

client-go's Indexer: `get(key)`, `list()`, and `by_index(name, value)` over index
functions that map an object to the values it is found under (pods by spec.nodeName,
by owner uid, ...). The "namespace" index always exists.

The objects are the informer's own and are shared with every reader: treat them as
read-only, and deep-copy (tinykube.util.jsonutil.deep_copy) before changing one to
write it back. Reads are consistent between awaits: the informer changes the store
and the indexes together, without awaiting in between.
"""

from __future__ import annotations

from typing import Callable, Iterable

IndexFunc = Callable[[dict], Iterable[str]]
NAMESPACE_INDEX = "namespace"


def object_key(obj: dict) -> str:
    """client-go's MetaNamespaceKeyFunc: "namespace/name", or "name" if cluster-scoped."""
    md = obj.get("metadata") or {}
    namespace = md.get("namespace")
    return f"{namespace}/{md.get('name', '')}" if namespace else md.get("name", "")


def split_key(key: str) -> tuple[str, str]:
    """"ns/name" -> ("ns", "name"); "name" -> ("", "name")."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


def namespace_index(obj: dict) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


def node_name_index(obj: dict) -> list[str]:
    """Pods by the node they are bound to (spec.nodeName); unbound pods under ""."""
    return [(obj.get("spec") or {}).get("nodeName") or ""]


def owner_uid_index(obj: dict) -> list[str]:
    """Objects by the uid of each owner (metadata.ownerReferences[].uid)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return [ref["uid"] for ref in refs if ref.get("uid")]


class Store:
    def __init__(self, indexers: dict[str, IndexFunc] | None = None):
        self._items: dict[str, dict] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index, **(indexers or {})}
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}

    # --- reads ---------------------------------------------------------------------------

    def get(self, key: str) -> dict | None:
        return self._items.get(key)

    def get_by_name(self, namespace: str, name: str) -> dict | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> list[dict]:
        return list(self._items.values())

    def keys(self) -> list[str]:
        return list(self._items)

    def by_index(self, index_name: str, value: str) -> list[dict]:
        return [self._items[key] for key in self.index_keys(index_name, value)]

    def index_keys(self, index_name: str, value: str) -> list[str]:
        if index_name not in self._indices:
            raise KeyError(f"no index named {index_name!r}")
        return sorted(self._indices[index_name].get(value, ()))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    # --- writes (the informer's) ----------------------------------------------------------

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        self._indexers[name] = func
        index = self._indices[name] = {}
        for key, obj in self._items.items():
            for value in func(obj):
                index.setdefault(value, set()).add(key)

    def put(self, obj: dict) -> dict | None:
        """Insert or replace obj under its key; the object it replaced, if any."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def remove(self, key: str) -> dict | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _index(self, key: str, obj: dict) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: dict) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
