"""The scheduler's configuration: which filter and score plugins run, with what weights.

`tinykube server --scheduler-config FILE` reads YAML (see docs/scheduler.md):

    percentageOfNodesToScore: 0        # 0: upstream's adaptive rule
    filters: [NodeUnschedulable, ..., "my_pkg.plugins:GpuFilter"]   # replaces the defaults
    scores:                            # replaces the defaults
      - {name: NodeResourcesFit, weight: 1}
      - {name: "my_pkg.plugins:PreferSsd", weight: 5}
    disabled: [ImageLocality]          # removed from the defaults (or the lists above)
    pluginArgs: {my_pkg.plugins:PreferSsd: {label: disk}}   # keyword arguments to a plugin

A name is a built-in plugin (tinykube.scheduler.plugins.BUILTIN) or a "module:Class"
import path; a plugin class is instantiated once, with its pluginArgs as keywords.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import yaml

from tinykube.scheduler.plugins import BUILTIN, DEFAULT_FILTERS, DEFAULT_SCORES


class ConfigError(ValueError):
    pass


@dataclass
class SchedulerConfig:
    filters: list[str] = field(default_factory=lambda: list(DEFAULT_FILTERS))
    scores: list[tuple[str, int]] = field(default_factory=lambda: list(DEFAULT_SCORES))
    percentage_of_nodes_to_score: int = 0
    plugin_args: dict[str, dict] = field(default_factory=dict)


def parse(doc: dict | None) -> SchedulerConfig:
    doc = doc or {}
    if not isinstance(doc, dict):
        raise ConfigError("the scheduler config must be a mapping")
    unknown = set(doc) - {"filters", "scores", "disabled", "percentageOfNodesToScore", "pluginArgs"}
    if unknown:
        raise ConfigError(f"unknown scheduler config field(s): {', '.join(sorted(unknown))}")
    config = SchedulerConfig()
    if "filters" in doc:
        config.filters = [str(name) for name in doc["filters"] or ()]
    if "scores" in doc:
        config.scores = [_score_entry(entry) for entry in doc["scores"] or ()]
    disabled = set(doc.get("disabled") or ())
    config.filters = [n for n in config.filters if n not in disabled]
    config.scores = [(n, w) for n, w in config.scores if n not in disabled]
    config.percentage_of_nodes_to_score = int(doc.get("percentageOfNodesToScore") or 0)
    if not 0 <= config.percentage_of_nodes_to_score <= 100:
        raise ConfigError("percentageOfNodesToScore must be between 0 and 100")
    config.plugin_args = dict(doc.get("pluginArgs") or {})
    return config


def _score_entry(entry) -> tuple[str, int]:
    if isinstance(entry, str):
        return entry, 1
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError(f"a score plugin is a name or {{name, weight}}, not {entry!r}")
    weight = entry.get("weight", 1)
    if not isinstance(weight, int) or weight < 0:
        raise ConfigError(f"weight of {entry['name']} must be a non-negative integer")
    return str(entry["name"]), weight


def load(path: str) -> SchedulerConfig:
    try:
        with open(path) as f:
            return parse(yaml.safe_load(f))
    except OSError as exc:
        raise ConfigError(f"cannot read scheduler config {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"scheduler config {path} is not valid YAML: {exc}") from exc


def plugin_class(name: str) -> type:
    target = BUILTIN.get(name, name)
    module, _, cls = target.partition(":")
    if not module or not cls:
        raise ConfigError(f"unknown plugin {name!r}: not built in, and not a module:Class path")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load plugin {name!r}: {exc}") from exc


def instantiate(config: SchedulerConfig) -> tuple[list, list[tuple[object, int]]]:
    """The plugin objects: one instance per name, shared by its filter and score roles."""
    instances: dict[str, object] = {}

    def get(name: str, role: str):
        if name not in instances:
            try:
                instances[name] = plugin_class(name)(**config.plugin_args.get(name, {}))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"plugin {name!r}: pluginArgs refused: {exc}") from exc
        plugin = instances[name]
        needed = ("pre_filter", "unresolvable") if role == "filter" else ("score",)
        if not all(hasattr(plugin, m) for m in needed):
            raise ConfigError(f"plugin {name!r} is not a {role} plugin (needs {', '.join(needed)})")
        if not getattr(plugin, "name", ""):
            plugin.name = name
        return plugin
    filters = [get(n, "filter") for n in config.filters]
    scores = [(get(n, "score"), w) for n, w in config.scores]
    return filters, scores
