"""Table tests: pod hostname, /etc/hosts, /etc/hostname, /etc/resolv.conf contents."""

import pytest

from tinykube.agent.runtime import CreateContainerConfigError
from tinykube.agent.runtime.etcfiles import (host_network_hosts_file,
                                             hostname_file, hosts_file, pod_hostname, resolv_conf,
                                             uts_hostname)

HEADER = """# Kubernetes-managed hosts file.
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
fe00::0\tip6-mcastprefix
fe00::1\tip6-allnodes
fe00::2\tip6-allrouters
"""


def pod(name="web-0", **spec):
    return {"metadata": {"name": name, "namespace": "shop"}, "spec": spec}


@pytest.mark.parametrize("the_pod,expected", [
    (pod(), ("web-0", "")),
    (pod(hostname="db"), ("db", "")),
    (pod(hostname="db", subdomain="backend"), ("db", "backend.shop.svc.cluster.local")),
    (pod("a" * 70), ("a" * 63, "")),
    (pod("a" * 61 + "-.b" + "c" * 5), ("a" * 61, "")),  # cut at 63, trailing '-' '.' trimmed
])
def test_pod_hostname(the_pod, expected):
    assert pod_hostname(the_pod) == expected


def test_uts_hostname_with_set_hostname_as_fqdn():
    assert uts_hostname(pod(hostname="db", subdomain="backend")) == "db"
    fqdn = pod(hostname="db", subdomain="backend", setHostnameAsFQDN=True)
    assert uts_hostname(fqdn) == "db.backend.shop.svc.cluster.local"
    too_long = pod(hostname="h" * 40, subdomain="s" * 10, setHostnameAsFQDN=True)
    with pytest.raises(CreateContainerConfigError, match="64 characters is the max, 74 characters requested"):
        uts_hostname(too_long)


def test_hosts_file():
    assert hosts_file(pod_ips=["10.42.0.7"], hostname="web-0") == HEADER + "10.42.0.7\tweb-0\n"
    assert hosts_file(pod_ips=["10.42.0.7", "fd00::7"], hostname="db", domain="backend.shop.svc.cluster.local") == (
        HEADER + "10.42.0.7\tdb.backend.shop.svc.cluster.local\tdb\nfd00::7\tdb.backend.shop.svc.cluster.local\tdb\n")
    aliases = [{"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]}, {"ip": "10.1.2.3", "hostnames": ["baz"]}]
    assert hosts_file(pod_ips=[], hostname="x", host_aliases=aliases) == (
        HEADER + "\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tbaz\n")


def test_host_network_hosts_file():
    node = "127.0.0.1 localhost\n"
    assert host_network_hosts_file(node) == "# Kubernetes-managed hosts file (host network).\n" + node


def test_hostname_file():
    assert hostname_file("web-0") == "web-0\n"


def test_resolv_conf():
    assert resolv_conf() == ""
    assert resolv_conf(nameservers=["10.43.0.10"], searches=["a", "b"], options=["ndots:5"]) == (
        "nameserver 10.43.0.10\nsearch a b\noptions ndots:5\n")
