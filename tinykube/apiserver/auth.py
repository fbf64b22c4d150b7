"""Authentication and authorization of API requests.

Authentication, in Kubernetes' order: a client certificate signed by the cluster CA
(user = CN, groups = O), then a bearer token (the cluster token maps to an admin user).
A request with neither is refused with 401, except the health and version endpoints,
which Kubernetes lets anyone read (system:public-info-viewer).

Authorization: members of system:masters may do everything; RBAC for other users comes
with a later issue, until then every authenticated user is treated as an admin, and the
only credentials the cluster hands out are admin ones.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from tinykube.api import errors

PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()


ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))


class Authenticator:
    def __init__(self, tokens: dict[str, UserInfo]):
        self._tokens = tokens

    def authenticate(self, peercert: dict | None, authorization: str) -> UserInfo | None:
        user = _from_certificate(peercert)
        if user is None and authorization:
            user = self._from_token(authorization)
        return user

    def _from_token(self, authorization: str) -> UserInfo | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        token = token.strip()
        for known, user in self._tokens.items():
            if hmac.compare_digest(known, token):
                return user
        return None


def _from_certificate(peercert: dict | None) -> UserInfo | None:
    """The user of a verified client certificate (ssl only fills peercert when verified)."""
    if not peercert:
        return None
    common_name, groups = "", []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                common_name = value
            elif key == "organizationName":
                groups.append(value)
    return UserInfo(common_name, tuple(groups)) if common_name else None


def unauthorized() -> errors.Unauthorized:
    return errors.Unauthorized("Unauthorized")


def authorize(user: UserInfo, verb: str, resource: str, namespace: str) -> None:
    """Raise Forbidden unless user may do verb on resource (see the module docstring)."""
    if user is ANONYMOUS:
        target = f'resource "{resource}"' if resource else "path"
        raise errors.Forbidden(
            f'{resource or "path"} is forbidden: User "{user.name}" cannot {verb} {target}'
            + (f' in the namespace "{namespace}"' if namespace else ""))
