"""Formatting helpers shared by the per-kind printers (see printers.py).

Each helper reproduces one formatting routine Kubernetes' server-side printers use,
so the cells tinykube sends match what kube-apiserver 1.32 sends byte for byte:
HumanDuration (k8s.io/apimachinery/pkg/util/duration), label and label-selector
strings (k8s.io/apimachinery/pkg/labels), and the column-definition shape of a
meta.k8s.io/v1 Table.

Objects are plain dicts in Kubernetes JSON form, so every accessor here is
None-tolerant: a missing field reads as Go's zero value.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone

from tinykube.api import schema

# Go's zero time.Time, which clients sometimes serialize instead of omitting.
_ZERO_TIME = "0001-01-01T00:00:00Z"


# --- reading dicts --------------------------------------------------------------------


def get(obj: dict | None, *path: str, default=None):
    """obj[path[0]][path[1]]..., or default when any step is missing or null."""
    cur = obj
    for key in path:
        if not isinstance(cur, dict):
            return default
        cur = cur.get(key)
        if cur is None:
            return default
    return cur


def items(obj: dict | None, *path: str) -> list:
    """A list field, [] when missing or null."""
    value = get(obj, *path)
    return value if isinstance(value, list) else []


def mapping(obj: dict | None, *path: str) -> dict:
    """A map field, {} when missing or null."""
    value = get(obj, *path)
    return value if isinstance(value, dict) else {}


def integer(obj: dict | None, *path: str, default: int = 0) -> int:
    value = get(obj, *path)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# --- time -----------------------------------------------------------------------------


def parse_time(value) -> datetime | None:
    """An RFC 3339 Time or MicroTime, or None for a missing/zero timestamp."""
    if not isinstance(value, str) or not value or value == _ZERO_TIME:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    if parsed.year == 1:  # Go zero time in another spelling
        return None
    return parsed


def human_duration(seconds: float) -> str:
    """duration.HumanDuration: ~2-3 significant figures ("5s", "3m20s", "2d3h")."""
    # int() truncates toward zero like Go's int(d.Seconds()); up to 2s in the future
    # is tolerated as clock skew.
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def since(value, now: datetime) -> str:
    """translateTimestampSince: the age of a timestamp, "<unknown>" when unset."""
    stamp = parse_time(value)
    if stamp is None:
        return "<unknown>"
    return human_duration((now - stamp).total_seconds())


def between(start, end) -> str:
    """HumanDuration(end - start) for two set timestamps."""
    return human_duration((parse_time(end) - parse_time(start)).total_seconds())


# --- labels and selectors -------------------------------------------------------------


def format_labels(labels: dict | None) -> str:
    """labels.FormatLabels: "a=1,b=2" sorted by key, "<none>" when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


class InvalidSelector(ValueError):
    pass


def _requirement(key: str, op: str, values: list[str]) -> str:
    # Requirement.String(); set-based values are printed sorted.
    if op == "Equals":
        return f"{key}={values[0]}"
    if op == "In":
        return f"{key} in ({','.join(sorted(values))})"
    if op == "NotIn":
        return f"{key} notin ({','.join(sorted(values))})"
    if op == "Exists":
        return key
    return f"!{key}"  # DoesNotExist


def selector_string(selector: dict | None) -> str:
    """LabelSelectorAsSelector(sel).String(); raises InvalidSelector.

    A nil selector selects nothing and an empty one everything; both print as "".
    """
    if not selector:
        return ""
    reqs: list[tuple[str, str]] = []
    for key, value in mapping(selector, "matchLabels").items():
        reqs.append((key, _requirement(key, "Equals", [value])))
    for expr in items(selector, "matchExpressions"):
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op in ("In", "NotIn") and not values:
            raise InvalidSelector(f"for '{op}' operator, values set can't be empty")
        if op in ("Exists", "DoesNotExist") and values:
            raise InvalidSelector(f"values set must be empty for '{op}' operator")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise InvalidSelector(f"{op!r} is not a valid label selector operator")
        reqs.append((key, _requirement(key, op, values)))
    # Selector.Add sorts requirements by key.
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def format_label_selector(selector: dict | None) -> str:
    """metav1.FormatLabelSelector: like selector_string, "<none>" when empty."""
    try:
        text = selector_string(selector)
    except InvalidSelector:
        return "<error>"
    return text or "<none>"


# --- misc cells -----------------------------------------------------------------------


def bool_ptr(value) -> str:
    """printBoolPtr: "True", "False" or "<unset>"."""
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def container_cells(containers: list) -> tuple[str, str]:
    """layoutContainerCells: comma-joined container names and images."""
    names = ",".join(str(c.get("name", "")) for c in containers if isinstance(c, dict))
    images = ",".join(str(c.get("image", "")) for c in containers if isinstance(c, dict))
    return names, images


def pod_template_containers(obj: dict, *path: str) -> list:
    """The containers of the pod template at path (e.g. "spec", "template")."""
    return items(obj, *path, "spec", "containers")


def list_with_more(values: list[str], count: int, limit: int = 3) -> str:
    """listWithMoreString: the first `limit` values, then " + N more..."."""
    text = ",".join(values[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


# --- column definitions ---------------------------------------------------------------

META = "io.k8s.apimachinery.pkg.apis.meta.v1."


@functools.cache
def doc(definition: str, field: str) -> str:
    """The OpenAPI description of a field, the text Kubernetes' SwaggerDoc() returns.

    `definition` is short for io.k8s.api.<definition> unless it starts with "io.".
    """
    name = definition if definition.startswith("io.") else "io.k8s.api." + definition
    props = schema.definitions().get(name, {}).get("properties", {})
    return props.get(field, {}).get("description", "")


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def name_column(priority: int = 0) -> Column:
    return Column("Name", "string", doc(META + "ObjectMeta", "name"), priority, "name")


def age_column() -> Column:
    return Column("Age", "string", doc(META + "ObjectMeta", "creationTimestamp"))


def template_columns(selector_doc: str | None) -> list[Column]:
    """The wide CONTAINERS / IMAGES [/ SELECTOR] columns of the workload printers."""
    cols = [
        Column("Containers", "string", "Names of each container in the template.", 1),
        Column("Images", "string", "Images referenced by each container in the template.", 1),
    ]
    if selector_doc is not None:
        cols.append(Column("Selector", "string", selector_doc, 1))
    return cols
