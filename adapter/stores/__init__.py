"""Implementations of the storage ports (`adapter.ports`): one package per backend.

    memory/        in-memory, for unit tests and single-process state (nonces)
    sqlite/        SQLite files in the state dir, WAL, group-committed writes
    group_commit.py, checkpointer.py   what every SQLite store shares
"""
