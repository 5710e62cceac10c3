"""Store implementations of `adapter.ports.store.StorePort`."""
