"""A recording fake of NodeNetwork for the agent's unit tests: same methods, no
plugins, no root. It hands out addresses of the pod CIDR in order, remembers
attachments, records every call, and fails on demand."""

from __future__ import annotations

import ipaddress

from .errors import NetworkError
from .model import PodNetworkStatus
from .pods import sandbox_id_of


class FakeNodeNetwork:
    def __init__(self, pod_cidr: str = "10.42.0.0/24", interface: str = "eth0"):
        self._free = list(ipaddress.ip_network(pod_cidr).hosts())[1:]  # .1 is the gateway
        self._gateway = str(next(ipaddress.ip_network(pod_cidr).hosts()))
        self.interface = interface
        self.attached: dict[str, PodNetworkStatus] = {}
        self.calls: list[tuple[str, str]] = []  # (verb, sandbox id)
        self.fail: dict[str, Exception] = {}  # verb -> error raised by the next such call

    async def setup_pod_network(self, netns_path: str, pod: dict, *,
                                sandbox_id: str | None = None) -> PodNetworkStatus:
        sid = self._record("setup", pod, sandbox_id)
        if sid in self.attached and self.attached[sid].netns == netns_path:
            return self.attached[sid]
        if not self._free:
            raise NetworkError("no IP addresses left in the pod CIDR")
        ip = str(self._free.pop(0))
        status = PodNetworkStatus(sandbox_id=sid, netns=netns_path, interface=self.interface,
                                  ips=(ip,), gateways=(self._gateway,))
        self.attached[sid] = status
        return status

    async def teardown_pod_network(self, pod: dict | None = None, *, sandbox_id: str | None = None,
                                   netns_path: str = "") -> None:
        sid = self._record("teardown", pod, sandbox_id)
        status = self.attached.pop(sid, None)
        if status is not None:
            self._free.insert(0, ipaddress.ip_address(status.ip))

    async def check_pod_network(self, netns_path: str, pod: dict, *,
                                sandbox_id: str | None = None) -> None:
        sid = self._record("check", pod, sandbox_id)
        if sid not in self.attached:
            raise NetworkError(f"{sid} is not attached")

    def pod_network_status(self, sandbox_id: str) -> PodNetworkStatus | None:
        return self.attached.get(sandbox_id)

    async def gc(self, live_sandbox_ids) -> list[str]:
        self.calls.append(("gc", ""))
        stale = sorted(set(self.attached) - set(live_sandbox_ids))
        for sid in stale:
            await self.teardown_pod_network(sandbox_id=sid)
        return stale

    def _record(self, verb: str, pod: dict | None, sandbox_id: str | None) -> str:
        sid = sandbox_id or sandbox_id_of(pod)
        self.calls.append((verb, sid))
        if verb in self.fail:
            raise self.fail.pop(verb)
        return sid
