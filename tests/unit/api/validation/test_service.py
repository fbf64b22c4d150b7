"""Services: ports, types, cluster IPs, affinity; clusterIP immutability on update."""

import pytest

from tinykube.api.errors import DUPLICATE, FORBIDDEN, INVALID, NOT_SUPPORTED, REQUIRED

from . import changed, check_create, check_status, check_update, service

DNS1035 = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character..."


@pytest.mark.parametrize("obj, expected", [
    (service(), []),
    (changed(service(), lambda o: o["metadata"].update(name="1web")),
     [(INVALID, "metadata.name", 'Invalid value: "1web": ' + DNS1035)]),
    (changed(service(), lambda o: o["metadata"].update(name="web.front")), [(INVALID, "metadata.name", 'Invalid value: "web.front": ...')]),
    (service(ports=[]), [(REQUIRED, "spec.ports", "")]),
    (service(ports=[], clusterIP="None"), []),
    (service(ports=[], type="ExternalName", externalName="db.example.com"), []),
    (service(ports=[{"port": 0, "protocol": "TCP"}]), [(INVALID, "spec.ports[0].port",
                                                         "Invalid value: 0: must be between 1 and 65535, inclusive")]),
    (service(ports=[{"port": 80, "protocol": "HTTP"}]), [(NOT_SUPPORTED, "spec.ports[0].protocol",
                                                          'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"')]),
    (service(ports=[{"port": 80, "name": "a"}, {"port": 81}]), [(REQUIRED, "spec.ports[1].name", "")]),
    (service(ports=[{"port": 80, "name": "a"}, {"port": 81, "name": "a"}]), [(DUPLICATE, "spec.ports[1].name", 'Duplicate value: "a"')]),
    (service(ports=[{"port": 80, "name": "A"}]), [(INVALID, "spec.ports[0].name", 'Invalid value: "A": ...')]),
    (service(ports=[{"port": 80, "targetPort": "http-web"}]), []),
    (service(ports=[{"port": 80, "targetPort": "HTTP"}]), [(INVALID, "spec.ports[0].targetPort", 'Invalid value: "HTTP": ...')]),
    (service(ports=[{"port": 80, "targetPort": 70000}]), [(INVALID, "spec.ports[0].targetPort",
                                                           "Invalid value: 70000: must be between 1 and 65535, inclusive")]),
    (service(ports=[{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]), [(DUPLICATE, "spec.ports[1]", "Duplicate value: core.ServicePort{...")]),
    (service(ports=[{"port": 80, "nodePort": 30080}]), [(FORBIDDEN, "spec.ports[0].nodePort",
                                                         "Forbidden: may not be used when `type` is 'ClusterIP'")]),
    (service(type="NodePort", ports=[{"port": 80, "nodePort": 30080}]), []),
    (service(type="Headless"), [(NOT_SUPPORTED, "spec.type", 'Unsupported value: "Headless": supported values: '
                                 '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"')]),
    (service(type="ExternalName", ports=[]), [(REQUIRED, "spec.externalName", "")]),
    (service(type="ExternalName", externalName="Bad_Host"), [(INVALID, "spec.externalName", 'Invalid value: "Bad_Host": ...')]),
    (service(type="ExternalName", externalName="db.example.com.", clusterIP="10.43.0.9"),
     [(FORBIDDEN, "spec.clusterIPs", "Forbidden: may not be set for ExternalName services")]),
    (service(type="NodePort", clusterIP="None"), [(INVALID, "spec.clusterIPs[0]",
                                                   "Invalid value: \"None\": may not be set to 'None' for NodePort services")]),
    (service(sessionAffinity="Sticky"), [(NOT_SUPPORTED, "spec.sessionAffinity",
                                          'Unsupported value: "Sticky": supported values: "ClientIP", "None"')]),
    (service(sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 0}}),
     [(INVALID, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "Invalid value: 0: must be greater than 0 and less than 86400")]),
    (service(sessionAffinityConfig={"clientIP": {"timeoutSeconds": 10}}),
     [(FORBIDDEN, "spec.sessionAffinityConfig", "Forbidden: must not be set when session affinity is None")]),
    (service(selector={"app": "web", "bad key": "x"}), [(INVALID, "spec.selector", 'Invalid value: "bad key": ...')]),
    (service(clusterIP="10.43.0.999"), [(INVALID, "spec.clusterIPs[0]", 'Invalid value: "10.43.0.999": must be a valid IP address...')]),
    (service(clusterIP="10.43.0.9", clusterIPs=["10.43.0.8"]), [(INVALID, "spec.clusterIPs",
        'Invalid value: []string{"10.43.0.8"}: first value must match `clusterIP`')]),
    (service(clusterIP="10.43.0.9", clusterIPs=["10.43.0.9", "10.43.0.10"]), [(INVALID, "spec.clusterIPs",
        'Invalid value: []string{"10.43.0.9", "10.43.0.10"}: may specify no more than one IP for each IP family')]),
    (service(clusterIP="10.43.0.9", ipFamilies=["IPv6"]), [(INVALID, "spec.clusterIPs[0]",
        'Invalid value: "10.43.0.9": expected an IPv6 value as indicated by `ipFamilies[0]`')]),
    (service(externalIPs=["127.0.0.1"]), [(INVALID, "spec.externalIPs[0]",
        'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)')]),
    (service(externalTrafficPolicy="Local"), [(INVALID, "spec.externalTrafficPolicy",
        'Invalid value: "Local": may only be set for externally-accessible services')]),
    (service(loadBalancerSourceRanges=["10.0.0.0/8"]), [(FORBIDDEN, "spec.LoadBalancerSourceRanges",
        "Forbidden: may only be used when `type` is 'LoadBalancer'")]),
    (service(type="LoadBalancer", loadBalancerSourceRanges=["10.0.0/8"]), [(INVALID, "spec.LoadBalancerSourceRanges[0]",
        'Invalid value: "10.0.0/8": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)')]),
])
def test_service_create(obj, expected):
    check_create("Service", obj, expected)


@pytest.mark.parametrize("old_spec, new_spec, expected", [
    ({"clusterIP": "10.43.0.9"}, {"clusterIP": "10.43.0.9"}, []),
    ({"clusterIP": "10.43.0.9"}, {}, []),
    ({"clusterIP": "10.43.0.9", "clusterIPs": ["10.43.0.9"]}, {"clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"]},
     [(INVALID, "spec.clusterIPs[0]", 'Invalid value: []string{"10.43.0.10"}: may not change once set')]),
    ({"clusterIP": "10.43.0.9"}, {"type": "ExternalName", "externalName": "db.example.com", "ports": []}, []),
    ({"clusterIP": "None"}, {"clusterIP": "None", "ports": []}, []),
])
def test_cluster_ip_is_immutable(old_spec, new_spec, expected):
    old = service(**old_spec)
    check_update("Service", service(**new_spec), old, expected)


def test_status_load_balancer_ingress():
    old = service(type="LoadBalancer")
    ok = changed(old, lambda o: o.__setitem__("status", {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}))
    check_status("Service", ok, old, [])
    bad = changed(old, lambda o: o.__setitem__("status", {"loadBalancer": {"ingress": [{"ip": "x"}]}}))
    check_status("Service", bad, old, [(INVALID, "status.loadBalancer.ingress[0].ip", 'Invalid value: "x": ...')])
    cluster_ip = service()
    check_status("Service", changed(cluster_ip, lambda o: o.__setitem__("status", ok["status"])), cluster_ip,
                 [(FORBIDDEN, "status.loadBalancer.ingress", "Forbidden: may only be used when `spec.type` is 'LoadBalancer'")])
