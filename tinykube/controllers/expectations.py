"""client-go's ControllerExpectations: what a controller is still waiting to see.

After a sync creates 3 pods, the informer cache does not show them yet; a second sync
run before the watch delivers them would create 3 more. So the sync records "expect 3
adds" for its key, the pod informer's add handler lowers it as each arrives, and a sync
only acts when the key's expectations are satisfied (all seen) or expired (5 minutes:
a lost watch event must not block a controller forever). A failed create must lower the
expectation itself (`creation_observed`), since no add will ever come.
"""

from __future__ import annotations

import dataclasses

from tinykube.client import REAL_CLOCK, Clock

EXPECTATIONS_TIMEOUT = 300.0


@dataclasses.dataclass
class _Expected:
    add: int
    delete: int
    timestamp: float


class Expectations:
    def __init__(self, clock: Clock = REAL_CLOCK, timeout: float = EXPECTATIONS_TIMEOUT):
        self.clock, self.timeout = clock, timeout
        self._by_key: dict[str, _Expected] = {}

    def satisfied(self, key: str) -> bool:
        """True when nothing is pending for key, or what is pending has expired."""
        exp = self._by_key.get(key)
        if exp is None:
            return True
        if exp.add <= 0 and exp.delete <= 0:
            return True
        return self.clock.monotonic() - exp.timestamp > self.timeout

    def expect(self, key: str, *, adds: int = 0, deletes: int = 0) -> None:
        """Set (replace) the expectations of key."""
        self._by_key[key] = _Expected(adds, deletes, self.clock.monotonic())

    def raise_expectations(self, key: str, *, adds: int = 0, deletes: int = 0) -> None:
        exp = self._by_key.get(key)
        if exp is None:
            self.expect(key, adds=adds, deletes=deletes)
        else:
            exp.add += adds
            exp.delete += deletes

    def creation_observed(self, key: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.add -= 1

    def deletion_observed(self, key: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.delete -= 1

    def delete(self, key: str) -> None:
        """Forget key (its owner is gone)."""
        self._by_key.pop(key, None)

    def pending(self, key: str) -> tuple[int, int]:
        exp = self._by_key.get(key)
        return (exp.add, exp.delete) if exp else (0, 0)
