"""JSON in and out with orjson (fast, strict), in one place."""

from __future__ import annotations

import orjson


def dumps(obj) -> bytes:
    return orjson.dumps(obj)


def loads(data: bytes | str):
    return orjson.loads(data)


def deep_copy(obj):
    """A deep copy of plain JSON data (dicts, lists, scalars), faster than copy.deepcopy."""
    return orjson.loads(orjson.dumps(obj))
