"""Network configuration lists (CNI spec section 1) and the per-plugin execution
configuration derived from them (spec section 3, "Deriving execution configuration").

Pure functions on dicts: parsing and validating a `.conflist` (or a single-plugin
`.conf`, wrapped into a list as libcni does), picking the configuration a conf dir
offers (first file in lexical order, like kubelet's --cni-conf-dir), and building the
JSON each plugin reads on stdin.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

from tinykube.util import jsonutil as json

from .errors import ConfigError
from .model import Attachment

log = logging.getLogger(__name__)

# Spec versions this runtime speaks. Lists (and so chaining) exist since 0.3.0; the
# older single-plugin results have another shape, so they are refused, not guessed.
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
CONF_EXTENSIONS = (".conflist", ".conf", ".json")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")


def version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        raise ConfigError(f"invalid cniVersion {version!r}") from None


def at_least(version: str, minimum: str) -> bool:
    return version_tuple(version) >= version_tuple(minimum)


@dataclass(frozen=True)
class NetworkConfigList:
    """A validated network configuration list. `raw` is the document as written
    (kept in the result cache so that DEL runs with the configuration ADD used)."""

    name: str
    cni_version: str
    plugins: tuple[dict, ...]
    disable_check: bool = False
    source: str = ""
    raw: dict = field(default_factory=dict, hash=False, compare=False)


def parse(doc: bytes | str | dict, source: str = "") -> NetworkConfigList:
    """Validate a conflist (or a single-plugin conf) and return it as a list."""
    raw = _decode(doc, source)
    if "plugins" not in raw and "type" in raw:
        raw = _wrap_single(raw)
    name = _check_name(raw.get("name"), source)
    plugins = _check_plugins(raw.get("plugins"), source)
    return NetworkConfigList(name=name, cni_version=_pick_version(raw, source),
                             plugins=plugins, disable_check=_disable_check(raw),
                             source=source, raw=raw)


def _decode(doc, source: str) -> dict:
    if isinstance(doc, dict):
        return doc
    try:
        raw = json.loads(doc)
    except Exception as e:
        raise ConfigError(f"{source or 'network config'}: invalid JSON: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source or 'network config'}: not a JSON object")
    return raw


def _wrap_single(conf: dict) -> dict:
    # libcni's ConfListFromConf: the list takes the conf's name and version.
    return {"cniVersion": conf.get("cniVersion", ""), "name": conf.get("name"),
            "plugins": [conf]}


def _check_name(name, source: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{source or 'network config'}: invalid network name {name!r}")
    return name


def _check_plugins(plugins, source: str) -> tuple[dict, ...]:
    if not isinstance(plugins, list) or not plugins:
        raise ConfigError(f"{source or 'network config'}: no plugins")
    for plugin in plugins:
        kind = plugin.get("type") if isinstance(plugin, dict) else None
        if not isinstance(kind, str) or not kind or "/" in kind or "\\" in kind:
            raise ConfigError(f"{source or 'network config'}: invalid plugin type {kind!r}")
    return tuple(plugins)


def _pick_version(raw: dict, source: str) -> str:
    # CNI 1.1: `cniVersions` lists every version the config is valid for; use the
    # highest we speak, else fall back to `cniVersion`.
    offered = [v for v in raw.get("cniVersions") or [] if v in SUPPORTED_VERSIONS]
    version = max(offered, key=version_tuple) if offered else raw.get("cniVersion")
    if version not in SUPPORTED_VERSIONS:
        raise ConfigError(f"{source or 'network config'}: cniVersion {version!r} is not "
                          f"supported (supported: {', '.join(SUPPORTED_VERSIONS)})")
    return version


def _disable_check(raw: dict) -> bool:
    value = raw.get("disableCheck", False)
    return value is True or value == "true"  # some writers quote booleans


def load(path: str) -> NetworkConfigList:
    try:
        with open(path, "rb") as f:
            return parse(f.read(), source=path)
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None


def conf_files(conf_dir: str) -> list[str]:
    """The configuration files of a conf dir, in the order they are tried."""
    try:
        names = sorted(os.listdir(conf_dir))
    except FileNotFoundError:
        return []
    return [os.path.join(conf_dir, n) for n in names if n.endswith(CONF_EXTENSIONS)]


def find_in_dir(conf_dir: str) -> NetworkConfigList | None:
    """The first valid configuration of a conf dir (lexical order), or None.
    Invalid files are skipped with a warning, so one typo does not stop every pod."""
    for path in conf_files(conf_dir):
        try:
            return load(path)
        except ConfigError as e:
            log.warning("ignoring CNI config: %s", e)
    return None


def exec_config(conflist: NetworkConfigList, plugin: dict, attachment: Attachment,
                prev_result: dict | None) -> dict:
    """The JSON one plugin of the list reads on stdin: its own config plus the list's
    name and version, the previous result, and the runtimeConfig entries for the
    capabilities it declares (and only those). `capabilities` itself is removed, as
    the spec requires."""
    conf = {k: v for k, v in plugin.items() if k != "capabilities"}
    conf["name"], conf["cniVersion"] = conflist.name, conflist.cni_version
    if prev_result is not None:
        conf["prevResult"] = prev_result
    runtime_config = _runtime_config(plugin, attachment.capability_args)
    if runtime_config:
        conf["runtimeConfig"] = runtime_config
    return conf


def _runtime_config(plugin: dict, capability_args: dict) -> dict:
    declared = plugin.get("capabilities") or {}
    return {cap: capability_args[cap] for cap, enabled in declared.items()
            if enabled is True and cap in capability_args}
