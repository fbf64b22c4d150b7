"""A reusable harness that runs tinykube "nodes" inside network namespaces the
test creates, so pod networking (bridges, veths, routes, nftables/iptables rules,
IP forwarding) is exercised for real without touching the machine's own network.

Layout of one run (every name carries the run's prefix, e.g. `tkn3f9a1c`):

    <prefix>-lan          a namespace holding bridge br0: the simulated node LAN,
                          198.18.0.0/24 (RFC 2544 benchmarking range), observer .1
    <prefix>-<node>       one per node: eth0 (veth into the LAN) with 198.18.0.N,
                          lo; NO default route, so nothing can leave the machine
    <prefix>-<node>-<pod> pod namespaces (created with tinykube's create_netns)

The agent's plugins and `ip` commands run inside the node namespace through
`NetworkSettings(host_netns=node.netns_path)`. Cleanup (always, even when a test
fails) kills the processes the harness started, deletes every namespace whose
name has the prefix (which removes all veths, bridges, routes and firewall rules
in them) and the temporary data dirs (IPAM allocations, cached results).

Use the `testnet` fixture (conftest.py) or `TestNetwork` directly:

    async def test_x(testnet):
        node = testnet.add_node("n1")
        settings = testnet.settings(node)          # NetworkSettings for this node
        pod_ns = await testnet.pod_netns(node, "p1")
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import tempfile

from tinykube.agent.network import NetworkSettings, create_netns

NETNS_DIR = "/run/netns"
PLUGIN_DIR = "/usr/lib/cni"
LAN = ipaddress.ip_network("198.18.0.0/24")
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
NEEDED_PLUGINS = ("bridge", "host-local", "portmap", "loopback")


def missing_prerequisites() -> str:
    """Why these tests cannot run here ("" when they can)."""
    if os.geteuid() != 0:
        return "needs root"
    tools = [t for t in ("ip", "nsenter", "busybox", "iptables") if not shutil.which(t)]
    plugins = [p for p in NEEDED_PLUGINS if not os.access(os.path.join(PLUGIN_DIR, p), os.X_OK)]
    if tools or plugins:
        return f"missing {' '.join(tools + plugins)} (scripts/install-deps.sh installs them)"
    return ""


def run(argv: list[str], *, check: bool = True, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


def in_netns(path: str, argv: list[str]) -> list[str]:
    return ["nsenter", f"--net={path}", "--", *argv]


class Node:
    def __init__(self, testnet: "TestNetwork", name: str, ip: str):
        self.testnet, self.name, self.ip = testnet, name, ip
        self.netns = f"{testnet.prefix}-{name}"
        self.netns_path = os.path.join(NETNS_DIR, self.netns)

    def run(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        return run(in_netns(self.netns_path, argv), **kw)

    def links(self) -> set[str]:
        return _link_names(self.run(["ip", "-o", "link", "show"]).stdout)


class TestNetwork:
    """One run's namespaces, processes and temporary dirs; `cleanup()` removes all."""

    __test__ = False  # not a pytest test class

    def __init__(self, prefix: str | None = None):
        self.prefix = prefix or f"tkn{secrets.token_hex(3)}"
        self.nodes: dict[str, Node] = {}
        self.processes: list[subprocess.Popen] = []
        self.tmpdirs: list[str] = []
        self.root_links_before = root_links()
        self.root_forwarding_before = root_forwarding()
        self.lan_path = self._add_netns("lan")
        self._ns_run(self.lan_path, ["ip", "link", "add", "br0", "type", "bridge"])
        self._ns_run(self.lan_path, ["ip", "addr", "add", f"{LAN[1]}/{LAN.prefixlen}", "dev", "br0"])
        self._ns_run(self.lan_path, ["ip", "link", "set", "br0", "up"])

    # -- building -----------------------------------------------------------------

    def add_node(self, name: str) -> Node:
        ip = str(LAN[10 + len(self.nodes)])
        node = Node(self, name, ip)
        self._add_netns(name)
        port = f"v{len(self.nodes)}"
        # Created inside the LAN namespace, peer moved straight into the node's:
        # at no moment does either end exist in the machine's root namespace.
        self._ns_run(self.lan_path, ["ip", "link", "add", port, "type", "veth", "peer", "name",
                                     "eth0", "netns", node.netns_path])
        self._ns_run(self.lan_path, ["ip", "link", "set", port, "master", "br0", "up"])
        node.run(["ip", "addr", "add", f"{ip}/{LAN.prefixlen}", "dev", "eth0"])
        node.run(["ip", "link", "set", "eth0", "up"])
        node.run(["ip", "link", "set", "lo", "up"])
        self.nodes[name] = node
        return node

    def _add_netns(self, name: str) -> str:
        run(["ip", "netns", "add", f"{self.prefix}-{name}"])
        return os.path.join(NETNS_DIR, f"{self.prefix}-{name}")

    def _ns_run(self, path: str, argv: list[str]) -> None:
        run(in_netns(path, argv))

    async def pod_netns(self, node: Node, pod: str) -> str:
        return await create_netns(os.path.join(NETNS_DIR, f"{node.netns}-{pod}"))

    def data_dir(self) -> str:
        path = tempfile.mkdtemp(prefix=f"{self.prefix}-data-")
        self.tmpdirs.append(path)
        return path

    def settings(self, node: Node, **overrides) -> NetworkSettings:
        """NetworkSettings for an agent whose host is `node`: its own data dir,
        plugins and routes in the node namespace, a bridge name with the prefix."""
        values = dict(data_dir=self.data_dir(), host_netns=node.netns_path,
                      bridge=f"{self.prefix}b", network_name=f"{self.prefix}-net",
                      plugin_dirs=(PLUGIN_DIR,), timeout=20.0)
        values.update(overrides)
        return NetworkSettings(**values)

    def spawn(self, netns_path: str, argv: list[str], **kw) -> subprocess.Popen:
        """Start a process inside a namespace; cleanup kills it (by its PID)."""
        proc = subprocess.Popen(in_netns(netns_path, argv), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, **kw)
        self.processes.append(proc)
        return proc

    # -- checks -------------------------------------------------------------------

    def netns_names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(f"{self.prefix}-"))
        except FileNotFoundError:
            return []

    def assert_root_untouched(self) -> None:
        """No interface of ours ever appears in the machine's root namespace."""
        new = root_links() - self.root_links_before
        ours = {n for n in new if self.prefix in n or n.startswith("veth")}
        assert not ours, f"interfaces created in the root namespace: {sorted(ours)}"
        # The bridge plugin turns forwarding on where it runs: the node's namespace.
        assert root_forwarding() == self.root_forwarding_before, "root ip_forward changed"

    # -- cleanup ------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Remove everything of this run; returns what could not be removed."""
        for proc in self.processes:
            _stop(proc)
        problems = [n for n in self.netns_names() if not _delete_netns(n)]
        for path in self.tmpdirs:
            shutil.rmtree(path, ignore_errors=True)
        return problems


def root_links() -> set[str]:
    return _link_names(run(["ip", "-o", "link", "show"]).stdout)


def root_forwarding() -> str:
    with open("/proc/sys/net/ipv4/ip_forward") as f:  # read in our (root) namespace
        return f.read().strip()


def _link_names(text: str) -> set[str]:
    # "3: name@peer: <FLAGS> ..." -> "name"
    return {line.split(":")[1].strip().split("@")[0] for line in text.splitlines() if ":" in line}


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)  # a process this harness started, by its PID
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _delete_netns(name: str) -> bool:
    if run(["ip", "netns", "delete", name], check=False).returncode == 0:
        return True
    path = os.path.join(NETNS_DIR, name)
    run(["umount", "-l", path], check=False)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return not os.path.exists(path)
