"""One typed tree of pod-networking errors.

Every error carries a message fit for a pod event (the agent reports sandbox
failures as `FailedCreatePodSandBox` / `FailedKillPod` events with it). A plugin's
own CNI error (`{"code", "msg", "details"}` on stdout) becomes a `PluginError` that
keeps the plugin's code and words, so users see what bridge or portmap said.
"""

from __future__ import annotations

# Well-known CNI error codes (CNI spec 1.0/1.1, "Error codes"); 100+ belong to plugins.
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
PLUGIN_NOT_AVAILABLE = 50
LIMITED_CONNECTIVITY = 51


class NetworkError(Exception):
    """Base of every error raised by tinykube.agent.network."""

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(NetworkError):
    """A network configuration (list) that cannot be used: bad JSON, missing fields,
    an unsupported cniVersion, or no configuration at all."""


class PluginNotFound(NetworkError):
    """No executable for a plugin `type` in any plugin directory."""


class PluginError(NetworkError):
    """A plugin failed. `code`/`msg`/`details` are the plugin's own CNI error when it
    printed one; otherwise code is None and msg says how it failed (exit status,
    undecodable output). `stderr` keeps the tail of the plugin's log output."""

    def __init__(self, *, plugin: str, command: str, code: int | None, msg: str,
                 details: str = "", stderr: str = ""):
        self.plugin, self.command, self.code = plugin, command, code
        self.msg, self.details, self.stderr = msg, details, stderr
        super().__init__(self._text())

    def _text(self) -> str:
        code = f" (code {self.code})" if self.code is not None else ""
        more = f": {self.details}" if self.details else ""
        return f"plugin {self.plugin} {self.command} failed{code}: {self.msg}{more}"


class PluginTimeout(PluginError):
    """A plugin ran longer than the runtime's timeout and was killed."""

    def __init__(self, *, plugin: str, command: str, timeout: float):
        super().__init__(plugin=plugin, command=command, code=None,
                         msg=f"no answer within {timeout:g} s, killed")


class CheckUnsupported(NetworkError):
    """CHECK asked of a network whose cniVersion predates CHECK (0.4.0), or whose
    list sets disableCheck."""


class NetnsError(NetworkError):
    """Creating or removing a network namespace file failed."""


class SafetyError(NetworkError):
    """A route or address setting that would let pod or Service traffic leave the host."""
