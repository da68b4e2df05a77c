"""anyoauth.testing.check_store: a store that breaks a rule fails the check with a message
naming that rule, a correct store passes, and the check makes, closes and times its stores."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import anyoauth
from anyoauth.sansio import PendingFlow, Token
from anyoauth.stores import MemoryStore, token_fingerprint
from anyoauth.testing import STORE_RULES, check_store

from .contract import LEASE_RULE, NAMES_RULE

pytestmark = pytest.mark.anyio


class TakesTwice(MemoryStore):
    """take_pending hands out the flow but keeps it."""

    async def take_pending(self, key: str) -> PendingFlow | None:
        return self._pending.get(key)


class TakesWithARace(MemoryStore):
    """take_pending reads, yields to the event loop, then removes: not atomic."""

    async def take_pending(self, key: str) -> PendingFlow | None:
        flow = self._pending.get(key)
        await anyio.lowlevel.checkpoint()
        self._pending.pop(key, None)
        return flow


class OverwritesBlindly(MemoryStore):
    """replace_token writes whatever is stored."""

    async def replace_token(self, key: str, expected: Token | None, token: Token) -> bool:
        self._tokens[key] = token
        return True


class ComparesAccessTokensOnly(MemoryStore):
    """replace_token compares the access token, not the token_fingerprint."""

    async def replace_token(self, key: str, expected: Token | None, token: Token) -> bool:
        current = self._tokens.get(key)
        if (current and current.access_token) != (expected and expected.access_token):
            return False
        self._tokens[key] = token
        return True


class ComparesThenYields(MemoryStore):
    """replace_token compares, yields to the event loop, then writes: not atomic."""

    async def replace_token(self, key: str, expected: Token | None, token: Token) -> bool:
        if token_fingerprint(self._tokens.get(key)) != token_fingerprint(expected):
            return False
        await anyio.lowlevel.checkpoint()
        self._tokens[key] = token
        return True


class DropsExpiredTokens(MemoryStore):
    """get_token forgets a token once its access token expired, refresh token or not."""

    async def get_token(self, key: str) -> Token | None:
        token = self._tokens.get(key)
        if token is not None and token.expires_at is not None and token.expires_at < self._clock():
            return None
        return token


class DropsExpiredFlowsAtOnce(MemoryStore):
    """take_pending forgets a flow as soon as its expires_at passed, with no grace."""

    async def take_pending(self, key: str) -> PendingFlow | None:
        flow = self._pending.pop(key, None)
        return None if flow is None or flow.expires_at < self._clock() else flow


class LocksNothing(MemoryStore):
    """lock() lets every task in at once."""

    def lock(self, key: str, *, ttl: float, wait: float) -> AbstractAsyncContextManager[None]:
        return nullcontext()


class ShowsTokens(MemoryStore):
    """repr() lists the stored tokens."""

    def __repr__(self) -> str:
        return f"<ShowsTokens {[t.access_token for t in self._tokens.values()]}>"


class Lease(MemoryStore):
    """A lease lock, as a store shared across processes has: the holder's ttl running out
    frees it. ``careful`` releases only the holder's own lease; otherwise it frees the
    lock whoever holds it now."""

    careful = True

    def __init__(self) -> None:
        super().__init__()
        self._leases: dict[str, tuple[object, float]] = {}

    def lock(self, key: str, *, ttl: float, wait: float) -> AbstractAsyncContextManager[None]:
        return self._lease(key, ttl, wait)

    @asynccontextmanager
    async def _lease(self, key: str, ttl: float, wait: float) -> AsyncIterator[None]:
        owner = object()
        deadline = anyio.current_time() + wait
        while (held := self._leases.get(key)) and held[1] > anyio.current_time():
            if anyio.current_time() >= deadline:
                raise anyoauth.StoreError(f"lock not acquired within {wait} s")
            await anyio.sleep(0.005)
        self._leases[key] = (owner, anyio.current_time() + ttl)
        try:
            yield
        finally:
            if not self.careful or self._leases.get(key, (None,))[0] is owner:
                self._leases.pop(key, None)


class CarelessLease(Lease):
    """A lease lock whose holder, once its ttl ran out, still frees the lock on leaving."""

    careful = False


class NamesByValue(MemoryStore):
    """Names its backend's entries after the tokens' values."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    async def set_token(self, key: str, token: Token) -> None:
        self.names.append(f"{key}/{token.access_token}")
        await super().set_token(key, token)


async def names_by_value(store: NamesByValue) -> list[str]:
    return store.names


@pytest.mark.parametrize(
    ("broken", "rule", "detail"),
    [
        (TakesTwice, "pending_round_trips_and_is_single_use", "returned the flow a second time"),
        (TakesWithARace, "concurrent_takes_give_the_flow_to_exactly_one", "50 of 50"),
        (OverwritesBlindly, "replace_token_never_overwrites_a_newer_token", "did not return False"),
        (
            ComparesAccessTokensOnly,
            "replace_token_compares_refresh_tokens_too",
            "token_fingerprint",
        ),
        (ComparesThenYields, "concurrent_replacements_from_one_token_let_exactly_one_win", "of 20"),
        (DropsExpiredTokens, "an_expired_token_with_a_refresh_token_is_kept", "refresh token"),
        (DropsExpiredFlowsAtOnce, "an_expired_pending_flow_is_kept_through_the_grace_period", ""),
        (LocksNothing, "lock_excludes_other_holders", "10 tasks held the lock at once"),
        (ShowsTokens, "repr_shows_no_secret", "repr(store) shows a stored secret"),
        (CarelessLease, "a_holder_whose_ttl_ran_out_never_releases_the_next_holders_lock", ""),
    ],
)
async def test_a_store_breaking_a_rule_fails_the_check_naming_that_rule(
    broken: type[MemoryStore], rule: str, detail: str
) -> None:
    with pytest.raises(AssertionError) as caught:
        await check_store(broken)
    message = str(caught.value)
    assert message.startswith(f"{broken.__name__} breaks the store rule {rule!r}: "), message
    assert detail in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_names_made_from_values_fail_the_check() -> None:
    with pytest.raises(AssertionError, match=re.escape(f"{NAMES_RULE!r}: 1 name(s)")):
        await check_store(NamesByValue, list_names=names_by_value)


async def test_a_lock_that_outlives_its_holders_ttl_fails_the_lease_rule() -> None:
    with pytest.raises(AssertionError, match=re.escape(f"{LEASE_RULE!r}: a holder that hung")):
        await check_store(MemoryStore, rules=[LEASE_RULE], lock_expires=True)


async def test_a_correct_lease_keeps_every_rule() -> None:
    await check_store(Lease, lock_expires=True)


async def test_a_store_that_hangs_fails_the_rule_it_hangs_in() -> None:
    class Hangs(MemoryStore):
        async def get_token(self, key: str) -> Token | None:
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

    with pytest.raises(AssertionError, match="'missing_token_is_none': it did not finish"):
        await check_store(Hangs, rule_timeout=0.05)


async def test_a_store_error_comes_out_with_a_note_naming_the_rule() -> None:
    class Fails(MemoryStore):
        async def put_pending(self, key: str, pending: PendingFlow) -> None:
            raise anyoauth.StoreError("the disk is full")

    with pytest.raises(anyoauth.StoreError, match="the disk is full") as caught:
        await check_store(Fails)
    assert caught.value.__notes__ == [
        "while checking the store rule 'pending_round_trips_and_is_single_use'"
    ]


async def test_each_rule_gets_a_new_store_which_is_closed_after_it() -> None:
    made: list[Any] = []

    class Closable(MemoryStore):
        closed = False

        async def aclose(self) -> None:
            self.closed = True

    async def make() -> Closable:
        store = Closable()
        made.append(store)
        return store

    rules = ["take_missing_pending_is_none", "missing_token_is_none"]
    await check_store(make, rules=rules)
    assert len(made) == 2
    assert all(store.closed for store in made)


async def test_the_rules_run_are_every_store_rule_unless_told_otherwise() -> None:
    made: list[MemoryStore] = []

    def make() -> MemoryStore:
        made.append(MemoryStore())
        return made[-1]

    await check_store(make)
    assert len(made) == len(STORE_RULES)
    assert len(set(STORE_RULES)) == len(STORE_RULES)
    assert {NAMES_RULE, LEASE_RULE}.isdisjoint(STORE_RULES)


async def test_expiry_is_checked_against_the_clock_the_stores_use() -> None:
    later = 3_000_000_000.0  # the stores' clock; a flow expired by the wall clock is long gone
    rule = "an_expired_pending_flow_is_kept_through_the_grace_period"

    def make() -> MemoryStore:
        return MemoryStore(clock=lambda: later)

    await check_store(make, rules=[rule], clock=lambda: later)
    with pytest.raises(AssertionError, match=f"{rule!r}: a pending flow was dropped"):
        await check_store(make, rules=[rule])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rules": ["no_such_rule"]}, "no store rule is called 'no_such_rule'"),
        ({"rules": "missing_token_is_none"}, "not one name"),
        ({"rules": [NAMES_RULE]}, f"the store rule {NAMES_RULE!r} needs list_names"),
        ({"rules": [LEASE_RULE]}, f"the store rule {LEASE_RULE!r} needs lock_expires=True"),
    ],
)
async def test_rules_that_cannot_run_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        await check_store(MemoryStore, **options)
