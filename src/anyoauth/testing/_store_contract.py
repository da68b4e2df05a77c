"""The store contract as async checks a store author runs from their own tests.

:func:`check_store` owns the rules every :class:`~anyoauth.stores.Store` keeps (the
ones :class:`~anyoauth.stores.MemoryStore`, :class:`~anyoauth.stores.FileStore` and
:class:`~anyoauth.stores.RedisStore` are tested against, with these same checks):
tokens round-trip and are independent per key, ``replace_token`` is a compare-and-set
by :func:`~anyoauth.stores.token_fingerprint`, a pending flow is taken exactly once
even by concurrent takers, nothing is dropped before its grace period ends, and the
lock has one holder at a time, gives up after ``wait``, can be cancelled and is
released only by its holder. It needs no test framework: a broken rule raises
:class:`AssertionError` naming the rule.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import attrs

from .. import StoreError
from ..sansio import PendingFlow, Token, pending_key
from ..stores import EXPIRED_GRACE, Store, token_fingerprint

__all__ = ["STORE_RULES", "check_store"]

S = TypeVar("S", bound=Store)

_NAMES_RULE = "names_hold_no_secret"
_LEASE_RULE = "an_abandoned_lock_expires_after_its_ttl"


class _Check:
    """What a rule is given besides the store."""

    def __init__(
        self,
        clock: Callable[[], float],
        list_names: Callable[[Any], Awaitable[Iterable[str | bytes]]] | None,
    ) -> None:
        self.clock = clock
        self.list_names = list_names


_Rule = Callable[[Any, _Check], Awaitable[None]]
_RULES: dict[str, _Rule] = {}


def _rule(function: _Rule) -> _Rule:
    _RULES[function.__name__.lstrip("_")] = function
    return function


def _expect(condition: bool, detail: str) -> None:
    """Raise AssertionError(detail) unless ``condition`` (never stripped by ``-O``)."""
    if not condition:
        raise AssertionError(detail)


def _sample_token(access: str = "AT-1", refresh: str | None = "RT-1", **extra: object) -> Token:
    return Token(
        access_token=access,
        token_type="Bearer",  # noqa: S106 - a token type, no secret
        issued_at=1_700_000_000.5,
        expires_at=4_000_000_300.25,  # not expired: only the expiry rules store expired tokens
        refresh_token=refresh,
        scope="read write",
        extra=extra,
    )


def _sample_pending(state: str = "S" * 43, expires_at: float = 4_000_000_000.0) -> PendingFlow:
    return PendingFlow(
        state=state,
        binding="teamwork:cid",
        created_at=expires_at - 600,
        expires_at=expires_at,
        code_verifier="V" * 64,
    )


class _BodyError(Exception):
    """Raised inside a lock's body, to see it come out unchanged."""


@asynccontextmanager
async def _held_elsewhere(store: Store, key: str) -> AsyncIterator[None]:
    """Hold ``key`` in another task for the body of the ``async with``."""
    acquired, done = anyio.Event(), anyio.Event()

    async def holder() -> None:
        async with store.lock(key, ttl=30, wait=5):
            acquired.set()
            await done.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await acquired.wait()
        try:
            yield
        finally:
            done.set()


async def _can_take(store: Store, key: str, *, wait: float = 0.05) -> bool:
    """Whether the lock ``key`` can be taken within ``wait`` (it is released again at once);
    ``False`` when the wait runs out with StoreError."""
    try:
        async with store.lock(key, ttl=30, wait=wait):
            return True
    except StoreError:
        return False


# -- tokens ---------------------------------------------------------------------------------


@_rule
async def _missing_token_is_none(store: Store, check: _Check) -> None:
    _expect(await store.get_token("token:a:b") is None, "get_token of a key never set is not None")


@_rule
async def _token_round_trips_with_every_field(store: Store, check: _Check) -> None:
    token = _sample_token(installation={"apiEndPoint": "https://x/"}, user={"id": 7})
    details = [{"type": "account_information", "actions": ["read"], "limits": {"n": 1.5}}]
    token = attrs.evolve(token, authorization_details=details)
    await store.set_token("token:a:b", token)
    loaded = await store.get_token("token:a:b")
    _expect(loaded == token, "get_token does not return the token set_token stored")
    _expect(
        loaded is not None and loaded.to_dict() == token.to_dict(),
        "the stored token lost or changed a field (extra and authorization_details included)",
    )


@_rule
async def _set_replaces_and_delete_forgets(store: Store, check: _Check) -> None:
    await store.set_token("k", _sample_token("AT-1"))
    await store.set_token("k", _sample_token("AT-2"))
    _expect(
        await store.get_token("k") == _sample_token("AT-2"),
        "set_token does not replace the token stored under the key",
    )
    await store.delete_token("k")
    await store.delete_token("k")  # deleting what is not there is no error
    _expect(await store.get_token("k") is None, "delete_token does not forget the token")


@_rule
async def _keys_are_independent(store: Store, check: _Check) -> None:
    await store.set_token("k1", _sample_token("AT-1"))
    await store.set_token("k2", _sample_token("AT-2"))
    await store.delete_token("k1")
    _expect(await store.get_token("k1") is None, "delete_token does not forget the token")
    _expect(
        await store.get_token("k2") == _sample_token("AT-2"),
        "writing or deleting one key changed the token under another",
    )


@_rule
async def _an_expired_token_with_a_refresh_token_is_kept(store: Store, check: _Check) -> None:
    now = check.clock()
    token = attrs.evolve(_sample_token("AT-1", "RT-1"), issued_at=now - 7200, expires_at=now - 3600)
    await store.set_token("k", token)
    _expect(
        await store.get_token("k") == token,
        "a token whose access token expired was dropped although its refresh token "
        "can still renew it",
    )


# -- compare-and-set ------------------------------------------------------------------------


@_rule
async def _replace_token_writes_when_expected_is_current(store: Store, check: _Check) -> None:
    old, new = _sample_token("AT-1", "RT-1"), _sample_token("AT-2", "RT-2")
    await store.set_token("k", old)
    _expect(
        await store.replace_token("k", old, new) is True,
        "replace_token did not return True although the expected token was stored",
    )
    _expect(await store.get_token("k") == new, "replace_token did not write the new token")


@_rule
async def _replace_token_never_overwrites_a_newer_token(store: Store, check: _Check) -> None:
    old, newer, late = _sample_token("AT-1"), _sample_token("AT-2", "RT-2"), _sample_token("AT-3")
    await store.set_token("k", newer)
    _expect(
        await store.replace_token("k", old, late) is False,
        "replace_token did not return False although another token was stored",
    )
    _expect(
        await store.get_token("k") == newer,
        "replace_token from an old token overwrote a newer one (not a compare-and-set)",
    )


@_rule
async def _replace_token_compares_refresh_tokens_too(store: Store, check: _Check) -> None:
    await store.set_token("k", _sample_token("AT-1", "RT-2"))
    replaced = await store.replace_token("k", _sample_token("AT-1", "RT-1"), _sample_token("X"))
    _expect(
        replaced is False,
        "replace_token matched a token with the same access token but another refresh "
        "token (compare by token_fingerprint)",
    )


@_rule
async def _replace_token_with_expected_none(store: Store, check: _Check) -> None:
    _expect(
        await store.replace_token("k", None, _sample_token("AT-1")) is True,
        "replace_token(expected=None) did not write although nothing was stored",
    )
    _expect(
        await store.replace_token("k", None, _sample_token("AT-2")) is False,
        "replace_token(expected=None) wrote although a token was stored",
    )
    _expect(
        await store.get_token("k") == _sample_token("AT-1"),
        "replace_token(expected=None) overwrote a stored token",
    )


@_rule
async def _replace_token_does_not_resurrect_a_deleted_token(store: Store, check: _Check) -> None:
    replaced = await store.replace_token("k", _sample_token("AT-1"), _sample_token("AT-2"))
    _expect(replaced is False, "replace_token from a token wrote although nothing was stored")
    _expect(
        await store.get_token("k") is None,
        "replace_token from a token wrote although nothing was stored",
    )


@_rule
async def _concurrent_replacements_from_one_token_let_exactly_one_win(
    store: Store, check: _Check
) -> None:
    old = _sample_token("AT-0")
    await store.set_token("k", old)
    wins: list[int] = []

    async def writer(i: int) -> None:
        if await store.replace_token("k", old, _sample_token(f"AT-{i + 1}", f"RT-{i + 1}")):
            wins.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(writer, i)
    _expect(
        len(wins) == 1,
        f"{len(wins)} of 20 concurrent replace_token calls from one token won (exactly one may)",
    )
    stored = await store.get_token("k")
    _expect(
        token_fingerprint(stored)
        == token_fingerprint(_sample_token(f"AT-{wins[0] + 1}", f"RT-{wins[0] + 1}")),
        "the stored token is not the one whose replace_token won",
    )


# -- pending flows --------------------------------------------------------------------------


@_rule
async def _pending_round_trips_and_is_single_use(store: Store, check: _Check) -> None:
    flow = _sample_pending()
    await store.put_pending("pending:abc", flow)
    _expect(
        await store.take_pending("pending:abc") == flow,
        "take_pending does not return the flow put_pending stored",
    )
    _expect(
        await store.take_pending("pending:abc") is None,
        "take_pending returned the flow a second time (a state must be single-use)",
    )


@_rule
async def _take_missing_pending_is_none(store: Store, check: _Check) -> None:
    _expect(
        await store.take_pending("pending:nope") is None,
        "take_pending of a key never put is not None",
    )


@_rule
async def _pending_keys_are_independent(store: Store, check: _Check) -> None:
    one, two = _sample_pending("A" * 43), _sample_pending("B" * 43)
    await store.put_pending("pending:one", one)
    await store.put_pending("pending:two", two)
    _expect(
        await store.take_pending("pending:two") == two
        and await store.take_pending("pending:one") == one,
        "a pending flow came back under another key",
    )


@_rule
async def _concurrent_takes_give_the_flow_to_exactly_one(store: Store, check: _Check) -> None:
    await store.put_pending("pending:race", _sample_pending())
    got: list[PendingFlow] = []

    async def take() -> None:
        flow = await store.take_pending("pending:race")
        if flow is not None:
            got.append(flow)

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(take)
    _expect(
        got == [_sample_pending()],
        f"{len(got)} of 50 concurrent take_pending calls got the flow (exactly one must)",
    )


@_rule
async def _an_expired_pending_flow_is_kept_through_the_grace_period(
    store: Store, check: _Check
) -> None:
    flow = _sample_pending(expires_at=check.clock() - EXPIRED_GRACE / 2)
    await store.put_pending("pending:late", flow)
    await store.put_pending("pending:next", _sample_pending())  # a put may drop expired flows
    _expect(
        await store.take_pending("pending:late") == flow,
        "a pending flow was dropped before its expires_at plus EXPIRED_GRACE (a late "
        "redirect must learn that the login expired)",
    )


# -- the lock -------------------------------------------------------------------------------


@_rule
async def _lock_excludes_other_holders(store: Store, check: _Check) -> None:
    holders = 0
    most = 0
    entered = 0

    async def hold() -> None:
        nonlocal holders, most, entered
        async with store.lock("lock:k", ttl=30, wait=30):
            holders += 1
            entered += 1
            most = max(most, holders)
            await anyio.sleep(0.001)
            holders -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(hold)
    _expect(most == 1, f"{most} tasks held the lock at once (one at a time)")
    _expect(entered == 10, f"{entered} of 10 waiting tasks got the lock (every one must)")


@_rule
async def _lock_is_released_when_the_body_raises(store: Store, check: _Check) -> None:

    async def hold_and_raise() -> None:
        async with store.lock("lock:k", ttl=30, wait=1):
            raise _BodyError

    try:
        await hold_and_raise()
    except _BodyError:
        pass
    else:
        raise AssertionError("the exception raised in the lock's body did not come out")
    try:
        async with store.lock("lock:k", ttl=30, wait=1):
            pass
    except StoreError:
        raise AssertionError("the lock was not released when its body raised") from None


@_rule
async def _lock_wait_runs_out_with_store_error(store: Store, check: _Check) -> None:
    async with _held_elsewhere(store, "lock:k"):
        taken = await _can_take(store, "lock:k", wait=0.05)
    _expect(not taken, "two holders of the lock at once (waiting did not run out with StoreError)")


@_rule
async def _locks_with_other_names_are_independent(store: Store, check: _Check) -> None:
    try:
        async with store.lock("lock:a", ttl=30, wait=1), store.lock("lock:b", ttl=30, wait=1):
            pass
    except StoreError:
        raise AssertionError("holding one lock kept another name's lock from being taken") from None


@_rule
async def _waiting_for_a_lock_can_be_cancelled(store: Store, check: _Check) -> None:
    taken = False
    async with _held_elsewhere(store, "lock:k"):
        with anyio.move_on_after(0.05) as scope:
            async with store.lock("lock:k", ttl=30, wait=30):
                taken = True
    _expect(not taken, "two holders of the lock at once")
    _expect(scope.cancelled_caught, "cancelling a task waiting for the lock had no effect")
    _expect(
        await _can_take(store, "lock:k", wait=1),
        "a cancelled wait for the lock left the lock held",
    )


@_rule
async def _a_holder_whose_ttl_ran_out_never_releases_the_next_holders_lock(
    store: Store, check: _Check
) -> None:
    # A lock may be a lease (taken from a holder after its ttl, as RedisStore's) or be
    # held until its holder leaves (MemoryStore, FileStore): either way, the first
    # holder leaving must not free the lock the second holder took.
    first_in, first_left, second_holds, done = (anyio.Event() for _ in range(4))

    async def first() -> None:
        async with store.lock("lock:k", ttl=0.2, wait=5):
            first_in.set()
            with anyio.move_on_after(0.6):
                await second_holds.wait()
        first_left.set()

    async def second() -> None:
        async with store.lock("lock:k", ttl=30, wait=10):
            second_holds.set()
            await done.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await first_in.wait()
        tg.start_soon(second)
        await first_left.wait()
        await second_holds.wait()
        try:
            freed = await _can_take(store, "lock:k")
        finally:
            done.set()
    _expect(
        not freed,
        "a holder leaving after its ttl ran out released the lock another holder had taken "
        "since (only the holder releases a lock)",
    )


@_rule
async def _store_is_a_store(store: Store, check: _Check) -> None:
    _expect(
        isinstance(store, Store),
        "it is not an anyoauth.stores.Store (a method of the protocol is missing)",
    )


@_rule
async def _repr_shows_no_secret(store: Store, check: _Check) -> None:
    await store.set_token("k", _sample_token("AT-SENTINEL-r", "RT-SENTINEL-r"))
    await store.put_pending("pending:p", _sample_pending("STATE-SENTINEL-" + "r" * 28))
    _expect("SENTINEL" not in repr(store), "repr(store) shows a stored secret")


STORE_RULES: tuple[str, ...] = tuple(_RULES)
"""The names of the rules :func:`check_store` checks for every store, in order."""


# -- rules that need the caller's help ------------------------------------------------------


@_rule
async def _names_hold_no_secret(store: Store, check: _Check) -> None:
    assert check.list_names is not None
    state = "STATE-SENTINEL-" + "s" * 30
    token = _sample_token("AT-SENTINEL", "RT-SENTINEL", id_token="ID-SENTINEL")  # noqa: S106
    flow = PendingFlow(
        state=state,
        binding="teamwork:cid",
        created_at=check.clock(),
        expires_at=4_000_000_000.0,
        code_verifier="VERIFIER-SENTINEL-" + "v" * 40,
    )
    await store.set_token("token:teamwork:cid:default", token)
    await store.put_pending("pending:" + pending_key(state), flow)
    async with store.lock("lock:token:teamwork:cid:default", ttl=30, wait=1):
        names = [
            name.decode("utf-8", "replace") if isinstance(name, bytes) else name
            for name in await check.list_names(store)
        ]
    _expect(bool(names), "list_names found nothing after a token and a flow were stored")
    leaked = sorted(name for name in names if "SENTINEL" in name)
    _expect(
        not leaked,
        f"{len(leaked)} name(s) in the store's backend contain a stored secret (a token, "
        "a state or a code verifier); names must come from the keys only",
    )


@_rule
async def _an_abandoned_lock_expires_after_its_ttl(store: Store, check: _Check) -> None:
    holding = anyio.Event()

    async def hang() -> None:  # a holder that hangs (or died) and never leaves
        async with store.lock("lock:k", ttl=0.5, wait=1):
            holding.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(hang)
        await holding.wait()
        early = await _can_take(store, "lock:k")
        later = early or await _can_take(store, "lock:k", wait=5)
        tg.cancel_scope.cancel()
    _expect(not early, "two holders of the lock at once (before the first holder's ttl ran out)")
    _expect(later, "a holder that hung kept the lock long after its ttl")


_OPTIONAL = {_NAMES_RULE: "list_names", _LEASE_RULE: "lock_expires=True"}


async def check_store(
    make_store: Callable[[], S | Awaitable[S]],
    *,
    rules: Collection[str] | None = None,
    clock: Callable[[], float] = time.time,
    list_names: Callable[[S], Awaitable[Iterable[str | bytes]]] | None = None,
    lock_expires: bool = False,
    rule_timeout: float = 60.0,
) -> None:
    """Check that a store keeps every rule of the :class:`~anyoauth.stores.Store` contract.

    Call it from your store's tests, on each event loop you support::

        async def test_my_store_keeps_the_store_contract() -> None:
            await check_store(lambda: MyStore(...))

    Each rule runs on a new store from ``make_store``, one rule after the other; a
    store with an ``aclose()`` method is closed after its rule. The rules of
    :data:`STORE_RULES` always run: tokens round-trip with every field and are
    independent per key, a refreshable token outlives its access token,
    ``replace_token`` is a compare-and-set by
    :func:`~anyoauth.stores.token_fingerprint` (20 concurrent writers from one token:
    one wins), a pending flow is taken once (50 concurrent takers: one gets it) and
    kept until its ``expires_at`` plus :data:`~anyoauth.stores.EXPIRED_GRACE`, the
    lock has one holder at a time, is released when its body raises, runs out after
    ``wait`` with :class:`~anyoauth.StoreError`, can be cancelled while waiting, and is
    released only by its holder, and the store's ``repr`` shows no secret.

    Args:
        make_store: returns a new, empty store (or an awaitable of one). Stores it
            makes must not see each other's keys (a new directory, a new key prefix
            or an emptied database each time).
        rules: run only the rules of these names (from :data:`STORE_RULES`, or the
            two below); by default every rule that applies.
        clock: the clock the stores use for expiry, in seconds since the epoch.
        list_names: ``async (store) -> names``, every name the store's backend holds
            for ``store`` (keys, file names...): adds the rule
            ``"names_hold_no_secret"``, which stores a token, a pending flow and a
            lock and checks that no name contains a token, a ``state`` or a code
            verifier.
        lock_expires: the store's lock is a lease, taken from a holder that hangs or
            dies once its ``ttl`` runs out (as :class:`~anyoauth.stores.RedisStore`'s):
            adds the rule ``"an_abandoned_lock_expires_after_its_ttl"``.
        rule_timeout: seconds one rule may take; a rule still running then is broken
            (a call that hangs, a lock never granted).

    Raises:
        AssertionError: a rule is broken; the message names the rule and says what
            the store did (``MyStore breaks the store rule
            'concurrent_takes_give_the_flow_to_exactly_one': 2 of 50 concurrent
            take_pending calls got the flow (exactly one must)``).
        ValueError: ``rules`` names a rule that does not exist, or one whose
            argument (``list_names``, ``lock_expires``) is not given.

    Any other exception a store raises comes out as it is, with a note naming the
    rule being checked.
    """
    enabled = {_NAMES_RULE: list_names is not None, _LEASE_RULE: lock_expires}
    if rules is None:
        names = [name for name in _RULES if enabled.get(name, True)]
    else:
        if isinstance(rules, str):
            raise ValueError("rules is a collection of rule names, not one name")
        unknown = sorted(set(rules) - set(_RULES))
        if unknown:
            raise ValueError(f"no store rule is called {', '.join(map(repr, unknown))}")
        for name in rules:
            if not enabled.get(name, True):
                raise ValueError(f"the store rule {name!r} needs {_OPTIONAL[name]}")
        names = [name for name in _RULES if name in rules]
    check = _Check(clock, list_names)
    for name in names:
        await _run(name, make_store, check, rule_timeout)


async def _run(name: str, make_store: Callable[[], Any], check: _Check, limit: float) -> None:
    made = make_store()
    store = await made if inspect.isawaitable(made) else made
    try:
        try:
            with anyio.move_on_after(limit) as deadline:
                await _RULES[name](store, check)
        except AssertionError as exc:
            message = f"{type(store).__name__} breaks the store rule {name!r}: {exc}"
            raise AssertionError(message).with_traceback(exc.__traceback__) from None
        except Exception as exc:
            exc.add_note(f"while checking the store rule {name!r}")
            raise
        if deadline.cancelled_caught:
            raise AssertionError(
                f"{type(store).__name__} breaks the store rule {name!r}: it did not finish "
                f"within {limit:g} s (a call that hangs, or a lock never granted)"
            )
    finally:
        aclose = getattr(store, "aclose", None)
        if callable(aclose):
            with anyio.CancelScope(shield=True):
                await aclose()
