"""Revisioned key-value storage with watch, after etcd's model (interface.py).

The SQLite backend (sqlite.py) is the embedded default: one append-only log where the
revision is the row id, compare-and-swap on the previous revision, watch from any
revision, compaction that keeps the file bounded. Every backend passes the shared
conformance suite in tests/unit/storage/.
"""
