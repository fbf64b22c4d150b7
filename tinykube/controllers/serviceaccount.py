"""The ServiceAccount controller: a ``default`` ServiceAccount in every active namespace.

kube-controller-manager's serviceaccount-controller. A namespace added or changed, or
a ServiceAccount deleted, queues its namespace; the sync creates each of
`SERVICE_ACCOUNTS` that is missing, unless the namespace is terminating (its content is
being deleted). Pods need it: the API server's ServiceAccount admission refuses a pod
whose ServiceAccount does not exist. Token Secrets and projected token volumes are not
made (tinykube does not mount ServiceAccount tokens yet).
"""

from __future__ import annotations

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.controllers.base import Controller, ControllerContext

NAMESPACES = REGISTRY.by_plural("", "v1", "namespaces")
SERVICEACCOUNTS = REGISTRY.by_plural("", "v1", "serviceaccounts")
SERVICE_ACCOUNTS = ("default",)


def missing_accounts(namespace: dict | None, existing: set[str]) -> list[str]:
    """The ServiceAccounts to create in this namespace (none while it terminates)."""
    if namespace is None or namespace["metadata"].get("deletionTimestamp"):
        return []
    if (namespace.get("status") or {}).get("phase", "Active") != "Active":
        return []
    return [name for name in SERVICE_ACCOUNTS if name not in existing]


class ServiceAccountController(Controller):
    name = "serviceaccount"
    workers = 1  # --concurrent-serviceaccount-syncs

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.namespaces = ctx.informers.informer(NAMESPACES)
        self.accounts = ctx.informers.informer(SERVICEACCOUNTS)
        self.namespaces.add_event_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new))
        self.accounts.add_event_handler(on_delete=self._account_deleted)

    def _account_deleted(self, account: dict) -> None:
        if account["metadata"].get("name") in SERVICE_ACCOUNTS:
            self.queue.add(account["metadata"]["namespace"])

    async def sync(self, key: str) -> None:
        existing = {name for name in SERVICE_ACCOUNTS if self.accounts.store.get_by_name(key, name)}
        for name in missing_accounts(self.namespaces.store.get(key), existing):
            try:
                await self.client.create(SERVICEACCOUNTS, {"metadata": {"name": name}}, namespace=key)
            except errors.AlreadyExists:
                pass  # the cache lags our own or another manager's create
            except errors.Forbidden:
                pass  # the namespace started terminating meanwhile
