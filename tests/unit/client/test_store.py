"""Store: keys, indexes kept in step with puts and removes."""

from __future__ import annotations

import pytest

from tinykube.client.store import Store, node_name_index, object_key, owner_uid_index, split_key


def pod(name: str, node: str = "", ns: str = "default", owner: str = "", rv: str = "1") -> dict:
    md = {"name": name, "namespace": ns, "resourceVersion": rv}
    if owner:
        md["ownerReferences"] = [{"uid": owner, "kind": "ReplicaSet", "name": "rs"}]
    return {"kind": "Pod", "metadata": md, "spec": {"nodeName": node} if node else {}}


@pytest.mark.parametrize("obj,key", [
    (pod("a"), "default/a"),
    ({"metadata": {"name": "n1"}}, "n1"),
])
def test_object_key_and_split(obj, key):
    assert object_key(obj) == key
    assert split_key(key) == ((obj["metadata"].get("namespace") or ""), obj["metadata"]["name"])


def test_indexes_follow_updates_and_removes():
    store = Store({"node": node_name_index, "owner": owner_uid_index})
    store.put(pod("a", "n1", owner="u1"))
    store.put(pod("b", "n1", owner="u1"))
    store.put(pod("c", "", ns="other"))
    assert [p["metadata"]["name"] for p in store.by_index("node", "n1")] == ["a", "b"]
    assert store.index_keys("node", "") == ["other/c"]
    assert store.index_keys("namespace", "other") == ["other/c"]
    old = store.put(pod("b", "n2", owner="u1", rv="2"))  # moved
    assert old["metadata"]["resourceVersion"] == "1"
    assert store.index_keys("node", "n1") == ["default/a"]
    assert store.index_keys("node", "n2") == ["default/b"]
    store.remove("default/a")
    assert store.index_keys("node", "n1") == [] and store.index_keys("owner", "u1") == ["default/b"]
    assert len(store) == 2 and "default/b" in store and store.get_by_name("default", "b")


def test_indexer_added_later_indexes_what_is_there():
    store = Store()
    store.put(pod("a", "n1"))
    store.add_indexer("node", node_name_index)
    assert store.index_keys("node", "n1") == ["default/a"]
    with pytest.raises(KeyError):
        store.by_index("nope", "x")
