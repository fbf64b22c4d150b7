"""podFailurePolicy: which rule a failed pod matches, and what that means for the Job.

Rules are tried in order; the first that matches decides (upstream's
matchPodFailurePolicy). `onExitCodes` looks at containers that terminated with a non-zero
exit code (In: the code is listed; NotIn: it is not), optionally only the named
container; `onPodConditions` at the pod's conditions (type and status). Actions:
FailJob (the Job fails, reason PodFailurePolicy), FailIndex (only that index fails),
Ignore (the failure is not counted against backoffLimit), Count (counted, the default).
"""

from __future__ import annotations

from dataclasses import dataclass

FAIL_JOB, FAIL_INDEX, IGNORE, COUNT = "FailJob", "FailIndex", "Ignore", "Count"


@dataclass(frozen=True)
class Match:
    action: str
    message: str  # why, in upstream's words (used for FailJob's condition)


def match(policy: dict | None, pod: dict) -> Match | None:
    """The first rule of policy that pod (a Failed pod) matches, or None."""
    for index, rule in enumerate((policy or {}).get("rules") or ()):
        why = _rule_matches(rule, pod)
        if why is not None:
            action = rule.get("action", COUNT)
            return Match(action, f"{why} matching {action} rule at index {index}")
    return None


def _rule_matches(rule: dict, pod: dict) -> str | None:
    if rule.get("onExitCodes"):
        return _exit_codes_match(rule["onExitCodes"], pod)
    for pattern in rule.get("onPodConditions") or ():
        for cond in (pod.get("status") or {}).get("conditions") or ():
            if cond.get("type") == pattern.get("type") and cond.get("status") == pattern.get("status", "True"):
                md = pod["metadata"]
                return f"Pod {md.get('namespace')}/{md.get('name')} has condition {cond['type']}"
    return None


def _exit_codes_match(requirement: dict, pod: dict) -> str | None:
    values, operator = set(requirement.get("values") or ()), requirement.get("operator")
    wanted = requirement.get("containerName")
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        code = ((cs.get("state") or {}).get("terminated") or {}).get("exitCode")
        if code in (None, 0) or (wanted and cs.get("name") != wanted):
            continue
        if (operator == "In" and code in values) or (operator == "NotIn" and code not in values):
            md = pod["metadata"]
            return (f"Container {cs.get('name')} for pod {md.get('namespace')}/{md.get('name')} "
                    f"failed with exit code {code}")
    return None
