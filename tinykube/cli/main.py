"""The `tinykube` command.

  tinykube server --data-dir DIR [--port N]   the control plane (API server + storage)
  tinykube up     [--data-dir DIR] [--port N] the whole cluster in one process
  tinykube agent  --server URL --token T [--ca-file F] --data-dir DIR   a node agent
  tinykube down   [--data-dir DIR]            stop a stopped node's pods, remove its network
  tinykube scheduler --kubeconfig F            the scheduler in its own process
  tinykube controller-manager --kubeconfig F   the controllers in their own process
  tinykube image import FILE | ls | rm REF | pull REF [--data-dir DIR]
  tinykube version
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from tinykube import __version__
from tinykube.util import gctune

DEFAULT_DATA_DIR = "/var/lib/tinykube"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["image"]:  # the image store has its own argument parser
        from tinykube.agent.images import cli as image_cli

        return image_cli.main(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("TINYKUBE_LOG", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "version":
        print(f"tinykube {__version__}")
        return 0
    if args.command == "agent":
        return _run_agent(args)
    if args.command == "down":
        return _run_loop(_down(args))
    if problem := _check_scheduler_config(args):
        print(f"tinykube {args.command}: {problem}", file=sys.stderr)
        return 2
    if args.command in STANDALONE:
        return _run_standalone(args)
    return _run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinykube", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("server", "run the control plane"),
                            ("up", "run the whole cluster in one process")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
        cmd.add_argument("--host", default="127.0.0.1", help="address to listen on")
        cmd.add_argument("--port", type=int, default=6443)
        cmd.add_argument("--compaction-interval", type=float, default=300.0,
                         help="seconds between store compactions (history kept at least this long)")
        cmd.add_argument("--watch-history", type=float, default=300.0,
                         help="seconds of events the watch cache keeps for resuming watches")
        cmd.add_argument("--sqlite-synchronous", choices=("FULL", "NORMAL"), default="FULL",
                         help="NORMAL is faster but may lose the last writes on power loss")
        cmd.add_argument("--disable-scheduler", action="store_true",
                         help="do not run the scheduler here (run `tinykube scheduler` instead)")
        cmd.add_argument("--disable-controller-manager", action="store_true",
                         help="do not run the controllers here (run `tinykube controller-manager` instead)")
        _controller_manager_flags(cmd)
        _scheduler_flags(cmd)
        _service_flags(cmd)
        if name == "up":
            _agent_flags(cmd)
    agent = sub.add_parser("agent", help="run a node agent (tinykube's kubelet)")
    agent.add_argument("--server", required=True, help="the API server URL")
    agent.add_argument("--token", required=True, help="the cluster token (DATA/token on the server)")
    agent.add_argument("--ca-file", default="", help="the cluster CA (DATA/pki/ca.crt on the server)")
    agent.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    _agent_flags(agent)
    for name, help_text in (("scheduler", "run the scheduler in its own process (as kube-scheduler)"),
                            ("controller-manager", "run the controllers in their own process "
                                                   "(as kube-controller-manager)")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--kubeconfig", required=True, help="how to reach the API server "
                         "(DATA/kubeconfig.yaml of `tinykube server`)")
        cmd.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help=argparse.SUPPRESS)
        (_scheduler_flags if name == "scheduler" else _controller_manager_flags)(cmd)
    down = sub.add_parser("down", help="after `up` or `agent` stopped: stop the node's pods and remove "
                                       "its network (k3s-killall); the cluster's objects are kept")
    down.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    # the node's network flags of `up`/`agent`, with their defaults: give the same values
    _node_network_flags(down)
    _dns_interface_flag(down)
    _proxy_flags(down)
    sub.add_parser("image", help="import, list, remove or pull images in the node's store")
    sub.add_parser("version", help="print the version")
    return parser


def _controller_manager_flags(cmd) -> None:
    cmd.add_argument("--default-toleration-seconds", type=int, default=300,
                     help="tolerationSeconds of the not-ready/unreachable tolerations added to pods")
    cmd.add_argument("--node-monitor-grace-period", type=float, default=50.0,
                     help="seconds without a Lease renewal before a node is NotReady (Unknown)")
    cmd.add_argument("--disable-controllers", default="",
                     help="comma-separated controllers not to run (e.g. replicaset,deployment)")


def _scheduler_flags(cmd) -> None:
    cmd.add_argument("--scheduler-config", default="",
                     help="YAML choosing the scheduler's filter/score plugins (docs/scheduler.md)")


def _agent_flags(cmd) -> None:
    cmd.add_argument("--node-name", default="", help="default: the host name")
    cmd.add_argument("--node-ip", default="", help="the address the node reports")
    _node_network_flags(cmd)
    cmd.add_argument("--simulate", type=int, default=0, metavar="N",
                     help="also register N simulated nodes that run pods on paper (as kwok)")
    cmd.add_argument("--simulate-only", action="store_true",
                     help="run only the simulated nodes, not the real node agent (no root needed)")
    cmd.add_argument("--simulate-cpu", type=int, default=32, help="cpus of each simulated node")
    cmd.add_argument("--simulate-memory", default="256Gi", help="memory of each simulated node")
    cmd.add_argument("--simulate-pods", type=int, default=110, help="max pods of each simulated node")
    cmd.add_argument("--simulate-lease-interval", type=float, default=10.0,
                     help="seconds between Lease renewals of each simulated node")
    cmd.add_argument("--container-log-max-size", default="10Mi", type=_log_max_size,
                     help="rotate a container's log when it grows past this (a quantity, e.g. 10Mi)")
    cmd.add_argument("--container-log-max-files", default=5, type=_log_max_files,
                     help="log files kept per container, the current one included (at least 2)")
    cmd.add_argument("--kubelet-address", default="",
                     help="the kubelet API's listen and advertised address (default: the node IP)")
    cmd.add_argument("--kubelet-port", type=int, default=10250, help="the kubelet API's port (0: a free one)")
    _dns_flags(cmd)
    _proxy_flags(cmd)


def _node_network_flags(cmd) -> None:
    cmd.add_argument("--pod-cidr", default="10.42.0.0/24", help="this node's pod addresses")
    cmd.add_argument("--host-netns", default="", help="run pod networking in this network namespace")
    cmd.add_argument("--bridge", default="tinykube0", help="the pod bridge's name")


def _service_flags(cmd) -> None:
    """The API server's Service networking (apiserver/allocators.py, apiserver/services.py)."""
    cmd.add_argument("--service-cidr", default="10.43.0.0/16", help="the range ClusterIPs are allocated from")
    cmd.add_argument("--service-node-port-range", default="30000-32767", help="the range of NodePorts")
    cmd.add_argument("--cluster-dns", default="10.43.0.10", help="the kube-dns Service's ClusterIP")
    cmd.add_argument("--cluster-cidr", default="10.42.0.0/16", help="every node's pod CIDR lies in it")


def _proxy_flags(cmd) -> None:
    """The node's service proxy (proxy/)."""
    for flag, default, text in (("--service-cidr", "10.43.0.0/16", "the ClusterIP range"),
                                ("--cluster-cidr", "10.42.0.0/16", "every node's pod CIDR lies in it")):
        if flag not in cmd._option_string_actions:  # `up` has them from the control plane's flags
            cmd.add_argument(flag, default=default, help=text)
    cmd.add_argument("--proxy-table", default="tinykube", help="the service proxy's nftables table (ip family)")


def _dns_flags(cmd) -> None:
    """The node's cluster DNS: written into pods' resolv.conf and served on the node."""
    def add_once(flag: str, **kw) -> None:  # `up` may have it already from the control plane's flags
        if flag not in cmd._option_string_actions:
            cmd.add_argument(flag, **kw)

    add_once("--cluster-dns", default="10.43.0.10", help="the cluster DNS address (in the service CIDR)")
    add_once("--cluster-domain", default="cluster.local", help="the cluster's DNS domain")
    cmd.add_argument("--dns-upstream", default="",
                     help="comma-separated resolvers (IP[:PORT]) for names outside the cluster "
                          "(default: the node's /etc/resolv.conf)")
    _dns_interface_flag(cmd)


def _dns_interface_flag(cmd) -> None:
    cmd.add_argument("--dns-interface", default="tinykube-dns",
                     help="the dummy interface holding the cluster DNS address on the node")


def _log_max_size(text: str) -> int:
    from tinykube.api.validation.quantity import parse_quantity

    try:
        size = int(parse_quantity(text))
    except Exception:
        raise argparse.ArgumentTypeError(f"invalid quantity {text!r}") from None
    if size <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return size


def _log_max_files(text: str) -> int:
    if not text.isdigit() or int(text) < 2:
        raise argparse.ArgumentTypeError("must be an integer of at least 2")
    return int(text)


def _agent_config(args, client, data_dir: str):
    from tinykube.agent.agent import AgentConfig

    return AgentConfig(data_dir=data_dir, client=client, node_name=args.node_name,
                       node_ip=args.node_ip, pod_cidr=args.pod_cidr, host_netns=args.host_netns,
                       bridge=args.bridge, container_log_max_size=args.container_log_max_size,
                       container_log_max_files=args.container_log_max_files,
                       cluster_dns=args.cluster_dns, cluster_domain=args.cluster_domain,
                       kubelet_address=args.kubelet_address, kubelet_port=args.kubelet_port,
                       ca_file=getattr(args, "ca_file", "") or "")


def _install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is an optimisation, not a requirement
        pass


def _run_agent(args) -> int:
    from tinykube.client import ApiClient

    data_dir = os.path.abspath(args.data_dir)

    async def serve() -> None:
        async with ApiClient.from_token(args.server, args.token, ca_file=args.ca_file,
                                        user_agent="tinykube-agent") as client:
            await _until_signal(gctune.run(), *(factory(client, args, data_dir) for _, factory in _node_side(args)))

    return _run_loop(serve())


async def _down(args) -> None:
    """`tinykube down`: what a stopped node left (its pods, their network, the node's
    routes, tables, bridge and interfaces); the service proxy and cluster DNS remove their
    own at a clean stop, and are removed here too in case the process was killed."""
    from tinykube.agent.network import NetworkSettings
    from tinykube.agent.teardown import NodeBusy, tear_down
    from tinykube.dns.server import remove_dns_interface
    from tinykube.proxy.nft import Host, NodeSetup

    data_dir = os.path.abspath(args.data_dir)
    if not os.path.isdir(data_dir):
        print(f"tinykube down: no node ran on {data_dir}: nothing to remove")
        return
    settings = NetworkSettings(data_dir, pod_cidr=args.pod_cidr, cluster_cidr=args.cluster_cidr,
                               service_cidr=args.service_cidr, host_netns=args.host_netns, bridge=args.bridge)
    try:
        report = await tear_down(settings)
    except NodeBusy as exc:
        raise SystemExit(f"tinykube down: {exc}") from None
    await NodeSetup(Host(args.host_netns), table=args.proxy_table, service_cidr=args.service_cidr).remove()
    await remove_dns_interface(args.host_netns, args.dns_interface)
    print(f"tinykube down: {len(report.pods)} pod(s) stopped and removed"
          + (f", bridge {args.bridge} deleted" if report.bridge else "")
          + "; routes, nftables tables and interfaces removed. The objects stay in "
          + f"{data_dir}: the next `tinykube up` starts the pods again.")
    for problem in report.problems:
        print(f"tinykube down: could not remove {problem}", file=sys.stderr)
    if report.problems:
        raise SystemExit(1)


def _run_loop(main) -> int:
    """Run a process's main coroutine on uvloop (if installed) until it returns."""
    _install_uvloop()
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        pass
    return 0


async def _until_signal(*coroutines) -> None:
    """Run the coroutines until SIGTERM/SIGINT (or until one fails), then cancel them all
    and wait until every one has finished its cleanup (a scheduler releases its Lease, an
    agent stops its work) before the caller closes the API client they share. A plain
    gather would return as soon as the first of them was cancelled."""
    loop = asyncio.get_running_loop()
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*tasks, stopping):
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            raise result


def _run(args) -> int:
    from tinykube.apiserver.server import ApiServer, ServerConfig

    config = ServerConfig(data_dir=os.path.abspath(args.data_dir), host=args.host, port=args.port,
                          compaction_interval=args.compaction_interval,
                          watch_history_seconds=args.watch_history,
                          sqlite_synchronous=args.sqlite_synchronous,
                          service_cidr=args.service_cidr, node_port_range=args.service_node_port_range,
                          cluster_dns=args.cluster_dns,
                          default_toleration_seconds=args.default_toleration_seconds)
    return _run_loop(_serve(ApiServer(config), args))


async def _serve(server, args) -> None:
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, main_task.cancel)
    run = asyncio.create_task(server.run())
    ready = asyncio.create_task(server.ready.wait())
    done, _ = await asyncio.wait({run, ready}, return_when=asyncio.FIRST_COMPLETED)
    serving = [run, asyncio.create_task(gctune.run())]
    components = []
    if ready in done:
        _announce(server, args.command)
        components += [asyncio.create_task(_component(name, server, factory, args))
                       for name, factory in _control_plane(args)]
        if args.command == "up":
            components += [asyncio.create_task(_component(name, server, factory, args))
                           for name, factory in _node_side(args)]
    try:
        # until the API server stops (a failure) or a signal; asyncio.wait, not gather: a
        # cancelled gather would cancel the server together with the components
        await asyncio.wait(serving, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        pass
    # the components first, while the API server still answers: they release their Leases
    # and the node's pods keep running (a second signal stops waiting for them)
    await _cancel_all(components, timeout=COMPONENT_STOP_SECONDS)
    await _cancel_all(serving)
    if not run.cancelled() and run.exception() is not None:
        raise run.exception()


COMPONENT_STOP_SECONDS = 30.0


async def _cancel_all(tasks: list[asyncio.Task], timeout: float | None = None) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        done, _ = await asyncio.wait(tasks, timeout=timeout)
        for task in done:  # retrieved, so that asyncio does not warn about them
            if not task.cancelled():
                task.exception()


# --- the components each process shape runs -------------------------------------------
# A factory takes (client, args, data_dir) and returns the component's run() coroutine.
# In `server` and `up` each component gets its own client of the in-process API server,
# over HTTPS like any other client; `tinykube agent` runs the node side with its token.

def _controller_manager(client, args, data_dir):
    from tinykube.controllers.base import ControllerOptions
    from tinykube.controllers.manager import ControllerManager

    disabled = frozenset(n for n in (getattr(args, "disable_controllers", "") or "").split(",") if n)
    options = ControllerOptions(node_monitor_grace_period=args.node_monitor_grace_period,
                                default_toleration_seconds=args.default_toleration_seconds)
    return ControllerManager(client, options=options, disabled=disabled).run()


def _node_agent(client, args, data_dir):
    from tinykube.agent.agent import Agent

    # one data dir for the node: `tinykube image import` finds it by default
    return Agent(_agent_config(args, client, data_dir)).run()


def _node_dns(client, args, data_dir):
    from tinykube.dns.server import DnsConfig, NodeDns

    config = DnsConfig(cluster_dns=args.cluster_dns, cluster_domain=args.cluster_domain,
                       netns_path=args.host_netns, interface=args.dns_interface,
                       upstreams=tuple(u for u in args.dns_upstream.split(",") if u))
    return NodeDns(client, config).run()


def _scheduler(client, args, data_dir):
    from tinykube.scheduler import config
    from tinykube.scheduler.scheduler import Scheduler

    path = getattr(args, "scheduler_config", "")
    return Scheduler(client, config=config.load(path) if path else None).run()


def _check_scheduler_config(args) -> str:
    """What is wrong with --scheduler-config (unknown plugins, refused pluginArgs), said
    before anything starts; "" when nothing is."""
    path = getattr(args, "scheduler_config", "")
    if not path:
        return ""
    from tinykube.scheduler import config

    try:
        config.instantiate(config.load(path))
    except (config.ConfigError, OSError) as exc:
        return f"--scheduler-config {path}: {exc}"
    return ""


STANDALONE = {"scheduler": _scheduler, "controller-manager": _controller_manager}


def _control_plane(args) -> list[tuple[str, object]]:
    """What `server` and `up` run beside the API server (unless run in their own process)."""
    disabled = {"scheduler"} if getattr(args, "disable_scheduler", False) else set()
    if getattr(args, "disable_controller_manager", False):
        disabled.add("controller-manager")
    return [(name, factory) for name, factory in STANDALONE.items() if name not in disabled]


def _run_standalone(args) -> int:
    """`tinykube scheduler` / `tinykube controller-manager`: one control-plane component in
    its own process (its own core: Python runs one thread at a time per process), talking to
    the API server like any client. Leader election lets several run side by side."""
    from tinykube.client import ApiClient

    factory = STANDALONE[args.command]

    async def serve() -> None:
        async with ApiClient.from_kubeconfig(args.kubeconfig, user_agent=f"tinykube-{args.command}") as client:
            await _until_signal(gctune.run(), factory(client, args, os.path.abspath(args.data_dir)))

    return _run_loop(serve())


def _simulated_nodes(client, args, data_dir):
    from tinykube.agent.simulated import SimulatedConfig, SimulatedNodes

    config = SimulatedConfig(count=args.simulate, prefix=args.node_name, cpu=args.simulate_cpu,
                             memory=args.simulate_memory, max_pods=args.simulate_pods,
                             lease_interval=args.simulate_lease_interval)
    return SimulatedNodes(client, config).run()


def _node_proxy(client, args, data_dir):
    import socket

    from tinykube.proxy.proxier import Proxier

    return Proxier(client, node_name=args.node_name or socket.gethostname().lower(), table=args.proxy_table,
                   netns=args.host_netns, cluster_cidr=args.cluster_cidr, service_cidr=args.service_cidr).run()


def _node_side(args) -> list[tuple[str, object]]:
    """What `up` and `agent` run on a node."""
    simulated = [("simulated-nodes", _simulated_nodes)] if getattr(args, "simulate", 0) > 0 else []
    if getattr(args, "simulate_only", False):
        return simulated
    return [("agent", _node_agent), ("dns", _node_dns), ("proxy", _node_proxy)] + simulated


async def _component(name: str, server, factory, args) -> None:
    """Run one component with its own client. If it fails (no runc, not root, a bug),
    it is logged and the API server keeps serving."""
    from tinykube.client import ApiClient

    try:
        async with ApiClient.from_kubeconfig(server.kubeconfig_path, user_agent=f"tinykube-{name}") as client:
            await factory(client, args, server.config.data_dir)
    except asyncio.CancelledError:
        raise
    except Exception:
        logging.getLogger("tinykube").exception("%s stopped; the API server keeps serving", name)


def _announce(server, command: str) -> None:
    what = "tinykube cluster" if command == "up" else "tinykube API server"
    print(f"{what} is ready at {server.url}\n"
          f"  kubeconfig: {server.kubeconfig_path}\n"
          f"  use it:     export KUBECONFIG={server.kubeconfig_path}; kubectl get namespaces",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
