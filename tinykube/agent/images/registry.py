"""A client of the OCI distribution protocol for one repository (aiohttp).

    HEAD/GET /v2/<name>/manifests/<tag|digest>   resolve, then fetch manifests and indexes
    GET      /v2/<name>/blobs/<digest>           stream a blob into the store, verified

Authentication follows the registry's challenge: a 401 with `WWW-Authenticate: Bearer
realm,service,scope` sends us to the token endpoint (with basic credentials when we have
some) and the request is retried with the token; `Basic` is answered with the credentials.
Once a scheme worked, later requests send it up front, so a pull costs one challenge.
Tokens are cached per realm, service, scope and user until they expire.

Errors carry the words containerd uses, so the kubelet-visible message looks familiar.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from tinykube.agent.images import auth
from tinykube.agent.images.errors import ErrImagePull, ImageNotFound, ImageUnauthorized
from tinykube.agent.images.manifest import ACCEPT, MAX_MANIFEST_SIZE, Descriptor
from tinykube.agent.images.reference import Reference
from tinykube.agent.images.store import BlobWriter, sha256_digest
from tinykube.util.jsonutil import loads

_CHUNK = 1 << 20


@dataclass
class TokenCache:
    """Bearer tokens by (realm, service, scope, user), reused across pulls until expiry."""

    tokens: dict = field(default_factory=dict)

    def get(self, key: tuple) -> str | None:
        token, expires = self.tokens.get(key, (None, 0.0))
        return token if time.monotonic() < expires else None

    def put(self, key: tuple, token: str, expires_in: float) -> None:
        # renew a little early so a token never expires in the middle of a request
        self.tokens[key] = (token, time.monotonic() + max(expires_in - 10, 1))


@dataclass
class Stats:
    """What a pull cost on the wire: the tests' witness that unchanged content is skipped."""

    requests: list[str] = field(default_factory=list)
    blobs_fetched: list[str] = field(default_factory=list)
    bytes_fetched: int = 0


class RegistryClient:
    def __init__(self, session: aiohttp.ClientSession, ref: Reference, *,
                 credentials: auth.Credentials | None = None, tokens: TokenCache | None = None,
                 stats: Stats | None = None):
        self.ref = ref
        self.base = f"{ref.scheme}://{ref.endpoint}/v2/{ref.path}"
        self._session = session
        self._credentials = credentials
        self._tokens = tokens or TokenCache()
        self._authorization: str | None = None
        self.stats = stats or Stats()

    async def resolve(self, obj: str) -> Descriptor:
        """The descriptor a tag (or digest) names now: HEAD, falling back to GET."""
        url = f"{self.base}/manifests/{obj}"
        async with await self._request("HEAD", url, {"Accept": ACCEPT}) as resp:
            digest = resp.headers.get("Docker-Content-Digest", "")
            media_type = _media_type(resp)
            size = int(resp.headers.get("Content-Length", -1))
        if digest and media_type:
            return Descriptor(media_type, digest, size)
        data, media_type = await self._get_manifest(url)  # registries that omit the digest
        return Descriptor(media_type, obj if obj.startswith("sha256:") else sha256_digest(data),
                          len(data))

    async def fetch_manifest(self, desc: Descriptor) -> bytes:
        """A manifest or index by digest, verified against it."""
        data, _ = await self._get_manifest(f"{self.base}/manifests/{desc.digest}")
        if sha256_digest(data) != desc.digest:
            raise ErrImagePull(f"manifest {desc.digest}: content digest mismatch "
                               f"({sha256_digest(data)})")
        return data

    async def fetch_blob(self, desc: Descriptor, writer: BlobWriter) -> None:
        """Streams the blob into `writer` (which verifies digest and size on commit)."""
        url = f"{self.base}/blobs/{desc.digest}"
        async with await self._request("GET", url, {}) as resp:
            try:
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    writer.write(chunk)
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                raise ErrImagePull(f"failed to read {url}: {e or type(e).__name__}") from None
        self.stats.blobs_fetched.append(desc.digest)
        self.stats.bytes_fetched += writer.written

    async def _get_manifest(self, url: str) -> tuple[bytes, str]:
        async with await self._request("GET", url, {"Accept": ACCEPT}) as resp:
            data = bytearray()
            try:
                async for chunk in resp.content.iter_any():
                    data += chunk
                    if len(data) > MAX_MANIFEST_SIZE:  # it is read into memory: bound it
                        raise ErrImagePull(f"manifest at {url} is larger than "
                                           f"{MAX_MANIFEST_SIZE} bytes")
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                raise ErrImagePull(f"failed to read {url}: {e or type(e).__name__}") from None
            return bytes(data), _media_type(resp)

    # --- requests and authentication --------------------------------------------------------

    async def _request(self, method: str, url: str, headers: dict) -> aiohttp.ClientResponse:
        """The response (2xx) for the request, answering one auth challenge on the way."""
        resp = await self._send(method, url, headers)
        if resp.status == 401:
            try:
                answered = await self._authenticate(resp)
            except BaseException:
                resp.release()
                raise
            if answered:
                resp.release()
                resp = await self._send(method, url, headers)
        if resp.status >= 300:
            await self._raise_for(resp, method, url)
        return resp

    async def _send(self, method: str, url: str, headers: dict) -> aiohttp.ClientResponse:
        if self._authorization:
            headers = {**headers, "Authorization": self._authorization}
        self.stats.requests.append(f"{method} {url}")
        try:
            return await self._session.request(method, url, headers=headers)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
            raise ErrImagePull(f'failed to do request: {method.title()} "{url}": '
                               f"{e or type(e).__name__}") from None

    async def _authenticate(self, resp: aiohttp.ClientResponse) -> bool:
        """Sets the Authorization for the challenge in `resp`; False if we cannot answer."""
        challenge = auth.parse_www_authenticate(resp.headers.get("WWW-Authenticate", ""))
        if challenge is None or (self._authorization and challenge.scheme == "basic"):
            return False
        if challenge.scheme == "basic":
            if self._credentials is None:
                return False
            self._authorization = auth.basic_header(self._credentials)
            return True
        if challenge.scheme == "bearer" and challenge.params.get("realm"):
            self._authorization = f"Bearer {await self._token(challenge.params)}"
            return True
        return False

    async def _token(self, params: dict) -> str:
        scope = params.get("scope") or f"repository:{self.ref.path}:pull"
        user = self._credentials.username if self._credentials else ""
        key = (params["realm"], params.get("service", ""), scope, user)
        token = self._tokens.get(key)
        if token is None:
            token, expires_in = await self._fetch_token(params["realm"], params.get("service"), scope)
            self._tokens.put(key, token, expires_in)
        return token

    async def _fetch_token(self, realm: str, service: str | None, scope: str) -> tuple[str, float]:
        query = {"scope": scope, **({"service": service} if service else {})}
        headers = {"Authorization": auth.basic_header(self._credentials)} if self._credentials else {}
        self.stats.requests.append(f"GET {realm}")
        try:
            async with self._session.get(realm, params=query, headers=headers) as resp:
                body = await resp.read()
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
            raise ErrImagePull(f'failed to fetch anonymous token: Get "{realm}": {e}') from None
        if resp.status != 200:
            raise ImageUnauthorized(f"failed to fetch oauth token: unexpected status from GET "
                                    f"request to {realm}: {resp.status} {resp.reason}")
        doc = loads(body)
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise ImageUnauthorized(f"token endpoint {realm} returned no token")
        return token, float(doc.get("expires_in") or 60)

    async def _raise_for(self, resp: aiohttp.ClientResponse, method: str, url: str):
        body = await resp.read() if method != "HEAD" else b""
        resp.release()
        if resp.status == 404:
            raise ImageNotFound(f"{self.ref}: not found" if "/manifests/" in url
                                else f"content at {url} not found: not found")
        message = f"unexpected status from {method} request to {url}: {resp.status} {resp.reason}"
        if resp.status in (401, 403):
            raise ImageUnauthorized(_with_server_message(
                "pull access denied, repository does not exist or may require authorization: "
                + message, body))
        raise ErrImagePull(_with_server_message(message, body))


def _media_type(resp: aiohttp.ClientResponse) -> str:
    return resp.headers.get("Content-Type", "").split(";")[0].strip()


def _with_server_message(message: str, body: bytes) -> str:
    """Appends the registry's own error (`{"errors":[{"code","message"}]}`) when present."""
    try:
        first = loads(body)["errors"][0]
        return f"{message}: server message: {first['code'].lower()}: {first['message']}"
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return message
