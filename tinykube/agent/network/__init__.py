"""Pod networking for the node agent: a CNI runtime and the node's pod network.

This package owns everything between a pod sandbox's network namespace and the
node: it runs standard CNI plugins (bridge, host-local, portmap, loopback from
containernetworking-plugins, or whatever the user's .conflist names) as a
spec-conformant CNI runtime (ADD/DEL/CHECK/VERSION, chaining, capability
arguments, results cached on disk so DEL works after an agent restart), writes the
node's default network configuration, creates and deletes pinned network
namespaces for sandboxes that need one, and installs unreachable routes for the
cluster and Service CIDRs so their traffic never leaves the host.

The agent uses `NodeNetwork` (manager.py) through the `PodNetworking` protocol;
its unit tests use `FakeNodeNetwork`. `CNIRuntime` (cni.py) is the libcni-like
layer underneath, usable on its own. Safety rules: docs in routes.py and
defaults.py; DESIGN.md section 6.
"""

from .cni import CNIRuntime
from .conflist import NetworkConfigList
from .defaults import NetworkSettings, default_network
from .errors import (CheckUnsupported, ConfigError, NetnsError, NetworkError, PluginError,
                     PluginNotFound, PluginTimeout, SafetyError)
from .fake import FakeNodeNetwork
from .host import HostNamespace
from .manager import NodeNetwork, PodNetworking
from .model import Attachment, PodNetworkStatus, PortMapping
from .netns import create_netns, delete_netns, is_netns, netns_path_for
from .routes import install_unreachable_routes, remove_unreachable_routes

__all__ = [
    "Attachment", "CNIRuntime", "CheckUnsupported", "ConfigError", "FakeNodeNetwork",
    "HostNamespace", "NetnsError", "NetworkConfigList", "NetworkError", "NetworkSettings",
    "NodeNetwork", "PluginError", "PluginNotFound", "PluginTimeout", "PodNetworkStatus",
    "PodNetworking", "PortMapping", "SafetyError", "create_netns", "default_network",
    "delete_netns", "install_unreachable_routes", "is_netns", "netns_path_for",
    "remove_unreachable_routes",
]
