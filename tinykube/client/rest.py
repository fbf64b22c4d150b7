"""ApiClient: Kubernetes' verbs over HTTPS, one keep-alive session, typed errors.

Every method takes the resource as a registry ResourceType or as (api_version, kind)
and plain dict objects. Failures raise tinykube.api.errors classes rebuilt from the
server's Status (NotFound, Conflict, AlreadyExists, Expired, Invalid, ...); a request
that got no answer raises TransportError. Answers of 429 (or 5xx) carrying Retry-After
are retried after that many seconds, up to `max_retries` times, as client-go does: the
server refused them before doing anything, so even a POST is safe to send again.

Requests go over keep-alive connections of a small HTTP/1.1 client (client/http1.py);
watches over an aiohttp session made on first use. Both belong to the event loop that
used them first: use one ApiClient per loop and close() it (or `async with`) at the end.

Lists page with limit/continue and return every item plus the list's resourceVersion,
which is where a watch of the same resource starts. Items get kind and apiVersion
filled in (the API leaves them out of list items).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

import aiohttp

from tinykube import __version__
from tinykube.api import errors
from tinykube.api.registry import REGISTRY, ResourceType
from tinykube.client.clock import REAL_CLOCK, Clock
from tinykube.client.config import ClientConfig, load_kubeconfig
from tinykube.client.http1 import Http1Client
from tinykube.client.status import TransportError, error_from_response, retry_after
from tinykube.client.watch import WatchStream
from tinykube.util import jsonutil

Resource = ResourceType | tuple[str, str]  # a ResourceType or (api_version, kind)

JSON = "application/json"
PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",  # JSON is YAML
}
DEFAULT_PAGE_SIZE = 500  # client-go's pager default
MAX_RETRIES = 10  # client-go's rest.Request maxRetries for Retry-After answers
NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


@dataclass(frozen=True)
class ObjectList:
    items: list[dict]
    resource_version: str


def resolve(resource: Resource) -> ResourceType:
    if isinstance(resource, ResourceType):
        return resource
    api_version, kind = resource
    rt = REGISTRY.by_api_version(api_version, kind)
    if rt is None:
        raise ValueError(f"unknown kind {kind} in {api_version}")
    return rt


def resource_path(rt: ResourceType, namespace: str = "", name: str = "", subresource: str = "") -> str:
    """/api/v1/namespaces/NS/pods/NAME/SUB, /apis/G/V/PLURAL, ..."""
    parts = [f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"]
    if rt.namespaced and namespace:
        parts += ["namespaces", namespace]
    parts.append(rt.plural)
    if name:
        parts.append(name)
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


class ApiClient:
    def __init__(self, config: ClientConfig, *, user_agent: str = "",
                 request_timeout: float = 60.0, max_retries: int = MAX_RETRIES,
                 clock: Clock = REAL_CLOCK):
        self.config = config
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.clock = clock
        self._ssl = config.ssl_context()
        self._headers = {"Accept": JSON,
                         "User-Agent": user_agent or f"tinykube/{__version__}"}
        if config.token:
            self._headers["Authorization"] = f"Bearer {config.token}"
        self._http: aiohttp.ClientSession | None = None  # watches and other streams
        self._unary = Http1Client(config.server, self._ssl, self._headers)  # every other request

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, *, context: str | None = None,
                        **options: Any) -> ApiClient:
        return cls(load_kubeconfig(path, context=context), **options)

    @classmethod
    def from_token(cls, server: str, token: str, *, ca_file: str = "", ca_data: bytes = b"",
                   **options: Any) -> ApiClient:
        """The form `tinykube agent --server URL --token T` needs; the cluster CA (file or
        PEM bytes) is what the server's certificate is verified against."""
        config = ClientConfig(server=server.rstrip("/"), token=token, ca_file=ca_file, ca_data=ca_data)
        return cls(config, **options)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        await self._unary.close()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the running event loop.
        if self._http is None or self._http.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True,
                                             limit=0)  # each watch holds a connection
            self._http = aiohttp.ClientSession(connector=connector, headers=self._headers)
        return self._http

    # --- reads ---------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, *, namespace: str = "",
                  subresource: str = "") -> dict:
        rt = resolve(resource)
        return await self.request("GET", resource_path(rt, _ns(rt, namespace), name, subresource))

    async def list(self, resource: Resource, *, namespace: str = "", label_selector: str = "",
                   field_selector: str = "", limit: int = DEFAULT_PAGE_SIZE,
                   resource_version: str | None = None) -> ObjectList:
        """Every matching object, read page by page from one snapshot."""
        rt = resolve(resource)
        params = _query(labelSelector=label_selector, fieldSelector=field_selector,
                        resourceVersion=resource_version, limit=limit or None)
        items: list[dict] = []
        token = ""
        while True:
            try:
                page = await self.request("GET", resource_path(rt, namespace),
                                          params=_query(**params, **{"continue": token}))
            except errors.Expired:
                if not token:
                    raise
                # The snapshot of the first page was compacted: list again in one go,
                # as client-go's pager does (FullListIfExpired).
                return await self.list(rt, namespace=namespace, label_selector=label_selector,
                                       field_selector=field_selector, limit=0)
            items.extend(set_type_meta(rt, item) for item in page.get("items") or ())
            md = page.get("metadata") or {}
            token = md.get("continue") or ""
            if not token:
                return ObjectList(items, md.get("resourceVersion", ""))

    def watch(self, resource: Resource, *, namespace: str = "", name: str = "",
              resource_version: str | None = None, label_selector: str = "",
              field_selector: str = "", allow_watch_bookmarks: bool = True,
              timeout_seconds: float | None = None) -> WatchStream:
        """Events after resource_version (None: an ADDED per current object first)."""
        rt = resolve(resource)
        if name:
            field_selector = ",".join(f for f in (f"metadata.name={name}", field_selector) if f)
        params = _query(watch="true", resourceVersion=resource_version, labelSelector=label_selector,
                        fieldSelector=field_selector,
                        allowWatchBookmarks="true" if allow_watch_bookmarks else None,
                        timeoutSeconds=math.ceil(timeout_seconds) if timeout_seconds is not None else None)
        path = resource_path(rt, namespace)
        read_timeout = timeout_seconds + 30 if timeout_seconds is not None else None
        return WatchStream(lambda: self._open_stream(path, params, read_timeout),
                           resource_version or "")

    # --- writes --------------------------------------------------------------------------

    async def create(self, resource: Resource, obj: dict, *, namespace: str | None = None,
                     field_manager: str = "", dry_run: bool = False) -> dict:
        rt = resolve(resource)
        path = resource_path(rt, _object_ns(rt, obj, namespace))
        return await self.request("POST", path, body=obj, params=_write_query(field_manager, dry_run))

    async def update(self, resource: Resource, obj: dict, *, namespace: str | None = None,
                     subresource: str = "", field_manager: str = "", dry_run: bool = False) -> dict:
        """PUT: fails with Conflict if obj's resourceVersion is no longer current."""
        rt = resolve(resource)
        path = resource_path(rt, _object_ns(rt, obj, namespace), _name(obj), subresource)
        return await self.request("PUT", path, body=obj, params=_write_query(field_manager, dry_run))

    async def update_status(self, resource: Resource, obj: dict, **options: Any) -> dict:
        return await self.update(resource, obj, subresource="status", **options)

    async def patch(self, resource: Resource, name: str, patch: dict | list | bytes, *,
                    namespace: str = "", patch_type: str = "merge", field_manager: str = "",
                    force: bool | None = None, subresource: str = "", dry_run: bool = False) -> dict:
        """patch_type: merge, strategic, json or apply (server-side apply)."""
        rt = resolve(resource)
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"patch_type must be one of {', '.join(PATCH_CONTENT_TYPES)}")
        params = _write_query(field_manager, dry_run)
        if force is not None:
            params["force"] = "true" if force else "false"
        path = resource_path(rt, _ns(rt, namespace), name, subresource)
        return await self.request("PATCH", path, body=patch, params=params,
                                  content_type=PATCH_CONTENT_TYPES[patch_type])

    async def apply(self, resource: Resource, obj: dict, *, field_manager: str, force: bool = False,
                    namespace: str | None = None, subresource: str = "") -> dict:
        """Server-side apply of obj (its full intent) as field_manager."""
        rt = resolve(resource)
        return await self.patch(rt, _name(obj), obj, namespace=_object_ns(rt, obj, namespace),
                                patch_type="apply", field_manager=field_manager, force=force,
                                subresource=subresource)

    async def delete(self, resource: Resource, name: str, *, namespace: str = "",
                     grace_period_seconds: int | None = None, preconditions: dict | None = None,
                     propagation_policy: str | None = None, dry_run: bool = False) -> dict:
        """The deleted object, the object now terminating, or a Success Status.

        preconditions: {"uid": ..., "resourceVersion": ...}; a mismatch is a Conflict.
        """
        rt = resolve(resource)
        options: dict = {"kind": "DeleteOptions", "apiVersion": "v1"}
        for key, value in (("gracePeriodSeconds", grace_period_seconds),
                           ("preconditions", preconditions), ("propagationPolicy", propagation_policy),
                           ("dryRun", ["All"] if dry_run else None)):
            if value is not None:
                options[key] = value
        return await self.request("DELETE", resource_path(rt, _ns(rt, namespace), name), body=options)

    async def create_subresource(self, resource: Resource, name: str, subresource: str, body: dict, *,
                                 namespace: str = "") -> dict:
        """POST to a subresource: pods/binding (the scheduler), pods/eviction, ..."""
        rt = resolve(resource)
        path = resource_path(rt, _ns(rt, namespace), name, subresource)
        return await self.request("POST", path, body=body)

    # --- HTTP ----------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, params: dict | None = None,
                      body: Any = None, content_type: str = JSON) -> dict:
        """One API call; the decoded JSON answer. Retries Retry-After answers."""
        data = body if isinstance(body, bytes) or body is None else jsonutil.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else None
        attempt = 0
        while True:
            status, payload, resp_headers = await self._send(method, path, params, data, headers)
            if status < 300:
                return jsonutil.loads(payload) if payload else {}
            exc = error_from_response(status, payload, resp_headers)
            delay = retry_after(exc) if (status == 429 or status >= 500) else None
            if delay is None or attempt >= self.max_retries:
                raise exc
            attempt += 1
            await self.clock.sleep(delay)

    async def _send(self, method, path, params, data, headers) -> tuple[int, bytes, dict]:
        try:
            async with asyncio.timeout(self.request_timeout):
                return await self._unary.request(method, path, params, data, headers)
        except NETWORK_ERRORS as exc:
            raise TransportError(f"{method} {path}: {exc!r}") from exc

    async def _open_stream(self, path: str, params: dict, read_timeout: float | None) -> aiohttp.ClientResponse:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.request_timeout,
                                        sock_read=read_timeout)
        try:
            resp = await self._session().get(self.config.server + path, params=params, timeout=timeout)
            if resp.status >= 300:
                payload = await resp.read()
                resp.release()
                raise error_from_response(resp.status, payload, dict(resp.headers))
            return resp
        except NETWORK_ERRORS as exc:
            raise TransportError(f"WATCH {path}: {exc!r}") from exc


# --- helpers -------------------------------------------------------------------------------


def _query(**params: Any) -> dict:
    """Query parameters with the unset ones (None, "") left out."""
    return {k: str(v) for k, v in params.items() if v is not None and v != ""}


def _write_query(field_manager: str, dry_run: bool) -> dict:
    return _query(fieldManager=field_manager, dryRun="All" if dry_run else None)


def _ns(rt: ResourceType, namespace: str) -> str:
    if rt.namespaced and not namespace:
        raise ValueError(f"{rt.plural} are namespaced: say which namespace")
    return namespace if rt.namespaced else ""


def _object_ns(rt: ResourceType, obj: dict, namespace: str | None) -> str:
    return _ns(rt, namespace or (obj.get("metadata") or {}).get("namespace") or "")


def _name(obj: dict) -> str:
    name = (obj.get("metadata") or {}).get("name")
    if not name:
        raise ValueError("the object has no metadata.name")
    return name


def set_type_meta(rt: ResourceType, item: dict) -> dict:
    """Fill in kind and apiVersion, which the API leaves out of list items."""
    item.setdefault("kind", rt.kind)
    item.setdefault("apiVersion", rt.api_version)
    return item
