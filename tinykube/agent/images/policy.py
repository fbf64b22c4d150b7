"""Pull policy and pull back-off: pure decisions, as the kubelet makes them.

`should_pull` is the kubelet's `shouldPullImage`; `default_pull_policy` is the API server's
defaulting of `imagePullPolicy`; `PullBackOff` is `flowcontrol.Backoff` as the kubelet's
image manager uses it: `IsInBackOffSinceUpdate` before a pull, `Next` after a failure;
10 s initial, doubling, capped at 300 s, one entry per pod and image; an entry idle for
twice the cap starts again from the initial delay (the kubelet's jitter is left out).
Time is passed in (monotonic seconds), so every decision is testable without a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinykube.agent.images.errors import ImageError
from tinykube.agent.images.reference import parse_normalized

ALWAYS = "Always"
IF_NOT_PRESENT = "IfNotPresent"
NEVER = "Never"
POLICIES = (ALWAYS, IF_NOT_PRESENT, NEVER)


def default_pull_policy(image: str) -> str:
    """Always for `:latest` or no tag (and no digest), else IfNotPresent."""
    try:
        ref = parse_normalized(image)
    except ImageError:
        return ALWAYS  # the kubelet's parser fails too and reports InvalidImageName
    tag = ref.tag or ("" if ref.digest else "latest")
    return ALWAYS if tag == "latest" else IF_NOT_PRESENT


def should_pull(policy: str, image_ref: str, present: bool) -> bool:
    """Whether to pull; Never + absent is the caller's ErrImageNeverPull."""
    policy = policy or default_pull_policy(image_ref)
    if policy == ALWAYS:
        return True  # a manifest that did not change downloads nothing
    if policy == IF_NOT_PRESENT:
        return not present
    if policy == NEVER:
        return False
    raise ValueError(f"unknown imagePullPolicy {policy!r} (want one of {', '.join(POLICIES)})")


@dataclass
class _Entry:
    delay: float
    last_update: float


class PullBackOff:
    """Per-key exponential back-off; key is what the kubelet uses: f"{pod_uid}_{image}"."""

    def __init__(self, initial: float = 10.0, cap: float = 300.0):
        self.initial = initial
        self.cap = cap
        self._entries: dict[str, _Entry] = {}

    def in_back_off(self, key: str, now: float) -> bool:
        """`IsInBackOffSinceUpdate`: less than the current delay since the last failure."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            return False
        return now - entry.last_update < entry.delay

    def next(self, key: str, now: float) -> float:
        """Record a failure at `now`; returns the delay before the next attempt."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            entry = self._entries[key] = _Entry(self.initial, now)
        else:
            entry.delay = min(entry.delay * 2, self.cap)
            entry.last_update = now
        return entry.delay

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    def gc(self, now: float) -> None:
        """Forget entries idle for more than twice the cap (the kubelet's periodic GC)."""
        for key in [k for k, e in self._entries.items() if self._expired(e, now)]:
            del self._entries[key]

    def _expired(self, entry: _Entry, now: float) -> bool:
        return now - entry.last_update > 2 * self.cap
