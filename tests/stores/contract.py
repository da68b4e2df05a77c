"""What the store tests share: the rule names of :func:`anyoauth.testing.check_store`
each store is run against, and sample tokens and pending flows.

The contract itself ships in ``anyoauth.testing``; each store's test module runs
``check_store`` once per rule (``rules=[rule]``), so a broken rule shows as one failed
test named for it, on asyncio and trio.
"""

from __future__ import annotations

import anyoauth
from anyoauth.testing import STORE_RULES

NAMES_RULE = "names_hold_no_secret"
"""The rule ``check_store`` adds when given ``list_names``."""

LEASE_RULE = "an_abandoned_lock_expires_after_its_ttl"
"""The rule ``check_store`` adds with ``lock_expires=True``."""

EVERY_STORE_RULE = (*STORE_RULES, NAMES_RULE)
"""The rules MemoryStore, FileStore and RedisStore all keep."""


def make_token(
    access: str = "AT-1", refresh: str | None = "RT-1", **extra: object
) -> anyoauth.Token:
    return anyoauth.Token(
        access_token=access,
        token_type="Bearer",
        issued_at=1_700_000_000.5,
        expires_at=1_700_000_300.25,
        refresh_token=refresh,
        scope="read write",
        extra=extra,
    )


def make_pending(
    state: str = "S" * 43, expires_at: float = 4_000_000_000.0
) -> anyoauth.PendingFlow:
    return anyoauth.PendingFlow(
        state=state,
        binding="teamwork:cid",
        created_at=expires_at - 600,
        expires_at=expires_at,
        code_verifier="V" * 64,
    )
