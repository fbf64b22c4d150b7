"""Cluster objects for the DNS tables (plain API dicts, as informers deliver them)."""

from tinykube.dns.cluster import ClusterData


def service(name, ns="default", *, cluster_ip="10.43.0.20", ports=(("http", 80, "TCP"),), **spec):
    body = {"clusterIP": cluster_ip, "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports]}
    if cluster_ip not in ("None", ""):
        body["clusterIPs"] = [cluster_ip]
    body.update(spec)
    return {"metadata": {"name": name, "namespace": ns}, "spec": body}


def endpoint_slice(service_name, endpoints, ns="default", *, name=None, ports=(("http", 8080, "TCP"),),
                   address_type="IPv4"):
    """endpoints: (address, hostname or None, ready)."""
    return {"metadata": {"name": name or f"{service_name}-abc", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": address_type,
            "endpoints": [{"addresses": [ip], **({"hostname": h} if h else {}), "conditions": {"ready": ready}}
                          for ip, h, ready in endpoints],
            "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports]}


def cluster() -> ClusterData:
    data = ClusterData(clock=lambda: 1000)
    for ns in ("default", "kube-system"):
        data.upsert("Namespace", {"metadata": {"name": ns}})
    data.upsert("Service", service("web"))
    data.upsert("Service", service("kube-dns", "kube-system", cluster_ip="10.43.0.10",
                                   ports=(("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"))))
    data.upsert("Service", service("v6", cluster_ip="fd00::20"))
    data.upsert("Service", service("db", cluster_ip="None", ports=(("pg", 5432, "TCP"),)))
    data.upsert("EndpointSlice", endpoint_slice("db", [("10.42.0.5", "db-0", True), ("10.42.0.6", None, True),
                                                       ("10.42.0.7", "db-2", False)],
                                                ports=(("pg", 5432, "TCP"),)))
    data.upsert("Service", service("empty", cluster_ip="None"))
    data.upsert("Service", service("ext", cluster_ip="", type="ExternalName", externalName="example.com."))
    data.upsert("Service", service("alias", cluster_ip="", type="ExternalName",
                                   externalName="web.default.svc.cluster.local"))
    data.upsert("EndpointSlice", endpoint_slice("web", [("10.42.0.9", None, True)]))
    return data
