"""Probe and hook handlers that touch the world: exec (through the runtime's exec_sync),
httpGet and tcpSocket (from the agent into the pod's network namespace, so no tool is
needed in the image). Each returns (Result, output) like the kubelet's probers, with
their messages (pkg/probe/{exec,http,tcp}); ProbeError means the probe could not be run
at all (the kubelet throws such results away).

The HTTP client is deliberately small: one GET over HTTP/1.1 (`Connection: close`),
TLS without verification for HTTPS (as the kubelet), redirects followed to the same
host only (at most 10), the first 10 KiB of the body kept.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import urllib.parse
from dataclasses import dataclass

from tinykube.util import netns

from .rules import Result

USER_AGENT = "kube-probe/1.32"
MAX_BODY = 10 * 1024
MAX_REDIRECTS = 10


class ProbeError(Exception):
    """The probe could not be run (no such port name, exec impossible, ...)."""


@dataclass(frozen=True)
class Target:
    """Where a pod's probes connect: its network namespace ("" = ours) and IP."""

    netns_path: str
    pod_ip: str


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    location: str = ""


# --- pure parts ----------------------------------------------------------------------------


def resolve_port(port, container: dict) -> int:
    """A port number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        number = int(port)
        if 0 < number < 65536:
            return number
        raise ProbeError(f"invalid port number: {number}")
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ProbeError(f"couldn't find port: {port} in {container.get('name', '')}")


def http_url(action: dict, container: dict, target: Target) -> str:
    scheme = (action.get("scheme") or "HTTP").lower()
    host = action.get("host") or target.pod_ip
    port = resolve_port(action.get("port"), container)
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{_host_port(host, port)}{path}"


def request_headers(action: dict, host_port: str) -> list[tuple[str, str]]:
    """Defaults (Host, User-Agent, Accept) replaced by the user's httpHeaders of the same
    name; an empty User-Agent value removes the header (as the kubelet does)."""
    headers = {"host": ("Host", host_port), "user-agent": ("User-Agent", USER_AGENT),
               "accept": ("Accept", "*/*")}
    extra = []
    for h in action.get("httpHeaders") or []:
        key = h.get("name", "").lower()
        if key in headers:
            headers[key] = (h["name"], h.get("value", ""))
        else:
            extra.append((h.get("name", ""), h.get("value", "")))
    out = [v for k, v in headers.items() if v[1] or k != "user-agent"]
    return out + extra + [("Connection", "close")]


def http_result(response: HttpResponse) -> tuple[Result, str]:
    """pkg/probe/http DoHTTPProbe: 2xx success, 3xx (a redirect not followed) a warning,
    anything else a failure naming the code."""
    body = response.body.decode(errors="replace")
    if 200 <= response.status < 300:
        return Result.SUCCESS, body
    if 300 <= response.status < 400:
        return Result.WARNING, f"Probe terminated redirects, Response body: {body}"
    return Result.FAILURE, f"HTTP probe failed with statuscode: {response.status}"


def parse_response_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"malformed HTTP response {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def dial_error(host: str, port: int, exc: BaseException) -> str:
    """Go's net.Dial error text: `dial tcp 10.42.0.5:8080: connect: connection refused`."""
    address = f"dial tcp {_host_port(host, port)}"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"{address}: i/o timeout"
    code = getattr(exc, "errno", None)
    if code is not None:
        return f"{address}: connect: {_go_strerror(code)}"
    return f"{address}: {exc}"


def _go_strerror(code: int) -> str:
    text = {errno.ECONNREFUSED: "connection refused", errno.EHOSTUNREACH: "no route to host",
            errno.ENETUNREACH: "network is unreachable", errno.ETIMEDOUT: "connection timed out"}
    import os
    return text.get(code) or os.strerror(code).lower()


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- the handlers --------------------------------------------------------------------------


async def tcp_probe(action: dict, container: dict, target: Target, *, timeout: float) -> tuple[Result, str]:
    host = action.get("host") or target.pod_ip
    port = resolve_port(action.get("port"), container)
    try:
        _, writer = await netns.open_connection(target.netns_path, host, port, timeout=timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return Result.FAILURE, dial_error(host, port, exc)
    writer.close()
    return Result.SUCCESS, ""


async def http_probe(action: dict, container: dict, target: Target, *, timeout: float) -> tuple[Result, str]:
    url = http_url(action, container, target)
    try:
        response = await asyncio.wait_for(http_get(url, action, target), timeout)
    except asyncio.TimeoutError:
        return Result.FAILURE, (f'Get "{url}": context deadline exceeded '
                                "(Client.Timeout exceeded while awaiting headers)")
    except _DialError as exc:
        return Result.FAILURE, f'Get "{url}": {exc}'
    except (OSError, ValueError, ssl.SSLError) as exc:
        return Result.FAILURE, f'Get "{url}": {exc}'
    return http_result(response)


async def exec_probe(action: dict, runtime, container_id: str, *, timeout: float) -> tuple[Result, str]:
    command = list(action.get("command") or [])
    if not command:
        raise ProbeError("exec probe has no command")
    try:
        result = await runtime.exec_sync(container_id, command, timeout=timeout)
    except Exception as exc:  # the runtime could not run it: an errored probe
        raise ProbeError(str(exc)) from exc
    output = (result.stdout + result.stderr)[:MAX_BODY].decode(errors="replace")  # 10 KiB, as pkg/probe/exec
    if result.timed_out:  # upstream (ExecProbeTimeout): a failure with what was printed so far
        return Result.FAILURE, output
    return (Result.SUCCESS if result.exit_code == 0 else Result.FAILURE), output


class _DialError(OSError):
    pass


async def http_get(url: str, action: dict, target: Target) -> HttpResponse:
    """GET url (following same-host redirects) from inside the pod's namespace."""
    original = urllib.parse.urlsplit(url).hostname
    for _ in range(MAX_REDIRECTS + 1):
        response = await _get_once(url, action, target)
        if not (300 <= response.status < 400 and response.location):
            return response
        next_url = urllib.parse.urljoin(url, response.location)
        if urllib.parse.urlsplit(next_url).hostname != original:
            return response  # a redirect elsewhere is not followed: a warning
        url = next_url
    raise ValueError(f"stopped after {MAX_REDIRECTS} redirects")


async def _get_once(url: str, action: dict, target: Target) -> HttpResponse:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        reader, writer = await netns.open_connection(target.netns_path, parts.hostname, port, timeout=30)
    except OSError as exc:
        raise _DialError(dial_error(parts.hostname, port, exc)) from exc
    try:
        if parts.scheme == "https":
            await writer.start_tls(_insecure_tls(), server_hostname=parts.hostname)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        head = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in request_headers(action, parts.netloc)]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        status, headers = parse_response_head((await reader.readuntil(b"\r\n\r\n"))[:-4])
        body = await _read_body(reader, headers)
        return HttpResponse(status, body, headers.get("location", ""))
    except asyncio.IncompleteReadError as exc:
        raise ValueError("EOF") from exc
    finally:
        writer.close()


async def _read_body(reader: asyncio.StreamReader, headers: dict) -> bytes:
    length = headers.get("content-length")
    limit = MAX_BODY if length is None or not length.isdigit() else min(MAX_BODY, int(length))
    body = b""
    while len(body) < limit:
        chunk = await reader.read(limit - len(body))
        if not chunk:
            break
        body += chunk
    return body


def _insecure_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the kubelet does not verify probe certificates
    return context
