"""Executing one CNI plugin (spec section 2, "Execution protocol").

A plugin is an executable named by its `type`, found in the plugin directories; it
gets its parameters as CNI_* environment variables and its configuration as JSON on
stdin, and answers with a result (or an error object) on stdout. Plugins inherit
our environment (portmap needs PATH to find iptables) minus any stale CNI_* values.
"""

from __future__ import annotations

import logging
import os

from tinykube.util import jsonutil as json

from . import errors
from .errors import PluginError, PluginNotFound, PluginTimeout
from .host import HostNamespace, run_process
from .model import Attachment

log = logging.getLogger(__name__)

DEFAULT_PLUGIN_DIRS = ("/opt/cni/bin", "/usr/lib/cni")
ADD, DEL, CHECK, VERSION, STATUS, GC = "ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"
_STDERR_TAIL = 2000
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PluginExec:
    """Finds and runs plugin executables, each call bounded by `timeout` seconds."""

    def __init__(self, plugin_dirs=DEFAULT_PLUGIN_DIRS, *,
                 host: HostNamespace = HostNamespace(), timeout: float = 30.0):
        self.plugin_dirs = tuple(plugin_dirs)
        self.host, self.timeout = host, timeout

    def find(self, plugin_type: str) -> str:
        for directory in self.plugin_dirs:
            path = os.path.join(directory, plugin_type)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        raise PluginNotFound(f"CNI plugin {plugin_type!r} not found in "
                             f"{':'.join(self.plugin_dirs)}")

    async def run(self, command: str, conf: dict, attachment: Attachment | None) -> dict | None:
        """Run `command` for one plugin configuration; the decoded result, or None
        when the plugin printed nothing (DEL and CHECK print nothing on success)."""
        plugin = conf["type"]
        env = self._env(command, attachment)
        argv = self.host.argv([self.find(plugin)])
        try:
            done = await run_process(argv, stdin=json.dumps(conf), env=env,
                                     timeout=self.timeout)
        except TimeoutError:
            raise PluginTimeout(plugin=plugin, command=command, timeout=self.timeout) from None
        return _decode(plugin, command, done.returncode, done.stdout, done.stderr)

    async def version(self, plugin_type: str, cni_version: str) -> list[str]:
        """The spec versions a plugin supports (its VERSION answer)."""
        answer = await self.run(VERSION, {"type": plugin_type, "cniVersion": cni_version}, None)
        versions = (answer or {}).get("supportedVersions")
        if not isinstance(versions, list):
            raise PluginError(plugin=plugin_type, command=VERSION, code=errors.DECODE_FAILURE,
                              msg="VERSION answer has no supportedVersions")
        return versions

    def _env(self, command: str, attachment: Attachment | None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        env.setdefault("PATH", _SYSTEM_PATH)  # plugins exec iptables, ip, ...
        env["CNI_COMMAND"], env["CNI_PATH"] = command, ":".join(self.plugin_dirs)
        if attachment is not None:
            env.update(CNI_CONTAINERID=attachment.container_id, CNI_NETNS=attachment.netns,
                       CNI_IFNAME=attachment.ifname, CNI_ARGS=attachment.cni_args())
        return env


def _decode(plugin: str, command: str, returncode: int, out: bytes, err: bytes) -> dict | None:
    stderr = err.decode(errors="replace")[-_STDERR_TAIL:]
    if stderr.strip():
        log.debug("CNI %s %s stderr: %s", plugin, command, stderr.strip())
    if returncode != 0:
        raise _failure(plugin, command, returncode, out, stderr)
    if not out.strip():
        return None
    try:
        return json.loads(out)
    except Exception:
        raise PluginError(plugin=plugin, command=command, code=errors.DECODE_FAILURE,
                          msg="result is not valid JSON", details=_clip(out), stderr=stderr) from None


def _failure(plugin: str, command: str, returncode: int, out: bytes, stderr: str) -> PluginError:
    try:
        answer = json.loads(out)
    except Exception:
        answer = None
    if isinstance(answer, dict) and ("code" in answer or "msg" in answer):
        return PluginError(plugin=plugin, command=command, code=answer.get("code"),
                           msg=str(answer.get("msg", "")), details=str(answer.get("details") or ""),
                           stderr=stderr)
    # Not a CNI error object: say what we know (exit status, whatever it printed).
    said = _clip(out) or stderr.strip()[-300:]
    return PluginError(plugin=plugin, command=command, code=None,
                       msg=f"exit status {returncode}", details=said, stderr=stderr)


def _clip(data: bytes, limit: int = 300) -> str:
    return data.decode(errors="replace").strip()[:limit]
