"""Fixtures for container-runtime tests with the real runc, as root."""

from __future__ import annotations

import pytest

from .harness import Harness, missing_prerequisites


@pytest.fixture
async def h(tmp_path):
    """A Harness whose every container, sandbox, cgroup and monitor is removed afterwards,
    and checked gone, even when the test failed."""
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)
    harness = Harness(tmp_path)
    try:
        yield harness
    finally:
        await harness.teardown()
        leftovers = await harness.leftovers()
        assert not leftovers, f"left behind: {leftovers}"
