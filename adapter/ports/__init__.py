"""Ports: the interfaces the services need from the outside world (the core, the store)."""
