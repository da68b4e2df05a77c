"""For store authors and users: the :class:`Store` protocol, the stores anyoauth ships,
and the record format a store that leaves the process keeps.

A store keeps tokens and pending logins under keys the client derives (never a secret)
and gives the client a lock, so one refresh runs at a time across every client that
shares it. A new store passes :func:`anyoauth.testing.check_store` (the same contract
every shipped store passes).
"""

from __future__ import annotations

from ._file_store import FileStore as FileStore
from ._redis_store import RedisStore as RedisStore
from ._redis_store import TransportName as TransportName
from ._store import EXPIRED_GRACE as EXPIRED_GRACE
from ._store import MemoryStore as MemoryStore
from ._store import Store as Store
from ._store import dump_pending as dump_pending
from ._store import dump_token as dump_token
from ._store import load_pending as load_pending
from ._store import load_token as load_token
from ._store import token_fingerprint as token_fingerprint

__all__ = [
    "EXPIRED_GRACE",
    "FileStore",
    "MemoryStore",
    "RedisStore",
    "Store",
    "TransportName",
    "dump_pending",
    "dump_token",
    "load_pending",
    "load_token",
    "token_fingerprint",
]
