"""Server-side printing: Table shape and the cells of every kind, against the values
Kubernetes 1.32's printers produce for the same objects."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tinykube.api import printers
from tinykube.api.printers_fmt import human_duration, selector_string
from tinykube.api.registry import REGISTRY, ResourceType

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def ago(**delta) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rt(kind: str, group: str = "", version: str = "v1") -> ResourceType:
    found = REGISTRY.by_kind(group, version, kind)
    assert found is not None
    return found


def cells(kind: str, obj: dict, group: str = "", version: str = "v1") -> list:
    return printers.table(rt(kind, group, version), [obj], now=NOW)["rows"][0]["cells"]


def named(obj: dict, name: str = "x", age_minutes: int = 5) -> dict:
    meta = {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=age_minutes)}
    return {"metadata": meta, **obj}


# --- HumanDuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds,text",
    [
        (-3, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (8 * 3600 + 59 * 60, "8h"),
        (47 * 3600, "47h"),
        (51 * 3600, "2d3h"),
        (48 * 3600, "2d"),
        (8 * 86400, "8d"),
        (400 * 86400, "400d"),
        (730 * 86400, "2y"),
        (800 * 86400, "2y70d"),
        (3000 * 86400, "8y"),
    ],
)
def test_printer_human_duration(seconds, text):
    assert human_duration(seconds) == text


# --- Table shape ----------------------------------------------------------------------


def test_printer_table_shape_and_list_metadata():
    pod = named({"spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}})
    table = printers.table(rt("Pod"), [pod], now=NOW, resource_version="42", continue_token="abc", remaining=3)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "abc", "remainingItemCount": 3}
    name_col = table["columnDefinitions"][0]
    assert name_col["name"] == "Name" and name_col["format"] == "name" and name_col["priority"] == 0
    assert name_col["description"].startswith("Name must be unique within a namespace.")
    assert set(name_col) == {"name", "type", "format", "description", "priority"}
    row = table["rows"][0]
    partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pod["metadata"]}
    assert row["object"] == partial
    # Cells always carry the wide columns; kubectl hides priority-1 ones itself.
    assert len(row["cells"]) == len(table["columnDefinitions"])


def test_printer_table_include_object_and_no_headers():
    pod = named({"spec": {}, "status": {}})
    full = printers.table(rt("Pod"), [pod], now=NOW, include_object="Object")
    assert full["rows"][0]["object"] is pod
    bare = printers.table(rt("Pod"), [pod], now=NOW, include_object="None", no_headers=True)
    assert "object" not in bare["rows"][0] and bare["columnDefinitions"] is None
    assert printers.table(rt("Pod"), [], now=NOW)["rows"] == []


@pytest.mark.parametrize(
    "kind,group,names",
    [
        ("Pod", "", ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]),
        ("Service", "", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]),
        ("Deployment", "apps", ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"]),
        ("Job", "batch", ["Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]),
        ("Node", "", ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image",
                      "Kernel-Version", "Container-Runtime"]),
        ("Event", "", ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen",
                       "Count", "Name"]),
    ],
)
def test_printer_column_names(kind, group, names):
    cols = printers.column_definitions(rt(kind, group))
    assert [c["name"] for c in cols] == names


def test_printer_wide_priorities():
    prio = {c["name"]: c["priority"] for c in printers.column_definitions(rt("Pod"))}
    assert [n for n, p in prio.items() if p == 1] == ["IP", "Node", "Nominated Node", "Readiness Gates"]
    event = {c["name"]: (c["priority"], c["format"]) for c in printers.column_definitions(rt("Event"))}
    assert event["Name"] == (1, "name") and event["Message"] == (0, "")


def test_printer_every_registered_kind_prints():
    for resource in REGISTRY.resources:
        table = printers.table(resource, [named({})], now=NOW)
        assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"]), resource.kind


def test_printer_generic_fallback():
    widget = ResourceType("example.com", "v1", "Widget", "widgets")
    table = printers.table(widget, [named({}, "w1", age_minutes=3)], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["w1", "3m"]


def test_printer_age_unknown_without_timestamp():
    assert cells("ConfigMap", {"metadata": {"name": "a"}}) == ["a", 0, "<unknown>"]


# --- Pod ------------------------------------------------------------------------------


def pod(containers=1, statuses=(), init=0, init_statuses=(), phase="Running", **extra) -> dict:
    spec = {"containers": [{"name": f"c{i}"} for i in range(containers)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}"} for i in range(init)]
    status = {"phase": phase, "containerStatuses": list(statuses), "initContainerStatuses": list(init_statuses)}
    obj = named({"spec": spec, "status": status})
    for path, value in extra.items():
        section, _, key = path.partition("__")
        obj.setdefault(section, {})[key] = value
    return obj


RUNNING = {"ready": True, "state": {"running": {}}}


def waiting(reason):
    return {"ready": False, "state": {"waiting": {"reason": reason}}}


def terminated(reason="", code=0, signal=0):
    term = {"exitCode": code}
    if reason:
        term["reason"] = reason
    if signal:
        term["signal"] = signal
    return {"ready": False, "state": {"terminated": term}}


@pytest.mark.parametrize(
    "obj,ready,status",
    [
        (pod(statuses=[RUNNING]), "1/1", "Running"),
        (pod(phase="Pending", statuses=[]), "0/1", "Pending"),
        (pod(phase="Pending", statuses=[waiting("ContainerCreating")]), "0/1", "ContainerCreating"),
        (pod(statuses=[waiting("CrashLoopBackOff")]), "0/1", "CrashLoopBackOff"),
        (pod(phase="Pending", statuses=[waiting("ErrImagePull")]), "0/1", "ErrImagePull"),
        (pod(phase="Succeeded", statuses=[terminated("Completed")]), "0/1", "Completed"),
        (pod(phase="Failed", statuses=[terminated("Error", 1)]), "0/1", "Error"),
        (pod(phase="Failed", statuses=[terminated(code=2)]), "0/1", "ExitCode:2"),
        (pod(phase="Failed", statuses=[terminated(code=137, signal=9)]), "0/1", "Signal:9"),
        (pod(phase="Failed", status__reason="Evicted"), "0/1", "Evicted"),
        # The first container's reason wins: statuses are walked last to first.
        (pod(2, statuses=[waiting("CrashLoopBackOff"), RUNNING]), "1/2", "CrashLoopBackOff"),
        (pod(2, statuses=[RUNNING, RUNNING]), "2/2", "Running"),
        # A completed container next to a running one reads Running/NotReady.
        (pod(2, statuses=[terminated("Completed"), RUNNING], status__conditions=[{"type": "Ready", "status": "True"}]),
         "1/2", "Running"),
        (pod(2, statuses=[terminated("Completed"), RUNNING]), "1/2", "NotReady"),
    ],
)
def test_printer_pod_status(obj, ready, status):
    row = cells("Pod", obj)
    assert (row[1], row[2]) == (ready, status)


@pytest.mark.parametrize(
    "init_statuses,status",
    [
        ([{"state": {"running": {}}}, {"state": {"waiting": {"reason": "PodInitializing"}}}], "Init:0/2"),
        ([terminated(code=0), {"state": {"running": {}}}], "Init:1/2"),
        ([terminated("Error", 1)], "Init:Error"),
        ([terminated(code=3)], "Init:ExitCode:3"),
        ([terminated(code=137, signal=9)], "Init:Signal:9"),
        ([waiting("CrashLoopBackOff")], "Init:CrashLoopBackOff"),
        ([{"state": {"waiting": {"reason": "PodInitializing"}}}], "Init:0/2"),
    ],
)
def test_printer_pod_init_status(init_statuses, status):
    obj = pod(init=2, init_statuses=[{"name": f"i{i}", **s} for i, s in enumerate(init_statuses)], phase="Pending",
              statuses=[waiting("PodInitializing")])
    assert cells("Pod", obj)[2] == status


def test_printer_pod_initializing_after_init_containers():
    done = [{"name": "i0", **terminated("Completed")}, {"name": "i1", **terminated("Completed")}]
    obj = pod(init=2, init_statuses=done, phase="Pending", statuses=[waiting("PodInitializing")])
    assert cells("Pod", obj)[1:3] == ["0/1", "PodInitializing"]


def test_printer_pod_sidecar_counts_as_container():
    obj = pod(init=1, init_statuses=[{"name": "i0", "started": True, **RUNNING}], statuses=[RUNNING])
    obj["spec"]["initContainers"][0]["restartPolicy"] = "Always"
    obj["status"]["conditions"] = [{"type": "Initialized", "status": "True"}]
    assert cells("Pod", obj)[1:3] == ["2/2", "Running"]


def test_printer_pod_deletion():
    deleting = pod(statuses=[RUNNING])
    deleting["metadata"]["deletionTimestamp"] = ago(seconds=5)
    assert cells("Pod", deleting)[2] == "Terminating"
    finished = pod(phase="Succeeded", statuses=[terminated("Completed")])
    finished["metadata"]["deletionTimestamp"] = ago(seconds=5)
    assert cells("Pod", finished)[2] == "Completed"
    lost = pod(statuses=[RUNNING], status__reason="NodeLost")
    assert cells("Pod", lost)[2] == "NodeLost"
    lost["metadata"]["deletionTimestamp"] = ago(seconds=5)
    assert cells("Pod", lost)[2] == "Unknown"


def test_printer_pod_scheduling_gated():
    gated = pod(phase="Pending", status__conditions=[{"type": "PodScheduled", "status": "False",
                                                      "reason": "SchedulingGated"}])
    assert cells("Pod", gated)[2] == "SchedulingGated"


def test_printer_pod_restarts():
    plain = dict(RUNNING, restartCount=3)
    assert cells("Pod", pod(statuses=[plain]))[3] == "3"
    recent = dict(RUNNING, restartCount=3, lastState={"terminated": {"exitCode": 1, "finishedAt": ago(minutes=5)}})
    older = dict(RUNNING, restartCount=2, lastState={"terminated": {"exitCode": 1, "finishedAt": ago(hours=2)}})
    assert cells("Pod", pod(2, statuses=[recent, older]))[3] == "5 (5m ago)"
    assert cells("Pod", pod(statuses=[dict(RUNNING, restartCount=0)]))[3] == "0"


def test_printer_pod_wide_cells_and_conditions():
    obj = pod(statuses=[RUNNING], status__podIP="10.1.2.3", spec__nodeName="node-a",
              status__conditions=[{"type": "gate1", "status": "True"}, {"type": "gate2", "status": "False"}])
    obj["spec"]["readinessGates"] = [{"conditionType": "gate1"}, {"conditionType": "gate2"}]
    assert cells("Pod", obj)[4:] == ["5m", "10.1.2.3", "node-a", "<none>", "1/2"]
    assert cells("Pod", pod())[5:] == ["<none>", "<none>", "<none>", "<none>"]
    done = printers.table(rt("Pod"), [pod(phase="Succeeded")], now=NOW)["rows"][0]
    assert done["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                   "message": "The pod has completed successfully."}]
    assert "conditions" not in printers.table(rt("Pod"), [pod()], now=NOW)["rows"][0]


# --- Service --------------------------------------------------------------------------


def service(kind="ClusterIP", ports=({"port": 80, "protocol": "TCP"},), **spec) -> dict:
    return named({"spec": {"type": kind, "clusterIP": "10.96.0.10", "ports": list(ports), **spec}})


@pytest.mark.parametrize(
    "obj,expected",
    [
        (service(selector={"app": "web", "tier": "fe"}),
         ["ClusterIP", "10.96.0.10", "<none>", "80/TCP", "5m", "app=web,tier=fe"]),
        (service(ports=({"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"})),
         ["ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "5m", "<none>"]),
        (service("NodePort", ({"port": 80, "nodePort": 30001, "protocol": "TCP"},)),
         ["NodePort", "10.96.0.10", "<none>", "80:30001/TCP", "5m", "<none>"]),
        (service("LoadBalancer", ({"port": 443, "nodePort": 31000, "protocol": "TCP"},)),
         ["LoadBalancer", "10.96.0.10", "<pending>", "443:31000/TCP", "5m", "<none>"]),
        (service(ports=(), clusterIP="None"), ["ClusterIP", "None", "<none>", "<none>", "5m", "<none>"]),
        (service("ExternalName", (), clusterIP="", externalName="db.example.com"),
         ["ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"]),
        (service(externalIPs=["1.2.3.4", "5.6.7.8"]),
         ["ClusterIP", "10.96.0.10", "1.2.3.4,5.6.7.8", "80/TCP", "5m", "<none>"]),
    ],
)
def test_printer_service(obj, expected):
    assert cells("Service", obj)[1:] == expected


def test_printer_service_load_balancer_ingress():
    svc = service("LoadBalancer", externalIPs=["9.9.9.9"])
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "5.5.5.5"}, {"hostname": "lb.example.com"}]}}
    assert cells("Service", svc)[3] == "5.5.5.5,lb.example.com,9.9.9.9"


# --- workloads ------------------------------------------------------------------------


def template(*containers) -> dict:
    return {"spec": {"containers": [{"name": n, "image": f"{n}:1"} for n in containers]}}


def test_printer_deployment():
    obj = named({
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                 "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                 "template": template("web", "log")},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }, "web")
    assert cells("Deployment", obj, "apps") == ["web", "2/3", 3, 2, "5m", "web,log", "web:1,log:1",
                                                "app=web,tier in (a,b)"]
    empty = named({"spec": {"template": template("a")}}, "e")
    assert cells("Deployment", empty, "apps") == ["e", "0/1", 0, 0, "5m", "a", "a:1", ""]


def test_printer_replicaset_statefulset_daemonset():
    rs = named({"spec": {"replicas": 2, "selector": {}, "template": template("a")}, "status": {"replicas": 2,
               "readyReplicas": 1}})
    assert cells("ReplicaSet", rs, "apps")[1:] == [2, 2, 1, "5m", "a", "a:1", "<none>"]
    sts = named({"spec": {"replicas": 3, "template": template("db")}, "status": {"readyReplicas": 1}})
    assert cells("StatefulSet", sts, "apps")[1:] == ["1/3", "5m", "db", "db:1"]
    ds_tmpl = {"spec": {"nodeSelector": {"os": "linux"}, **template("agent")["spec"]}}
    ds = named({"spec": {"selector": {"matchLabels": {"k": "v"}}, "template": ds_tmpl},
                "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                           "updatedNumberScheduled": 3, "numberAvailable": 2}})
    assert cells("DaemonSet", ds, "apps")[1:] == [3, 3, 2, 3, 2, "os=linux", "5m", "agent", "agent:1", "k=v"]


@pytest.mark.parametrize(
    "spec,status,meta,expected",
    [
        ({"completions": 1}, {"succeeded": 1, "startTime": ago(minutes=4), "completionTime": ago(minutes=3),
                              "conditions": [{"type": "Complete", "status": "True"}]}, {}, ["Complete", "1/1", "60s"]),
        ({"completions": 3}, {"succeeded": 1, "startTime": ago(minutes=2)}, {}, ["Running", "1/3", "2m"]),
        ({"parallelism": 3}, {}, {}, ["Running", "0/1 of 3", ""]),
        ({}, {"conditions": [{"type": "Failed", "status": "True"}]}, {}, ["Failed", "0/1", ""]),
        ({}, {"conditions": [{"type": "Suspended", "status": "True"}]}, {}, ["Suspended", "0/1", ""]),
        ({}, {"conditions": [{"type": "FailureTarget", "status": "True"}]}, {}, ["FailureTarget", "0/1", ""]),
        ({}, {}, {"deletionTimestamp": ago(seconds=1)}, ["Terminating", "0/1", ""]),
    ],
)
def test_printer_job(spec, status, meta, expected):
    obj = named({"spec": {**spec, "template": template("j")}, "status": status})
    obj["metadata"].update(meta)
    assert cells("Job", obj, "batch")[1:4] == expected


def test_printer_cronjob():
    cj = named({"spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template("t")}}},
                "status": {}})
    assert cells("CronJob", cj, "batch")[1:] == ["*/5 * * * *", "<none>", "<unset>", 0, "<none>", "5m", "t", "t:1",
                                                 "<none>"]
    cj["spec"].update(suspend=False, timeZone="Etc/UTC")
    cj["status"] = {"active": [{"name": "j1"}], "lastScheduleTime": ago(seconds=30)}
    assert cells("CronJob", cj, "batch")[1:6] == ["*/5 * * * *", "Etc/UTC", "False", 1, "30s"]


# --- core kinds -----------------------------------------------------------------------


def test_printer_configmap_secret_serviceaccount_namespace_lease():
    cm = named({"data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}, "cm")
    assert cells("ConfigMap", cm) == ["cm", 3, "5m"]
    secret = named({"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}, "s")
    assert cells("Secret", secret) == ["s", "kubernetes.io/tls", 2, "5m"]
    sa = named({"secrets": [{"name": "t"}]}, "default")
    assert cells("ServiceAccount", sa) == ["default", 1, "5m"]
    ns = named({"status": {"phase": "Active"}}, "kube-system")
    assert cells("Namespace", ns) == ["kube-system", "Active", "5m"]
    lease = named({"spec": {"holderIdentity": "node-a"}}, "l")
    assert cells("Lease", lease, "coordination.k8s.io") == ["l", "node-a", "5m"]
    assert cells("Lease", named({"spec": {}}, "l"), "coordination.k8s.io") == ["l", "", "5m"]


def test_printer_node():
    node = named({
        "metadata": {"labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.0.2"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian", "kernelVersion": "6.1",
                         "containerRuntimeVersion": "containerd://1.7"},
        },
    }, "n1")
    node["metadata"].update(name="n1", creationTimestamp=ago(days=3))
    assert cells("Node", node) == ["n1", "Ready,SchedulingDisabled", "control-plane,worker", "3d", "v1.32.0",
                                   "192.168.0.2", "<none>", "Debian", "6.1", "containerd://1.7"]
    not_ready = named({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}})
    assert cells("Node", not_ready)[1:3] == ["NotReady", "<none>"]
    assert cells("Node", named({}))[1] == "Unknown"
    assert cells("Node", named({}))[7:] == ["<unknown>", "<unknown>", "<unknown>"]


def test_printer_endpoints():
    subset = {"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 5)], "ports": [{"port": 80}]}
    assert cells("Endpoints", named({"subsets": [subset]}))[1] == "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..."
    assert cells("Endpoints", named({}))[1] == "<none>"
    v6 = {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 443}]}
    headless = {"addresses": [{"ip": "10.0.0.9"}]}
    assert cells("Endpoints", named({"subsets": [v6, headless]}))[1] == "[fd00::1]:443,10.0.0.9"


def test_printer_endpointslice():
    es = named({
        "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "https"}, {}, {"port": 8080}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}],
    })
    assert cells("EndpointSlice", es, "discovery.k8s.io")[1:] == ["IPv4", "80,https,* + 1 more...",
                                                                  "10.0.0.1,10.0.0.2", "5m"]
    assert cells("EndpointSlice", named({"addressType": "IPv6"}), "discovery.k8s.io")[2:4] == ["<unset>", "<unset>"]


def test_printer_event_core():
    event = named({
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{c}"},
        "reason": "Pulled", "message": "  Pulled image  \n", "type": "Normal",
        "source": {"component": "kubelet", "host": "node-a"},
        "firstTimestamp": ago(minutes=10), "lastTimestamp": ago(minutes=2), "count": 4,
    }, "web.1")
    assert cells("Event", event) == ["2m", "Normal", "Pulled", "pod/web", "spec.containers{c}", "kubelet, node-a",
                                     "Pulled image", "10m", 4, "web.1"]
    fresh = named({"involvedObject": {"kind": "Node"}, "eventTime": ago(seconds=20), "reportingComponent": "ctl"})
    assert cells("Event", fresh)[:4] == ["20s", "", "", "node"]
    assert cells("Event", fresh)[5] == "ctl" and cells("Event", fresh)[7:9] == ["20s", 1]
    series = dict(fresh, series={"count": 7, "lastObservedTime": ago(seconds=3)})
    assert cells("Event", series)[0] == "3s" and cells("Event", series)[8] == 7


def test_printer_event_events_k8s_io():
    event = named({
        "regarding": {"kind": "Deployment", "name": "web"}, "note": "Scaled up", "reason": "ScalingReplicaSet",
        "type": "Normal", "eventTime": ago(minutes=1), "reportingController": "deployment-controller",
        "reportingInstance": "cm-1",
    }, "e1")
    row = cells("Event", event, "events.k8s.io")
    assert row == ["60s", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller, cm-1",
                   "Scaled up", "60s", 1, "e1"]


# --- selectors ------------------------------------------------------------------------


def test_printer_selector_strings():
    sel = {"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "c", "operator": "NotIn", "values": ["y", "x"]}, {"key": "d", "operator": "Exists"},
        {"key": "e", "operator": "DoesNotExist"}]}
    assert selector_string(sel) == "a=1,b=2,c notin (x,y),d,!e"
    bad = named({"spec": {"replicas": 1, "selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}})
    assert cells("Deployment", bad, "apps")[-1] == "<invalid>"
    assert cells("ReplicaSet", bad, "apps")[-1] == "<error>"
