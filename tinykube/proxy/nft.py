"""The proxy's side effects: nft, sysctls and the Service route, in the node's namespace.

`Host(netns)` runs commands in the node's network namespace (`nsenter --net=PATH`, the
agent's --host-netns) or in this process's own. `NodeSetup` prepares what the rules need:
- net.ipv4.conf.all.route_localnet=1, so NodePorts answer on 127.0.0.1 (as kube-proxy);
- net.bridge.bridge-nf-call-iptables=1 where br_netfilter exists, so a reply from a pod
  to a pod on the same bridge (bridged, not routed) passes conntrack and is un-DNATed;
- a dummy interface (a bridge with no port where the kernel has no dummy driver) routing
  the service CIDR: the agent installs an unreachable route for
  the service CIDR (nothing may leave the host), which would make the node's own connects
  to a ClusterIP fail before any nftables hook; a route through a dummy interface wins
  over it (lower metric), lets the output hook DNAT, and drops anything not rewritten —
  it never leaves the machine (what kube-proxy's IPVS mode does with kube-ipvs0).
`RecordingHost` is the fake for tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

log = logging.getLogger(__name__)

ROUTE_PROTO = 85  # our routes' tag; the agent's unreachable routes use 84


class CommandError(Exception):
    pass


class Host:
    def __init__(self, netns: str = ""):
        self.netns = netns

    def argv(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--net={self.netns}", "--", *argv] if self.netns else argv

    async def run(self, argv: list[str], stdin: str = "", check: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            *self.argv(argv), stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await proc.communicate(stdin.encode() if stdin else None)
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            # the command exited before reading its input (uvloop raises RuntimeError)
            out, err = b"", b"its input could not be written"
            await proc.wait()
        if check and proc.returncode != 0:
            raise CommandError(f"{' '.join(argv[:3])}: exit {proc.returncode}: {err.decode(errors='replace').strip()}")
        return out.decode(errors="replace")

    async def nft(self, script: str) -> None:
        await self.run(["nft", "-f", "-"], stdin=script)

    async def write_sysctl(self, path: str, value: str) -> bool:
        """Write /proc/sys/PATH inside the namespace; False when it does not exist."""
        script = f'[ -e "/proc/sys/{path}" ] && echo {value} > "/proc/sys/{path}"'
        try:
            await self.run(["sh", "-c", script])
            return True
        except CommandError:
            return False


class RecordingHost(Host):
    """Records scripts and commands instead of running them."""

    def __init__(self):
        super().__init__("")
        self.scripts: list[str] = []
        self.commands: list[list[str]] = []

    async def run(self, argv: list[str], stdin: str = "", check: bool = True) -> str:
        self.commands.append(argv)
        if argv[:2] == ["nft", "-f"]:
            self.scripts.append(stdin)
        return ""


def dummy_name(table: str) -> str:
    return "tksvc" + hashlib.sha1(table.encode()).hexdigest()[:10]


class NodeSetup:
    def __init__(self, host: Host, *, table: str, service_cidr: str):
        self.host, self.table, self.service_cidr = host, table, service_cidr
        self.interface = dummy_name(table)

    async def install(self) -> None:
        if not await self.host.write_sysctl("net/ipv4/conf/all/route_localnet", "1"):
            log.warning("proxy: cannot set route_localnet; NodePorts will not answer on 127.0.0.1")
        if not await self.host.write_sysctl("net/bridge/bridge-nf-call-iptables", "1"):
            log.warning("proxy: no br_netfilter; pod->Service->pod on one bridge needs it")
        try:
            await self._route()
        except CommandError as e:
            log.warning("proxy: no route for the service CIDR (%s); the node itself cannot reach "
                        "ClusterIPs, pods and NodePorts still work", e)

    async def _route(self) -> None:
        exists = await self.host.run(["ip", "link", "show", self.interface], check=False)
        if not exists:
            # a dummy interface; kernels without the dummy driver get a bridge with no port
            for kind in ("dummy", "bridge"):
                try:
                    await self.host.run(["ip", "link", "add", self.interface, "type", kind])
                    break
                except CommandError:
                    continue
        await self.host.run(["ip", "link", "set", self.interface, "up"])
        await self.host.run(["ip", "route", "replace", self.service_cidr, "dev", self.interface,
                             "proto", str(ROUTE_PROTO)])

    async def remove(self) -> None:
        await self.host.run(["nft", "delete", "table", "ip", self.table], check=False)
        await self.host.run(["ip", "link", "delete", self.interface], check=False)
