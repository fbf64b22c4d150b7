"""A fake CNI plugin executable for the runtime's unit tests.

`install(directory, name)` writes an executable `name` that logs every call (command,
CNI_* environment, stdin configuration) to calls.jsonl in its directory and behaves
as its configuration's "fake" key says:
  {"ip": "10.1.0.5/24"}          ADD adds this address on the interface it creates
  {"fail": {"ADD": {...}}}       exit 1 printing that CNI error object for ADD
  {"garbage": ["DEL"]}           exit 3 printing text that is not JSON for DEL
  {"sleep": 30}                  sleep before answering
VERSION answers with $FAKE_CNI_VERSIONS (comma separated) or 0.3.0..1.1.0.
"""

from __future__ import annotations

import json
import os
import stat
import sys

SCRIPT = r'''#!{python}
import json, os, sys, time
conf = json.load(sys.stdin)
cmd = os.environ["CNI_COMMAND"]
here = os.path.dirname(os.path.abspath(__file__))
name = os.path.basename(__file__)
env = {{k: v for k, v in os.environ.items() if k.startswith("CNI_")}}
with open(os.path.join(here, "calls.jsonl"), "a") as f:
    f.write(json.dumps({{"plugin": name, "cmd": cmd, "conf": conf, "env": env}}) + "\n")
fake = conf.get("fake", {{}})
time.sleep(fake.get("sleep", 0))
if cmd in fake.get("fail", {{}}):
    print(json.dumps(dict(fake["fail"][cmd], cniVersion=conf.get("cniVersion"))))
    sys.exit(1)
if cmd in fake.get("garbage", []):
    print("segfault, probably")
    sys.stderr.write("panic: something broke\n")
    sys.exit(3)
if cmd == "VERSION":
    versions = os.environ.get("FAKE_CNI_VERSIONS", "0.3.0,0.3.1,0.4.0,1.0.0,1.1.0").split(",")
    print(json.dumps({{"cniVersion": conf["cniVersion"], "supportedVersions": versions}}))
elif cmd == "ADD":
    result = conf.get("prevResult") or {{"cniVersion": conf["cniVersion"], "interfaces": [], "ips": [], "dns": {{}}}}
    result["interfaces"].append({{"name": os.environ["CNI_IFNAME"], "sandbox": os.environ["CNI_NETNS"],
                                  "mac": "02:00:00:00:00:01", "by": name}})
    if "ip" in fake:
        result["ips"].append({{"address": fake["ip"], "interface": len(result["interfaces"]) - 1,
                              "gateway": fake.get("gateway", "10.1.0.1")}})
    print(json.dumps(result))
'''


def install(directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(SCRIPT.format(python=sys.executable))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def calls(directory: str) -> list[dict]:
    try:
        with open(os.path.join(directory, "calls.jsonl")) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []
