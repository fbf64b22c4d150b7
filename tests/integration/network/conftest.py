"""Fixtures for pod-networking tests with real CNI plugins, as root, entirely inside
namespaces the tests create (see nodens.py). Later e2e tests can import these."""

from __future__ import annotations

import pytest

from tinykube.agent.network import NodeNetwork

from .nodens import TestNetwork, missing_prerequisites


@pytest.fixture
def testnet():
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)
    net = TestNetwork()
    try:
        yield net
        net.assert_root_untouched()
    finally:
        leftovers = net.cleanup()
        assert not leftovers, f"could not remove namespaces {leftovers}"
        assert not net.netns_names()


@pytest.fixture
def node(testnet):
    return testnet.add_node("n1")


@pytest.fixture
async def node_network(testnet, node):
    """A started NodeNetwork whose host is the `node` namespace."""
    network = NodeNetwork(testnet.settings(node))
    await network.start()
    yield network
    await network.stop()
