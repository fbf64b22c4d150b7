"""Server-side apply and managedFields, as kube-apiserver's field manager does them.

kube-apiserver stacks small managers around structured-merge-diff's Updater; we keep
the same steps, in the same order, as plain functions:

* version check      – the applied object must be of the endpoint's kind;
* last-applied       – for manager "kubectl": conflicts with what `kubectl apply`
                       (client-side) recorded in the last-applied annotation are
                       forced, and the annotation is kept in sync;
* skip-non-applied   – an object without managedFields gets a "before-first-apply"
                       manager for its existing fields before the first apply; updates
                       of such an object are not tracked at all (only creates are);
* cap managers       – at most 10 Update entries; the oldest merge into
                       "ancient-changes";
* manager info       – a manager's identity is {manager, operation, apiVersion for
                       updates, subresource};
* managedFields time – set when a manager's fields changed;
* strip meta         – apiVersion, kind, name, namespace, uid, ... are never owned;
* structured merge   – merge, prune what the applier dropped, move ownership, and
                       report conflicts.

Fields a strategy resets (status on the main resource, spec on /status) are never
recorded for the writer, and apply never takes status from its configuration.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass

import orjson

from tinykube.api import errors
from tinykube.api.patch import gojson, meta, typed
from tinykube.api.patch.fieldpath import FieldSet, path_string
from tinykube.api.patch.typed import ABSENT

APPLY, UPDATE = "Apply", "Update"
FIELDS_V1 = "FieldsV1"
MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"
BEFORE_FIRST_APPLY = "before-first-apply"
CURRENT_OPERATION = "current-operation"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CONFLICT_CAUSE = "FieldManagerConflict"

# Paths no manager ever owns (stripMetaManager).
STRIPPED = FieldSet.of(
    (("f", "apiVersion"),), (("f", "kind"),), (("f", "metadata"),),
    *((("f", "metadata"), ("f", name)) for name in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
        "managedFields", "resourceVersion")))


@dataclass
class Owned:
    """One manager's fields (fieldpath.VersionedSet)."""

    fields: FieldSet
    api_version: str
    applied: bool


class Managed:
    """Every manager's fields and the time each last changed, keyed by manager identity."""

    def __init__(self, owners: dict[str, Owned] | None = None, times: dict[str, str | None] | None = None):
        self.owners: dict[str, Owned] = owners or {}
        self.times: dict[str, str | None] = times or {}

    def copy(self) -> "Managed":
        return Managed(dict(self.owners), dict(self.times))


class Conflicts(Exception):
    """Fields other managers own that an apply would change: [(manager id, path)]."""

    def __init__(self, conflicts: list[tuple[str, tuple]]):
        super().__init__(conflicts)
        self.conflicts = conflicts


# --- entry points -----------------------------------------------------------------------


def server_side_apply(live: dict | None, applied: dict, *, manager: str, force: bool, api_version: str,
                      now: str, group: str, version: str, kind: str) -> dict:
    """The object after `manager` applies `applied` (live None: apply creates it).

    Returns a new object with metadata.managedFields updated. Raises errors.Conflict
    (with Kubernetes' message and FieldManagerConflict causes) when another manager owns
    a field the configuration changes and force is false; errors.BadRequest for an
    object of the wrong kind or one that sets managedFields; a 500 for a configuration
    that does not fit the kind's schema.
    """
    _check_kind(applied, group, version, kind)
    t = meta.kind_type(group, version, kind)
    live_obj = _without_managed_fields(live or {})
    try:
        managed = decode_managed_fields(_managed_fields_of(live))
    except ValueError as exc:
        raise gojson.UnknownError(f"failed to decode managed fields: {exc}") from None
    ctx = _Context(t, api_version, now, _ignored(group, kind, ""), _group_version(group, version))
    try:
        obj, managed = _apply_for_manager(ctx, live_obj, applied, managed, manager, force)
    except Conflicts as exc:
        raise conflict_error(exc.conflicts) from None
    if manager == "kubectl" and _has_last_applied(obj):
        _set_last_applied(obj, applied)
    if ("status",) in ctx.ignored:
        _keep_live_status(obj, live)
    _set_managed_fields(obj, encode_managed_fields(managed))
    return obj


def update_managed_fields(old: dict | None, new: dict, *, manager: str, operation: str, api_version: str,
                          now: str, subresource: str = "", group: str, version: str, kind: str) -> None:
    """Record in new.metadata.managedFields the fields `manager` changed from `old` to `new`.

    Called after every non-apply write (create: old None). Mutates `new`. Never raises:
    like kube-apiserver, a failure keeps the live object's managedFields.
    """
    try:
        managed = _live_or_new_managed(old, new, subresource != "")
        _strip_managed_fields(new)
        if not managed.owners and old is not None and (old.get("metadata") or {}).get("uid"):
            return  # an existing object nobody tracks stays untracked until it is applied
        ctx = _Context(meta.kind_type(group, version, kind), api_version, now,
                       _ignored(group, kind, subresource), _group_version(group, version))
        identity = manager_identity(manager, operation or UPDATE, api_version, subresource)
        _track_update(ctx, _shallow_without_managed_fields(old or {}), new, managed, identity)
        _cap_update_managers(managed)
        _set_managed_fields(new, encode_managed_fields(managed))
    except Exception:  # noqa: BLE001 - UpdateNoErrors: keep the live managedFields
        _set_managed_fields(new, copy.deepcopy(_managed_fields_of(old)) or None)


# --- the manager stack --------------------------------------------------------------------


@dataclass
class _Context:
    t: meta.TypeNode
    api_version: str
    now: str
    ignored: tuple[tuple[str, ...], ...]
    group_version: str

    @property
    def ignored_set(self) -> FieldSet:
        return FieldSet.of(*(tuple(("f", name) for name in path) for path in self.ignored))


def _apply_for_manager(ctx: _Context, live: dict, applied: dict, managed: Managed, manager: str,
                       force: bool) -> tuple[dict, Managed]:
    """lastAppliedManager: kubectl may take over what its client-side apply recorded."""
    try:
        return _apply(ctx, live, applied, managed.copy(), manager, force)
    except Conflicts as exc:
        if manager != "kubectl":
            raise
        allowed = _allowed_from_last_applied(ctx, live)
        if allowed is None:
            raise
        remaining = [(m, p) for m, p in exc.conflicts if not allowed.has(p)]
        if remaining:
            raise Conflicts(remaining) from None
        return _apply(ctx, live, applied, managed.copy(), manager, True)


def _apply(ctx: _Context, live: dict, applied: dict, managed: Managed, manager: str,
           force: bool) -> tuple[dict, Managed]:
    if not managed.owners:
        # skipNonAppliedManager: whoever wrote the object so far owns what is there.
        before = manager_identity(BEFORE_FIRST_APPLY, UPDATE, ctx.api_version, "")
        _track_update(ctx, {}, live, managed, before)
    identity = manager_identity(manager, APPLY, "", "")
    metadata = applied.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("managedFields"), list):
        raise errors.BadRequest("metadata.managedFields must be nil")
    problems = typed.validate(applied, ctx.t)
    if problems:
        raise gojson.UnknownError(f"failed to create typed patch object ({_describe(applied)}): "
                                  + _join_errors(problems))
    new_obj = _structured_apply(ctx, live, applied, managed, identity, force)
    _strip_meta(managed, identity)
    if new_obj is None:
        return copy.deepcopy(live), managed  # a no-op apply leaves the times alone
    managed.times[identity] = ctx.now
    return _drop_config_nulls(new_obj, live), managed


def _structured_apply(ctx: _Context, live: dict, config: dict, managed: Managed, identity: str,
                      force: bool) -> dict | None:
    """Updater.Apply: the merged object, or None when it equals the live one."""
    t = ctx.t
    merged = typed.merge(live, config, t)
    last = managed.owners.get(identity)
    fields = typed.to_field_set(config, t).recursive_difference(ctx.ignored_set)
    managed.owners[identity] = Owned(fields, ctx.api_version, True)
    merged = _prune(merged, managed, last, t)
    _move_ownership(ctx, live, merged, managed, identity, force)
    if typed.json_equal(live, merged):
        return None
    return merged


def _prune(merged: dict, managed: Managed, last: Owned | None, t: meta.TypeNode) -> dict:
    """Remove what the applier owned before and dropped now, unless someone else owns it."""
    if last is None or last.fields.empty():
        return merged
    previous = typed.with_named_fields(last.fields, t)
    pruned = typed.remove_items(merged, previous, t)
    owned = FieldSet()
    for entry in managed.owners.values():
        owned = owned.union(entry.fields)
    owned = typed.with_named_fields(owned, t)
    merged_set = typed.with_named_fields(typed.to_field_set(merged, t), t)
    pruned_set = typed.with_named_fields(typed.to_field_set(pruned, t), t)
    # addBackOwnedItems: only what nobody owns stays removed...
    pruned = typed.remove_items(merged, merged_set.difference(pruned_set.union(owned)), t)
    pruned_set = typed.with_named_fields(typed.to_field_set(pruned, t), t)
    # ...addBackDanglingItems: and of that, only what the applier owned before.
    doomed = merged_set.difference(pruned_set).intersection(previous)
    return typed.remove_items(merged, doomed, t, drop_emptied=True)


def _move_ownership(ctx: _Context, old: dict, new: dict, managed: Managed, workflow: str,
                    force: bool) -> typed.Comparison:
    """Updater.update: changed fields leave other managers; without force, conflicts."""
    t = ctx.t
    old, new = _changed_subtrees(old, new)
    comparison = typed.compare(typed.with_go_zero_fields(old, t), typed.with_go_zero_fields(new, t), t)
    relevant = comparison.without(ctx.ignored_set)
    changed = relevant.modified.union(relevant.added)
    conflicts: dict[str, FieldSet] = {}
    for identity, entry in managed.owners.items():
        if identity == workflow:
            continue
        clash = entry.fields.intersection(changed)
        if not clash.empty():
            conflicts[identity] = clash
    if conflicts and not force:
        raise Conflicts([(identity, path) for identity in sorted(conflicts)
                         for path in conflicts[identity].paths()])
    for identity, entry in list(managed.owners.items()):
        if identity == workflow:
            if entry.fields.empty():
                del managed.owners[identity]
            continue
        if FAST_PATHS and identity not in conflicts and _untouched(entry.fields, relevant.removed):
            continue  # keep the very set, whose FieldsV1 encoding is memoized
        remaining = entry.fields.difference(conflicts.get(identity, FieldSet())).difference(relevant.removed)
        if remaining.empty():
            del managed.owners[identity]
        else:
            managed.owners[identity] = Owned(remaining, entry.api_version, entry.applied)
    return comparison


def _track_update(ctx: _Context, old: dict, new: dict, managed: Managed, identity: str) -> None:
    """managedFieldsUpdater + Updater.Update: the writer takes what it changed."""
    comparison = _move_ownership(ctx, old, new, managed, CURRENT_OPERATION, True)
    fields = FieldSet().difference(comparison.removed).union(comparison.modified).union(comparison.added)
    fields = fields.recursive_difference(ctx.ignored_set).difference(STRIPPED)
    if fields.empty():
        return
    previous = managed.owners.get(identity)
    if previous is not None:
        fields = fields.union(previous.fields)
    managed.owners[identity] = Owned(fields, ctx.api_version, False)
    managed.times[identity] = ctx.now


def _strip_meta(managed: Managed, identity: str) -> None:
    entry = managed.owners.get(identity)
    if entry is None:
        return
    fields = entry.fields.difference(STRIPPED)
    if fields.empty():
        del managed.owners[identity]
    else:
        managed.owners[identity] = Owned(fields, entry.api_version, entry.applied)


def _cap_update_managers(managed: Managed) -> None:
    """At most MAX_UPDATE_MANAGERS Update entries: fold the oldest into per-version buckets."""
    updaters = [i for i, e in managed.owners.items() if not e.applied]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda i: (gojson.unix_seconds(managed.times.get(i)), i))
    first_of_version: dict[str, str] = {}
    length = len(updaters)
    for identity in updaters:
        if length <= MAX_UPDATE_MANAGERS:
            break
        entry = managed.owners[identity]
        bucket = manager_identity(ANCIENT_CHANGES, UPDATE, entry.api_version, "")
        if entry.api_version not in first_of_version:
            first_of_version[entry.api_version] = identity
            continue
        if bucket not in managed.owners:
            first = first_of_version[entry.api_version]
            managed.owners[bucket] = managed.owners.pop(first)
        managed.owners[bucket] = Owned(entry.fields.union(managed.owners[bucket].fields),
                                       entry.api_version, entry.applied)
        del managed.owners[identity]
        length -= 1
        managed.times[bucket] = managed.times.get(identity)


# --- last-applied (client-side apply) interplay ------------------------------------------


def _has_last_applied(obj: dict) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return bool(annotations.get(LAST_APPLIED))


def _set_last_applied(obj: dict, applied: dict) -> None:
    """Keep kubectl's last-applied annotation equal to what was just applied."""
    config = copy.deepcopy(applied)
    annotations = (config.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    obj["metadata"].setdefault("annotations", {})[LAST_APPLIED] = gojson.go_json(config) + "\n"


def _allowed_from_last_applied(ctx: _Context, live: dict) -> FieldSet | None:
    """Fields the last-applied annotation recorded with the value the object still has."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED)
    if not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != ctx.group_version:
        return None
    try:
        fields = typed.to_field_set(last, ctx.t)
    except typed.ItemKeyError:
        return None
    changed = typed.compare(last, live, ctx.t)
    return fields.difference(changed.modified).difference(changed.added).difference(changed.removed)


# --- managedFields encoding ----------------------------------------------------------------


def manager_identity(manager: str, operation: str, api_version: str, subresource: str) -> str:
    """The identity a write records under (buildManagerInfo): no name means "unknown"."""
    return _identity(manager or "unknown", operation, api_version, subresource)


@functools.lru_cache(maxsize=1024)  # a pure function of four strings, asked on every write
def _identity(manager: str, operation: str, api_version: str, subresource: str) -> str:
    """BuildManagerIdentifier: the entry as JSON without fields, time, or (for Apply) apiVersion."""
    entry = {}
    if manager:
        entry["manager"] = manager
    entry["operation"] = operation
    if api_version and operation != APPLY:
        entry["apiVersion"] = api_version
    if subresource:
        entry["subresource"] = subresource
    return gojson.go_json(entry, sort_keys=False)


@functools.lru_cache(maxsize=1024)
def _parsed_identity(identity: str) -> dict:
    """The identity's fields; callers only read the (shared) dict."""
    return json.loads(identity)


def decode_managed_fields(entries) -> Managed:
    """metadata.managedFields to Managed; ValueError with upstream's messages."""
    managed = Managed()
    for index, entry in enumerate(entries or ()):
        if not isinstance(entry, dict):
            raise ValueError(f"invalid managed fields entry {index}")
        operation = entry.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ValueError("operation must be `Apply` or `Update`")
        if not entry.get("apiVersion"):
            raise ValueError("apiVersion must not be empty")
        fields_type = entry.get("fieldsType") or ""
        if fields_type == "":
            raise ValueError(f"missing fieldsType in managed fields entry {index}")
        if fields_type != FIELDS_V1:
            raise ValueError(f"invalid fieldsType {gojson.go_quote(fields_type)} in managed fields entry {index}")
        identity = _identity(entry.get("manager") or "", operation, entry["apiVersion"],
                             entry.get("subresource") or "")
        fields = _decode_fields_v1(entry.get("fieldsV1") or {})
        managed.owners[identity] = Owned(fields, entry["apiVersion"], operation == APPLY)
        managed.times[identity] = entry.get("time")
    return managed


def encode_managed_fields(managed: Managed) -> list[dict]:
    """Managed to metadata.managedFields, sorted as kube-apiserver sorts them."""
    entries = []
    for identity, owned in managed.owners.items():
        ident = _parsed_identity(identity)
        entry = {"manager": ident.get("manager", ""),
                 "operation": APPLY if owned.applied else ident.get("operation", UPDATE),
                 "apiVersion": owned.api_version}
        if managed.times.get(identity):
            entry["time"] = managed.times[identity]
        entry["fieldsType"] = FIELDS_V1
        entry["fieldsV1"] = _encode_fields_v1(owned.fields)
        if ident.get("subresource"):
            entry["subresource"] = ident["subresource"]
        if not entry["manager"]:
            del entry["manager"]
        entries.append(entry)
    entries.sort(key=lambda e: (e["operation"], gojson.unix_seconds(e.get("time")), e.get("manager", ""),
                                e["apiVersion"], e.get("subresource", "")))
    return entries


# Every write decodes and re-encodes each manager's FieldsV1, mostly unchanged, and pods of
# one template share them: both directions are memoized. A FieldSet is never changed once
# built (fieldpath.py), and one encoded here decodes to the same set of paths, so a cached
# set stands for its encoding exactly. Cached encodings are handed out as fresh copies.
FAST_PATHS = True  # tests turn the shortcuts off to compare outputs with the plain path
_CACHE_SIZE = 4096
_decoded: dict[bytes, FieldSet] = {}
_encoded: dict[int, tuple[FieldSet, bytes]] = {}  # id(set) -> (the set, kept alive; encoding)


def _decode_fields_v1(data) -> FieldSet:
    if not FAST_PATHS or not isinstance(data, dict):
        return FieldSet.from_fields_v1(data)
    try:
        raw = orjson.dumps(data)
    except TypeError:  # not plain JSON (e.g. an integer beyond 64 bits): no shortcut
        return FieldSet.from_fields_v1(data)
    fields = _decoded.get(raw)
    if fields is None:
        fields = FieldSet.from_fields_v1(data)
        _remember(raw, fields)
    return fields


def _encode_fields_v1(fields: FieldSet) -> dict:
    if not FAST_PATHS:
        return fields.to_fields_v1()
    cached = _encoded.get(id(fields))
    if cached is not None and cached[0] is fields:
        return orjson.loads(cached[1])
    encoded = fields.to_fields_v1()
    _remember(orjson.dumps(encoded), fields)
    return encoded


def _untouched(fields: FieldSet, removed: FieldSet) -> bool:
    """fields.difference(removed) would be fields itself: no path in common. Sets are
    built without empty subtrees, so the difference would not even differ in shape."""
    return removed.empty() or fields.intersection(removed).empty()


def _remember(raw: bytes, fields: FieldSet) -> None:
    if len(_decoded) >= _CACHE_SIZE or len(_encoded) >= _CACHE_SIZE:
        _decoded.clear()
        _encoded.clear()
    _decoded.setdefault(raw, fields)
    _encoded[id(fields)] = (fields, raw)


# --- conflicts --------------------------------------------------------------------------


def describe_manager(identity: str) -> str:
    """printManager: `"name"`, plus ` using <apiVersion>` for Update managers."""
    try:
        entry = json.loads(identity)
    except ValueError:
        return gojson.go_quote(identity)
    text = gojson.go_quote(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f" with subresource {gojson.go_quote(entry['subresource'])}"
    if entry.get("operation") == UPDATE:
        text += f" using {entry.get('apiVersion', '')}"
    return text


def conflict_error(conflicts: list[tuple[str, tuple]]) -> errors.Conflict:
    """The 409 kube-apiserver answers an apply with conflicts (NewConflictError)."""
    causes = [errors.Cause(CONFLICT_CAUSE, path_string(path), f"conflict with {describe_manager(m)}").to_dict()
              for m, path in conflicts]
    if len(conflicts) == 1:
        identity, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {describe_manager(identity)}: {path_string(path)}"
    else:
        lines = []
        for identity in sorted({m for m, _ in conflicts}):
            lines.append(f"conflicts with {describe_manager(identity)}:")
            lines.extend(f"- {path_string(p)}" for m, p in conflicts if m == identity)
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return errors.Conflict(message, {"causes": causes})


# --- object helpers -----------------------------------------------------------------------


def _check_kind(applied: dict, group: str, version: str, kind: str) -> None:
    got_group, got_version, got_kind = _gvk_of(applied)
    if (got_group, got_version, got_kind) != (group, version, kind):
        raise errors.BadRequest(f"invalid object type: {got_group}/{got_version}, Kind={got_kind}")


def _gvk_of(obj: dict) -> tuple[str, str, str]:
    api_version = obj.get("apiVersion") if isinstance(obj.get("apiVersion"), str) else ""
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) else ""
    parts = api_version.split("/")
    if api_version == "":
        return "", "", kind
    if len(parts) == 1:
        return "", parts[0], kind
    if len(parts) == 2:
        return parts[0], parts[1], kind
    return "", "", kind  # unparseable: upstream keeps only the kind


def _describe(obj: dict) -> str:
    """objectGVKNN: "namespace/name; group/version, Kind=kind"."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    group, version, kind = _gvk_of(obj)
    return f"{metadata.get('namespace') or ''}/{metadata.get('name') or ''}; {group}/{version}, Kind={kind}"


def _join_errors(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return "\n".join(["errors:"] + [f"  {p}" for p in problems])


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _ignored(group: str, kind: str, subresource: str) -> tuple[tuple[str, ...], ...]:
    return meta.reset_fields(group, kind, subresource)


def _managed_fields_of(obj: dict | None):
    if not obj:
        return None
    metadata = obj.get("metadata")
    return metadata.get("managedFields") if isinstance(metadata, dict) else None


def _without_managed_fields(obj: dict) -> dict:
    out = copy.deepcopy(obj)
    _strip_managed_fields(out)
    return out


def _shallow_without_managed_fields(obj: dict) -> dict:
    """obj without managedFields, sharing the rest: for read-only use (comparisons)."""
    if not FAST_PATHS:
        return _without_managed_fields(obj)
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or "managedFields" not in metadata:
        return obj
    return {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}


_UNCHANGED = "\x00unchanged"  # a leaf equal to itself, standing for a shared subtree


def _changed_subtrees(old, new):
    """old and new with each top-level field they hold identically replaced by one marker.

    Comparing equal values reports nothing (typed.compare), so skipping them changes no
    result; a status write then walks status only, not metadata and spec. "Identically"
    is byte-equal JSON, stricter than value equality (true is not 1), so never wrong.
    """
    if not FAST_PATHS or not isinstance(old, dict) or not isinstance(new, dict):
        return old, new
    old_out, new_out = dict(old), dict(new)
    for name in old.keys() & new.keys():
        a, b = old[name], new[name]
        if a is b or _same_json(a, b):
            old_out[name] = new_out[name] = _UNCHANGED
    return old_out, new_out


def _same_json(a, b) -> bool:
    try:
        return orjson.dumps(a) == orjson.dumps(b)
    except TypeError:
        return False


def _strip_managed_fields(obj: dict) -> None:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)


def _set_managed_fields(obj: dict, entries: list | None) -> None:
    if entries:
        obj.setdefault("metadata", {})["managedFields"] = entries
    else:
        _strip_managed_fields(obj)


def _is_reset(entries) -> bool:
    """managedFields: [] (or [{}]) in a write asks to drop all ownership."""
    return isinstance(entries, list) and (len(entries) == 0 or (len(entries) == 1 and entries[0] == {}))


def _live_or_new_managed(old: dict | None, new: dict, is_subresource: bool) -> Managed:
    """decodeLiveOrNew: a write may set managedFields itself, except through subresources."""
    if not is_subresource:
        requested = _managed_fields_of(new)
        if _is_reset(requested):
            return Managed()
        try:
            managed = decode_managed_fields(requested)
        except ValueError:
            managed = Managed()
        if managed.owners:
            return managed
    try:
        return decode_managed_fields(_managed_fields_of(old))
    except ValueError:
        return Managed()


def _keep_live_status(obj: dict, live: dict | None) -> None:
    """The main resource's strategy resets status: apply never changes it."""
    if live is not None and "status" in live:
        obj["status"] = copy.deepcopy(live["status"])
    else:
        obj.pop("status", None)


def _drop_config_nulls(value, live):
    """Nulls the configuration set disappear, as decoding into the Go types drops them."""
    if isinstance(value, dict):
        out = {}
        for name, child in value.items():
            before = live.get(name, ABSENT) if isinstance(live, dict) else ABSENT
            if child is None and before is not None:
                continue
            out[name] = _drop_config_nulls(child, before)
        return out
    if isinstance(value, list):
        # copies every level, so the result never aliases the caller's configuration
        return [_drop_config_nulls(item, ABSENT) for item in value]
    return value
