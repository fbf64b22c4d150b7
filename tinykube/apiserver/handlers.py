"""HTTP handling of the Kubernetes REST API: decode, dispatch to a verb, encode.

One aiohttp handler takes every request: it authenticates, parses the path (paths.py),
negotiates the response form (plain JSON or a meta.k8s.io Table for `kubectl get`),
calls the generic registry (resources.py) and turns every ApiError into a Status.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
import time

import yaml
from aiohttp import web

from tinykube.api import errors, printers
from tinykube.api import patch as patches
from tinykube.apiserver import auth, discovery, eviction, metrics, paths, proxy_pods
from tinykube.apiserver.resources import DeleteOptions, Resources, WriteContext, to_external
from tinykube.apiserver.watchcache import ADDED, Entry
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's request body limit
JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
BOOKMARK_INTERVAL = 60.0
SEND_BATCH = 256  # queued events sent before yielding to the event loop
# kube-apiserver's --max-requests-inflight: past this many requests at once (watches
# excepted), answer 429 with Retry-After instead of queueing without bound.
MAX_INFLIGHT = 400
PATCH_TYPES = (patches.JSON_PATCH, patches.MERGE_PATCH, patches.STRATEGIC_MERGE_PATCH,
               patches.APPLY_PATCH)


def json_response(body: dict | bytes, status: int = 200, warnings: list[str] | None = None,
                  content_type: str = JSON) -> web.Response:
    data = body if isinstance(body, bytes) else jsonutil.dumps(body)
    resp = web.Response(body=data, status=status, headers={"Content-Type": content_type})
    for warning in warnings or ():
        resp.headers.add("Warning", warning)
    return resp


def status_response(exc: errors.ApiError) -> web.Response:
    resp = json_response(exc.to_status(), exc.code)
    for name, value in exc.headers.items():
        resp.headers[name] = value
    return resp


class ApiHandler:
    def __init__(self, resources: Resources, authenticator: auth.Authenticator,
                 is_ready, openapi):
        self.resources = resources
        self.authenticator = authenticator
        self.is_ready = is_ready
        self.openapi = openapi
        self.discovery = discovery.Discovery()
        self.inflight = 0

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        if self.inflight >= MAX_INFLIGHT and not _is_watch(request):
            return status_response(errors.TooManyRequests(
                "Too many requests, please try again later.", headers={"Retry-After": "1"}))
        self.inflight += 1
        try:
            return await self._serve(request)
        finally:
            self.inflight -= 1

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        try:
            user = self._authenticate(request)
            if request.path.startswith(metrics.PREFIX):  # served from the agents, not stored
                return await metrics.serve(request, self.resources, request.app["kubelet"])
            target = paths.parse(request.path)
            if target is None:
                return await self._non_resource(request)
            auth.authorize(user, request.method.lower(), target.rt.plural, target.namespace)
            if target.rt.kind == "Pod" and target.subresource in proxy_pods.SUBRESOURCES:
                proxy = proxy_pods.PodProxy(self.resources, request.app["kubelet"])
                return await proxy.serve(request, target.namespace, target.name, target.subresource)
            return await self._resource(request, target, user)
        except errors.ApiError as exc:
            return status_response(exc)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:  # never crash the server; say what happened
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            return status_response(errors.InternalError("an error on the server has prevented the request from succeeding"))

    def _authenticate(self, request: web.Request) -> auth.UserInfo:
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport else None
        user = self.authenticator.authenticate(peercert, request.headers.get("Authorization", ""))
        if user is not None:
            return user
        if request.path in auth.PUBLIC_PATHS:
            return auth.ANONYMOUS
        raise auth.unauthorized()

    # --- non-resource paths ------------------------------------------------------------

    async def _non_resource(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez"):
            return web.Response(text="ok")
        if path == "/readyz":
            if self.is_ready():
                return web.Response(text="ok")
            return web.Response(text="[-]storage not ready\nreadyz check failed", status=500)
        if path == "/version":
            return json_response(discovery.version_info())
        if path.startswith("/openapi/"):
            return self._openapi(request, path)
        doc = self.discovery.document(path, request.headers.get("Accept", ""))
        if doc is None:
            raise errors.NotFound("the server could not find the requested resource")
        body, content_type = doc
        return json_response(body, content_type=content_type)

    def _openapi(self, request: web.Request, path: str) -> web.Response:
        if path == "/openapi/v2":
            accept = request.headers.get("Accept", "")
            if "protobuf" in accept and "json" not in accept and "*/*" not in accept:
                # kubectl asks for the protobuf form only; we serve JSON (406 makes it fall back)
                raise errors.NotAcceptable("only application/json is served for /openapi/v2")
            return json_response(self.openapi.openapi_v2())
        if path == "/openapi/v3":
            return json_response(self.openapi.openapi_v3_index())
        doc = self.openapi.openapi_v3_group(path[len("/openapi/v3/"):])
        if doc is None:
            raise errors.NotFound("the server could not find the requested resource")
        return json_response(doc)

    # --- resources -----------------------------------------------------------------------

    async def _resource(self, request: web.Request, target: paths.Target, user) -> web.StreamResponse:
        method, q = request.method, request.query
        if method == "GET":
            if target.legacy_watch or _flag(q.get("watch")):
                return await self._watch(request, target)
            if target.name:
                return await self._get(request, target)
            return await self._list(request, target)
        ctx = self._write_context(request, user)
        if method == "POST":
            return await self._post(request, target, ctx)
        if method == "PUT" and target.name:
            return await self._put(request, target, ctx)
        if method == "PATCH" and target.name:
            return await self._patch(request, target, ctx)
        if method == "DELETE":
            return await self._delete(request, target, ctx)
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")

    def _write_context(self, request: web.Request, user) -> WriteContext:
        q = request.query
        dry_run = q.getall("dryRun", [])
        if any(v != "All" for v in dry_run):
            raise errors.BadRequest(f'Invalid value: "{dry_run[0]}": supported values: "All"')
        validation = q.get("fieldValidation", "Warn") or "Warn"
        if validation not in ("Strict", "Warn", "Ignore"):
            raise errors.BadRequest(f'fieldValidation "{validation}" is invalid; expected one of: Strict, Warn, Ignore')
        manager = q.get("fieldManager") or _manager_from_user_agent(request.headers.get("User-Agent", ""))
        return WriteContext(user=user.name, dry_run=bool(dry_run), field_manager=manager,
                            field_validation=validation)

    async def _get(self, request: web.Request, target: paths.Target) -> web.Response:
        rt = target.rt
        entry = await self.resources.get(rt, target.namespace, target.name)
        if target.subresource == "scale":
            from tinykube.apiserver.resources import to_scale
            return json_response(to_scale(rt, entry.obj))
        if _wants_table(request):
            table = printers.table(rt, [to_external(rt, entry.obj)], now=_now(),
                                   include_object=request.query.get("includeObject", "PartialObjectMetadata"),
                                   resource_version=str(entry.rev))
            return json_response(table)
        if rt.stored_as:
            return json_response(to_external(rt, entry.obj))
        return json_response(entry.raw)

    async def _list(self, request: web.Request, target: paths.Target) -> web.Response:
        rt, q = target.rt, request.query
        page = await self.resources.list(
            rt, target.namespace, label_selector=q.get("labelSelector", ""),
            field_selector=q.get("fieldSelector", ""), limit=_int(q, "limit"),
            continue_token=q.get("continue", ""), resource_version=q.get("resourceVersion"),
            rv_match=q.get("resourceVersionMatch", ""))
        if _wants_table(request):
            objects = [to_external(rt, e.obj) for e in page.entries]
            table = printers.table(rt, objects, now=_now(),
                                   include_object=q.get("includeObject", "PartialObjectMetadata"),
                                   resource_version=str(page.revision),
                                   continue_token=page.continue_token, remaining=page.remaining)
            return json_response(table)
        return json_response(_list_body(rt, page))

    async def _post(self, request: web.Request, target: paths.Target, ctx: WriteContext) -> web.Response:
        rt = target.rt
        if target.subresource == "binding" and target.name:
            binding = await _read_object(request)
            await self.resources.bind(rt, target.namespace, target.name, binding, ctx)
            return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Success", "code": 201}, 201)
        if target.subresource == "eviction" and target.name:
            body = await _read_object(request)
            return json_response(await eviction.evict(self.resources, target.namespace, target.name, body, ctx), 201)
        if target.name:
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        if rt.namespaced and not target.namespace:
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        obj = await _read_object(request)
        created = await self.resources.create(rt, target.namespace, obj, ctx)
        return json_response(to_external(rt, created), 201, ctx.warnings)

    async def _put(self, request: web.Request, target: paths.Target, ctx: WriteContext) -> web.Response:
        rt, body = target.rt, await _read_object(request)
        if target.subresource == "scale":
            scale = await self.resources.update_scale(
                rt, target.namespace, target.name, lambda _current: body, ctx)
            return json_response(scale)
        obj, created = await self.resources.update(rt, target.namespace, target.name, body, ctx,
                                                   target.subresource)
        return json_response(to_external(rt, obj), 201 if created else 200, ctx.warnings)

    async def _patch(self, request: web.Request, target: paths.Target, ctx: WriteContext) -> web.Response:
        rt = target.rt
        content_type = request.content_type
        if content_type not in PATCH_TYPES:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{', '.join(PATCH_TYPES)}")
        body = await _read_body(request)
        force = _flag(request.query.get("force"))
        if force and content_type != patches.APPLY_PATCH:
            raise errors.invalid("PatchOptions", "", [errors.Cause(
                errors.FORBIDDEN, "force", "Forbidden: may not be specified for non-apply patch")],
                "meta.k8s.io")
        if target.subresource == "scale":
            scale = await self.resources.update_scale(
                rt, target.namespace, target.name,
                lambda current: patches.apply_patch(content_type, current, body, group="autoscaling",
                                                    version="v1", kind="Scale"), ctx)
            return json_response(scale)
        obj, created = await self.resources.patch(rt, target.namespace, target.name, content_type,
                                                  body, ctx, target.subresource, force)
        return json_response(to_external(rt, obj), 201 if created else 200, ctx.warnings)

    async def _delete(self, request: web.Request, target: paths.Target, ctx: WriteContext) -> web.Response:
        options = _delete_options(request, await _read_body(request, required=False))
        rt, q = target.rt, request.query
        if not target.name:
            deleted = await self.resources.delete_collection(
                rt, target.namespace, label_selector=q.get("labelSelector", ""),
                field_selector=q.get("fieldSelector", ""), options=options, ctx=ctx)
            items = [to_external(rt, obj) for obj in deleted]
            return json_response({"kind": rt.list_kind, "apiVersion": rt.api_version,
                                  "metadata": {}, "items": items})
        result, _ = await self.resources.delete(rt, target.namespace, target.name, options, ctx)
        return json_response(result if result.get("kind") == "Status" else to_external(rt, result))

    # --- watch ---------------------------------------------------------------------------

    async def _watch(self, request: web.Request, target: paths.Target) -> web.StreamResponse:
        rt, q = target.rt, request.query
        try:
            watcher = await self.resources.watch(
                rt, target.namespace, label_selector=q.get("labelSelector", ""),
                field_selector=q.get("fieldSelector", ""), resource_version=q.get("resourceVersion"),
                name=target.name)
        except errors.Expired as exc:
            return await _watch_error(request, exc)
        stream = WatchStream(request, rt, watcher, bookmarks=_flag(q.get("allowWatchBookmarks")),
                             table=_wants_table(request),
                             initial_events_end=_flag(q.get("sendInitialEvents")))
        try:
            return await stream.serve(_watch_timeout(q))
        except ConnectionResetError:  # the client went away: the watch simply ends
            return stream.response
        finally:
            self.resources.stop_watch(rt, watcher)


class WatchStream:
    """Writes watch events as JSON lines until timeout, disconnect or a closed watcher."""

    def __init__(self, request, rt, watcher, *, bookmarks: bool, table: bool, initial_events_end: bool):
        self.request, self.rt, self.watcher = request, rt, watcher
        self.bookmarks, self.table = bookmarks, table
        self.initial_events_end = initial_events_end
        self.last_rv = 0
        self.first_table = True
        self.response = web.StreamResponse(headers={"Content-Type": JSON})

    async def serve(self, timeout: float) -> web.StreamResponse:
        resp = self.response
        resp.enable_chunked_encoding()
        await resp.prepare(self.request)
        deadline = time.monotonic() + timeout
        if self.initial_events_end:
            await self._send_initial(resp)
        next_bookmark = time.monotonic() + BOOKMARK_INTERVAL
        sent_in_a_row = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if self.watcher.queue:
                # Queued already: send without waiting. wait_for runs its coroutine as a
                # task, one event loop round per event, so on a busy server a watcher got
                # only tens of events a second, fell behind and was closed as slow.
                event = self.watcher.queue.popleft()
                sent_in_a_row += 1
                if sent_in_a_row % SEND_BATCH == 0:
                    await asyncio.sleep(0)  # a long backlog does not hold the loop
            else:
                sent_in_a_row = 0
                wait = min(deadline, next_bookmark) - now
                try:
                    event = await asyncio.wait_for(self.watcher.next(), timeout=wait)
                except asyncio.TimeoutError:
                    if self.bookmarks and time.monotonic() >= next_bookmark:
                        await self._bookmark(resp)
                        next_bookmark = time.monotonic() + BOOKMARK_INTERVAL
                    continue
            if event is None:  # closed: the client re-lists or resumes
                break
            await self._send(resp, *event)
        if self.bookmarks and not self.watcher.closed:
            await self._bookmark(resp)  # just before the timeout, as kube-apiserver does
        return resp

    async def _send_initial(self, resp) -> None:
        while self.watcher.queue and self.watcher.queue[0][0] == ADDED:
            await self._send(resp, *self.watcher.queue.popleft())
        await self._bookmark(resp, {"k8s.io/initial-events-end": "true"})

    async def _send(self, resp, type_: str, entry: Entry) -> None:
        self.last_rv = max(self.last_rv, entry.rev)
        if self.table:
            table = printers.table(self.rt, [to_external(self.rt, entry.obj)], now=_now(),
                                   include_object=self.request.query.get("includeObject", "PartialObjectMetadata"),
                                   resource_version=str(entry.rev))
            if not self.first_table:
                table["columnDefinitions"] = []
            self.first_table = False
            obj = jsonutil.dumps(table)
        elif self.rt.stored_as:
            obj = jsonutil.dumps(to_external(self.rt, entry.obj))
        else:
            obj = entry.raw
        await resp.write(b'{"type":"' + type_.encode() + b'","object":' + obj + b"}\n")

    async def _bookmark(self, resp, annotations: dict | None = None) -> None:
        rv = max(self.last_rv, self._cache_revision())
        md: dict = {"resourceVersion": str(rv)}
        if annotations:
            md["annotations"] = annotations
        obj = {"kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": md}
        await resp.write(b'{"type":"BOOKMARK","object":' + jsonutil.dumps(obj) + b"}\n")

    def _cache_revision(self) -> int:
        # All events up to the cache revision that match this watch were queued already;
        # once the queue is empty, that revision is a safe bookmark.
        return self.request.app["cache"].revision if not self.watcher.queue else self.last_rv


async def _watch_error(request: web.Request, exc: errors.ApiError) -> web.StreamResponse:
    """Kubernetes answers a watch it cannot serve with 200 and one ERROR event."""
    resp = web.StreamResponse(headers={"Content-Type": JSON})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    await resp.write(b'{"type":"ERROR","object":' + jsonutil.dumps(exc.to_status()) + b"}\n")
    return resp


# === request helpers =====================================================================


def _is_watch(request: web.Request) -> bool:
    return _flag(request.query.get("watch")) or "/watch/" in request.path


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


def _int(q, name: str) -> int:
    value = q.get(name)
    if value in (None, ""):
        return 0
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequest(f'invalid {name} "{value}"') from None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        if "as=Table" in part and "g=meta.k8s.io" in part:
            return True
        if part.strip().startswith(JSON) and "as=" not in part:
            return False
    return False


def _watch_timeout(q) -> float:
    """timeoutSeconds, or a random time in [30, 60) minutes as kube-apiserver does."""
    given = q.get("timeoutSeconds")
    if given:
        try:
            return max(0.0, float(given))
        except ValueError:
            raise errors.BadRequest(f'invalid timeoutSeconds "{given}"') from None
    return random.uniform(1800, 3600)


def _manager_from_user_agent(user_agent: str) -> str:
    """Kubernetes names an unnamed field manager after the user agent's product."""
    return user_agent.split("/", 1)[0][:128] if user_agent else "unknown"


async def _read_body(request: web.Request, required: bool = True) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise errors.RequestEntityTooLarge("the server has received a request that is too large")
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise errors.RequestEntityTooLarge("the server has received a request that is too large")
    if required and not body:
        raise errors.BadRequest("the request body is empty")
    return body


async def _read_object(request: web.Request) -> dict:
    body = await _read_body(request)
    content_type = request.content_type
    if content_type == PROTOBUF:  # kubectl's typed clients (create, run, drain ...) send these
        from tinykube.api import protobuf

        obj = protobuf.decode_request(body)
    elif content_type in ("application/yaml", "application/x-yaml", "text/yaml"):
        try:
            obj = yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise errors.BadRequest(f"error decoding YAML: {exc}") from None
    elif content_type in (JSON, "application/octet-stream", "") or content_type.endswith("+json"):
        try:
            obj = jsonutil.loads(body)
        except ValueError as exc:
            raise errors.BadRequest(f"error decoding JSON: {exc}") from None
    else:
        raise errors.UnsupportedMediaType(
            'the body of the request was in an unknown format - accepted media types include: '
            'application/json, application/yaml, application/vnd.kubernetes.protobuf')
    if not isinstance(obj, dict):
        raise errors.BadRequest("the request body must be a JSON object")
    return obj


def _delete_options(request: web.Request, body: bytes) -> DeleteOptions:
    data: dict = {}
    if body and request.content_type == PROTOBUF:
        from tinykube.api import protobuf

        data = protobuf.decode_request(body)
    elif body:
        try:
            data = jsonutil.loads(body)
        except ValueError as exc:
            raise errors.BadRequest(f"error decoding DeleteOptions: {exc}") from None
        if not isinstance(data, dict):
            raise errors.BadRequest("DeleteOptions must be an object")
    q = request.query
    grace = q.get("gracePeriodSeconds", data.get("gracePeriodSeconds"))
    policy = q.get("propagationPolicy", data.get("propagationPolicy"))
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise errors.invalid("DeleteOptions", "", [errors.Cause(
            errors.NOT_SUPPORTED, "propagationPolicy",
            f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan", "nil"')],
            "meta.k8s.io")
    orphan = q.get("orphanDependents", data.get("orphanDependents"))
    if isinstance(orphan, str):
        orphan = _flag(orphan)
    return DeleteOptions(
        grace_period_seconds=int(grace) if grace not in (None, "") else None,
        propagation_policy=policy, preconditions=data.get("preconditions") or {},
        orphan_dependents=orphan)


def _list_body(rt, page) -> bytes:
    md: dict = {"resourceVersion": str(page.revision)}
    if page.continue_token:
        md["continue"] = page.continue_token
    if page.remaining is not None:
        md["remainingItemCount"] = page.remaining
    head = jsonutil.dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": md})
    if rt.stored_as:
        items = b",".join(jsonutil.dumps(to_external(rt, e.obj)) for e in page.entries)
    else:
        items = b",".join(e.raw for e in page.entries)
    # splice the items into the list object without re-encoding every object
    return head[:-1] + b',"items":[' + items + b"]}"
