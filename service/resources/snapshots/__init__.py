"""Dataset snapshots: immutable manifests of exact object versions, their items, exports and diffs."""
