"""FileStore: the store contract, file modes, persistence, and behaviour across processes
(lock exclusion, a holder killed with SIGKILL, single-use pending flows, compare-and-set,
and writers killed at random instants)."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import anyoauth
from anyoauth import _file_store
from anyoauth.stores import EXPIRED_GRACE, FileStore, dump_token, token_fingerprint
from anyoauth.testing import check_store

from .contract import EVERY_STORE_RULE, make_pending, make_token


async def file_names(store: FileStore) -> list[str]:
    """Every path under the store's directory."""
    return [str(path.relative_to(store.path)) for path in store.path.rglob("*")]


@pytest.mark.anyio
@pytest.mark.parametrize("rule", EVERY_STORE_RULE)
async def test_file_store_keeps_the_store_rule(tmp_path: Path, rule: str) -> None:
    count = itertools.count()
    await check_store(
        lambda: FileStore(tmp_path / f"store-{next(count)}"), rules=[rule], list_names=file_names
    )


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- files, modes, persistence ---------------------------------------------------------------


@pytest.fixture
def umask_zero() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.anyio
@pytest.mark.usefixtures("umask_zero")
async def test_modes_are_private_whatever_the_umask(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = FileStore(root)
    await store.set_token("token:a", make_token())
    assert await store.replace_token("token:a", make_token(), make_token("AT-2")) is True
    await store.put_pending("pending:a", make_pending())
    async with store.lock("lock:a", ttl=30, wait=1):
        pass
    assert mode(root) == 0o700
    for sub in ("tokens", "pending", "locks", "token-locks"):
        assert mode(root / sub) == 0o700
    files = all_files(root)
    assert {p.parent.name for p in files} == {"tokens", "pending", "locks", "token-locks"}
    for path in files:
        assert mode(path) == 0o600, path


@pytest.mark.usefixtures("umask_zero")
def test_an_existing_readable_directory_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    root.chmod(0o755)
    (root / "tokens").mkdir()
    (root / "tokens").chmod(0o711)
    FileStore(root)
    assert mode(root) == 0o700
    assert mode(root / "tokens") == 0o700


@pytest.mark.usefixtures("umask_zero")
@pytest.mark.parametrize("where", ["", "tokens"])
@pytest.mark.parametrize("open_mode", [0o777, 0o775, 0o757, 0o1777])
def test_a_directory_others_may_write_in_is_refused(
    tmp_path: Path, where: str, open_mode: int
) -> None:
    root = tmp_path / "store"
    root.mkdir(mode=0o700)
    (root / "tokens").mkdir(mode=0o700)
    (root / where).chmod(open_mode)
    with pytest.raises(anyoauth.StoreError, match="other users may write") as caught:
        FileStore(root)
    assert str(root / where).rstrip("/") in str(caught.value)
    assert mode(root / where) == open_mode  # left as it was


@pytest.mark.usefixtures("umask_zero")
def test_missing_parents_are_created_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    store = FileStore(str(home / "a" / "b" / "store"))
    assert store.path == home / "a" / "b" / "store"
    assert [mode(p) for p in (store.path, store.path.parent, home / "a")] == [0o700] * 3
    assert mode(home) == 0o755  # what existed is left alone


def test_a_file_where_a_subdirectory_belongs_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "pending").write_text("")
    with pytest.raises(anyoauth.ConfigurationError, match="pending"):
        FileStore(tmp_path / "store")
    assert mode(tmp_path / "store" / "pending") != 0o700


def test_a_file_is_not_a_store_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(anyoauth.ConfigurationError):
        FileStore(tmp_path / "file")
    with pytest.raises(anyoauth.ConfigurationError):
        FileStore(tmp_path / "file" / "store")
    assert mode(tmp_path / "file") != 0o700


def test_without_posix_file_locks_it_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_file_store, "_HAS_FLOCK", False)
    with pytest.raises(anyoauth.ConfigurationError, match="POSIX file locks"):
        FileStore(tmp_path)


def test_repr_shows_the_path_only(tmp_path: Path) -> None:
    assert repr(FileStore(tmp_path / "s")) == f"<FileStore path={str(tmp_path / 's')!r}>"


@pytest.mark.anyio
async def test_file_names_contain_no_part_of_the_key(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    key = "token:teamwork:client-id:alice"
    await store.set_token(key, make_token())
    await store.put_pending(key, make_pending())
    async with store.lock(key, ttl=30, wait=1):
        pass
    await store.set_token(key, make_token("AT-2"))  # leaves no temporary file either
    names = [p.name for p in (tmp_path / "store").rglob("*")]
    assert sorted(names) == sorted(
        ["tokens", "pending", "locks", "token-locks", *[digest(key)] * 4]
    )
    for part in ("token", "teamwork", "client", "alice"):
        assert all(part not in name for name in names if len(name) == 64)


@pytest.mark.anyio
async def test_a_second_store_on_the_path_sees_what_the_first_wrote(tmp_path: Path) -> None:
    first = FileStore(tmp_path / "store")
    token = make_token(installation={"apiEndPoint": "https://x/"})
    await first.set_token("k", token)
    await first.put_pending("p", make_pending())
    second = FileStore(tmp_path / "store")
    loaded = await second.get_token("k")
    assert loaded is not None
    assert loaded.to_dict() == token.to_dict()
    assert await second.take_pending("p") == make_pending()
    assert await first.take_pending("p") is None
    await second.delete_token("k")
    assert await first.get_token("k") is None


@pytest.mark.anyio
async def test_a_corrupt_token_file_is_a_store_error(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    await store.set_token("k", make_token())
    (tmp_path / "store" / "tokens" / digest("k")).write_bytes(b'{"access_token": "AT-1", tru')
    with pytest.raises(anyoauth.StoreError, match="unreadable"):
        await store.get_token("k")
    with pytest.raises(anyoauth.StoreError):
        await store.replace_token("k", make_token(), make_token("AT-2"))
    await store.set_token("k", make_token("AT-3"))  # a fresh login overwrites it
    assert await store.get_token("k") == make_token("AT-3")


@pytest.mark.anyio
async def test_a_large_token_round_trips(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    token = make_token(blob="x" * 300_000)  # read in a worker thread
    await store.set_token("k", token)
    loaded = await store.get_token("k")
    assert loaded is not None
    assert loaded.to_dict() == token.to_dict()


@pytest.mark.anyio
async def test_a_corrupt_pending_flow_is_a_store_error_and_discarded(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    await store.put_pending("p", make_pending())
    (tmp_path / "store" / "pending" / digest("p")).write_bytes(b"[1, 2")
    with pytest.raises(anyoauth.StoreError, match="unreadable"):
        await store.take_pending("p")
    assert await store.take_pending("p") is None
    assert all_files(tmp_path / "store" / "pending") == []


@pytest.mark.anyio
async def test_unreachable_files_are_store_errors(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    tokens = tmp_path / "store" / "tokens"
    (tokens / digest("k")).mkdir()  # opening it for reading fails with EISDIR
    with pytest.raises(anyoauth.StoreError, match="not a regular file"):
        await store.get_token("k")
    with pytest.raises(anyoauth.StoreError, match="could not write a token"):
        await store.set_token("k", make_token())
    assert [p.name for p in tokens.iterdir()] == [digest("k")]  # no temporary file left


# -- the two locks -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_tokens_can_be_written_while_holding_the_lock_of_the_same_key(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "store")
    key = "token:a:b"
    async with store.lock(key, ttl=30, wait=1):
        await store.set_token(key, make_token("AT-1"))
        assert await store.replace_token(key, make_token("AT-1"), make_token("AT-2")) is True
        await store.delete_token(key)
    assert await store.get_token(key) is None


@pytest.mark.anyio
async def test_the_lock_is_not_reentrant(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    async with store.lock("k", ttl=30, wait=1):
        with pytest.raises(anyoauth.StoreError, match="not acquired within"):
            async with store.lock("k", ttl=30, wait=0.03):
                pytest.fail("acquired twice")


@pytest.mark.anyio
async def test_two_store_objects_exclude_each_other(tmp_path: Path) -> None:
    first, second = FileStore(tmp_path / "store"), FileStore(tmp_path / "store")
    async with first.lock("k", ttl=30, wait=1):
        with pytest.raises(anyoauth.StoreError):
            async with second.lock("k", ttl=30, wait=0.03):
                pytest.fail("two holders at once")
    async with second.lock("k", ttl=30, wait=1):
        pass


@pytest.mark.anyio
async def test_writes_do_not_block_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path / "store")
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(0.1)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.005)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await store.set_token("k", make_token())  # two fsyncs: file and directory
        await store.put_pending("p", make_pending())
        assert await store.take_pending("p") == make_pending()
        tg.cancel_scope.cancel()
    assert ticks >= 20


# -- cleanup -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_expired_pending_flows_are_dropped_after_the_grace_period(tmp_path: Path) -> None:
    clock = Clock()
    store = FileStore(tmp_path / "store", clock=clock)
    pending_dir = tmp_path / "store" / "pending"
    for i in range(20):
        await store.put_pending(f"old{i}", make_pending(f"s{i}", expires_at=clock.now + 10))
    clock.now += 10 + EXPIRED_GRACE - 1
    await store.put_pending("new", make_pending("n", expires_at=clock.now + 600))
    # Inside the grace period an expired flow is still returned (the client says FlowExpired).
    assert await store.take_pending("old0") == make_pending("s0", expires_at=1010)
    clock.now += 60  # the next sweep is due
    await store.put_pending("newer", make_pending("m", expires_at=clock.now + 600))
    assert await store.take_pending("old1") is None
    assert sorted(p.name for p in pending_dir.iterdir()) == sorted([digest("new"), digest("newer")])
    assert await store.take_pending("new") == make_pending("n", expires_at=1000 + 10 + 299 + 600)


@pytest.mark.anyio
async def test_the_sweep_runs_at_most_once_a_minute(tmp_path: Path) -> None:
    clock = Clock()
    store = FileStore(tmp_path / "store", clock=clock)
    await store.put_pending("a", make_pending("a", expires_at=1100))  # sweeps; next at 1060
    clock.now = 1030
    await store.put_pending("b", make_pending("b", expires_at=2000))  # no sweep
    clock.now = 1401  # "a" may be dropped from 1400 on
    await store.put_pending("c", make_pending("c", expires_at=2000))  # sweeps; next at 1461
    assert await store.take_pending("a") is None
    await store.put_pending("a", make_pending("a", expires_at=1110))  # drop at 1410
    clock.now = 1460
    await store.put_pending("d", make_pending("d", expires_at=2000))  # too soon to sweep
    assert await store.take_pending("a") == make_pending("a", expires_at=1110)
    await store.put_pending("a", make_pending("a", expires_at=1110))
    clock.now = 1461
    await store.put_pending("e", make_pending("e", expires_at=2000))  # sweeps
    assert await store.take_pending("a") is None
    for key in "bcde":
        assert await store.take_pending(key) is not None


@pytest.mark.anyio
async def test_the_sweep_keeps_a_flow_put_again_under_an_expired_key(tmp_path: Path) -> None:
    clock = Clock()
    store = FileStore(tmp_path / "store", clock=clock)
    path = tmp_path / "store" / "pending" / digest("k")
    await store.put_pending("k", make_pending("old", expires_at=clock.now))
    # The sweep saw the old flow expired, but a fresh one lands before it renames it.
    fresh = make_pending("fresh", expires_at=clock.now + 10_000)
    clock.now += EXPIRED_GRACE + 1
    await store.put_pending("k", fresh)
    assert FileStore._drop_expired(store._fds["pending"], path.name, clock.now) is True
    assert await store.take_pending("k") == fresh
    assert all_files(path.parent) == []


@pytest.mark.anyio
async def test_leftovers_of_dead_processes_are_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path / "store")
    pending_dir = tmp_path / "store" / "pending"
    leftovers = [pending_dir / f"{digest('x')}.0123.tmp", pending_dir / f"{digest('y')}.ab.taken"]
    for path in leftovers:
        path.write_bytes(b"{")
    await store.put_pending("p", make_pending())  # first put: sweeps, but they are recent
    assert all(path.exists() for path in leftovers)
    monkeypatch.setattr(_file_store, "_STALE_AGE", -10.0)
    await FileStore(tmp_path / "store").put_pending("q", make_pending())
    assert sorted(p.name for p in pending_dir.iterdir()) == sorted([digest("p"), digest("q")])


@pytest.mark.anyio
async def test_a_failed_sweep_does_not_fail_the_put(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(self: FileStore, now: float) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(FileStore, "_sweep_pending", refuse)
    store = FileStore(tmp_path / "store")
    await store.put_pending("p", make_pending())
    assert await store.take_pending("p") == make_pending()
    assert "could not sweep pending flows: Permission denied" in caplog.text


@pytest.mark.anyio
async def test_a_dead_writers_temporary_token_file_is_swept_on_open(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    await store.set_token("k", make_token())
    tokens = tmp_path / "store" / "tokens"
    leftover = tokens / f"{digest('k')}.tmp"
    leftover.write_bytes(b'{"access_tok')
    async with store._token_write_lock(digest("k")):  # a live writer: left alone
        FileStore(tmp_path / "store")
        assert leftover.exists()
    FileStore(tmp_path / "store")
    assert not leftover.exists()
    assert await store.get_token("k") == make_token()


# -- across processes --------------------------------------------------------------------------

CHILD = r"""
import os, signal, sys, time
import anyio
from anyoauth import PendingFlow, Token
from anyoauth.stores import FileStore

mode, backend, path = sys.argv[1:4]
args = sys.argv[4:]
store = FileStore(path)


def token(name, size=0):
    extra = {"blob": name * size} if size else {}
    return Token(access_token="AT-" + name, refresh_token="RT-" + name, issued_at=1.0, extra=extra)


def wait_for_go():
    print("ready", flush=True)
    assert sys.stdin.readline() == "go\n"


async def counter(counter_file, rounds):
    for _ in range(int(rounds)):
        async with store.lock("lock:counter", ttl=30, wait=30):
            with open(counter_file) as f:
                value = int(f.read())
            await anyio.sleep(0.0005)
            with open(counter_file, "w") as f:
                f.write(str(value + 1))


async def hold():
    async with store.lock("lock:held", ttl=30, wait=5):
        print("held", flush=True)
        await anyio.sleep(60)


async def take():
    flow = await store.take_pending("pending:race")
    print("got " + flow.state if flow else "none", flush=True)


async def cas(name):
    won = await store.replace_token("token:cas", token("T0"), token(name))
    print("won" if won else "lost", flush=True)


async def write_forever(key, size, started):
    os.write(started, b"x")
    os.close(started)
    i = 0
    while True:
        await store.set_token(key, token("AB"[i % 2], int(size)))
        i += 1


def crash_driver(key, size):
    # Forks writers on request (fast: everything is imported already) and reaps them;
    # the test kills them.
    anyio.run(anyio.sleep, 0, backend=backend)  # imports the backend before forking
    for line in sys.stdin:
        if line == "start\n":
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                try:
                    anyio.run(write_forever, key, size, w, backend=backend)
                finally:
                    os._exit(1)
            os.close(w)
            assert os.read(r, 1) == b"x"
            os.close(r)
            print(pid, flush=True)
        elif line == "reap\n":
            _, status = os.waitpid(pid, 0)
            print(status, flush=True)


if mode == "counter":
    anyio.run(counter, *args, backend=backend)
elif mode == "hold":
    anyio.run(hold, backend=backend)
elif mode == "take":
    wait_for_go()
    anyio.run(take, backend=backend)
elif mode == "cas":
    wait_for_go()
    anyio.run(cas, *args, backend=backend)
elif mode == "crash":
    crash_driver(*args)
"""

BACKENDS = ("asyncio", "trio")

Spawn = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start ``python -c CHILD mode backend path *args``; kill leftovers at teardown."""
    children: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        child = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", CHILD, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=10)


def expect_line(child: subprocess.Popen[str], expected: str | None = None) -> str:
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        _, err = child.communicate(timeout=10)
        pytest.fail(f"child exited ({child.returncode}): {err}")
    line = line.rstrip("\n")
    if expected is not None:
        assert line == expected
    return line


def finish(child: subprocess.Popen[str]) -> str:
    out, err = child.communicate(timeout=20)
    assert child.returncode == 0, err
    return out


def run(fn: Callable[..., Any], *args: Any, backend: str = "asyncio") -> Any:
    return anyio.run(fn, *args, backend=backend)


def test_the_lock_excludes_other_processes(tmp_path: Path, spawn: Spawn) -> None:
    counter = tmp_path / "counter"
    counter.write_text("0")
    children = [
        spawn("counter", BACKENDS[i % 2], str(tmp_path / "store"), str(counter), "30")
        for i in range(6)
    ]
    for child in children:
        finish(child)
    assert counter.read_text() == "180"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_holder_killed_with_sigkill_releases_the_lock(
    tmp_path: Path, spawn: Spawn, backend: str
) -> None:
    store = FileStore(tmp_path / "store")

    async def try_lock(wait: float) -> float:
        started = anyio.current_time()
        async with store.lock("lock:held", ttl=30, wait=wait):
            return anyio.current_time() - started

    holder = spawn("hold", backend, str(tmp_path / "store"))
    expect_line(holder, "held")
    with pytest.raises(anyoauth.StoreError):
        run(try_lock, 0.05, backend=backend)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert run(try_lock, 5.0, backend=backend) < 0.1


def test_only_one_process_takes_a_pending_flow(tmp_path: Path, spawn: Spawn) -> None:
    store = FileStore(tmp_path / "store")
    flow = make_pending("the-state")
    run(store.put_pending, "pending:race", flow)
    children = [spawn("take", BACKENDS[i % 2], str(tmp_path / "store")) for i in range(8)]
    for child in children:
        expect_line(child, "ready")
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = sorted(finish(child).strip() for child in children)
    assert results == ["got the-state"] + ["none"] * 7
    assert all_files(tmp_path / "store" / "pending") == []


def test_only_one_process_wins_a_compare_and_set(tmp_path: Path, spawn: Spawn) -> None:
    store = FileStore(tmp_path / "store")
    t0 = anyoauth.Token(access_token="AT-T0", refresh_token="RT-T0", issued_at=1.0)
    run(store.set_token, "token:cas", t0)
    children = [spawn("cas", BACKENDS[i % 2], str(tmp_path / "store"), f"W{i}") for i in range(8)]
    for child in children:
        expect_line(child, "ready")
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [finish(child).strip() for child in children]
    assert sorted(results) == ["lost"] * 7 + ["won"]
    winner = f"W{results.index('won')}"
    stored = run(store.get_token, "token:cas")
    assert stored.access_token == f"AT-{winner}"
    assert token_fingerprint(stored) == token_fingerprint(
        anyoauth.Token(access_token=f"AT-{winner}", refresh_token=f"RT-{winner}", issued_at=1.0)
    )


def crash_token(name: str, size: int = 0) -> anyoauth.Token:
    """The tokens the crash test's writers write (same formula as ``token`` in CHILD)."""
    extra = {"blob": name * size} if size else {}
    return anyoauth.Token(
        access_token="AT-" + name, refresh_token="RT-" + name, issued_at=1.0, extra=extra
    )


CRASH_KILLS = 100
"""Writers the crash test kills (tests/hardening runs it with a few hundred)."""


def test_writers_killed_at_random_instants_never_leave_a_broken_token(
    tmp_path: Path, spawn: Spawn
) -> None:
    kills, size, key = CRASH_KILLS, 400_000, "token:crash"
    root = tmp_path / "store"
    store = FileStore(root)
    run(store.set_token, key, crash_token("I"))
    allowed = [crash_token(name, size).to_dict() for name in "AB"]
    allowed.append(crash_token("I").to_dict())
    token_file = root / "tokens" / digest(key)
    temporary = root / "tokens" / f"{digest(key)}.tmp"
    driver = spawn("crash", "asyncio", str(root), key, str(size))
    assert driver.stdin is not None
    seen: set[str] = set()
    mid_write = 0
    for _ in range(kills):
        driver.stdin.write("start\n")
        driver.stdin.flush()
        pid = int(expect_line(driver))  # the writer is about to start writing
        time.sleep(random.uniform(0.005, 0.05))
        os.kill(pid, signal.SIGKILL)
        driver.stdin.write("reap\n")
        driver.stdin.flush()
        status = int(expect_line(driver))
        assert os.WIFSIGNALED(status)
        assert os.WTERMSIG(status) == signal.SIGKILL
        # What a reader finds is whole: the old token or a new one.
        loaded = run(store.get_token, key)
        assert loaded is not None
        assert loaded.to_dict() in allowed
        seen.add(loaded.access_token)
        # At most the one temporary file of the interrupted write, reused by the next write.
        names = {p.name for p in (root / "tokens").iterdir()}
        assert names <= {token_file.name, temporary.name}
        mid_write += temporary.name in names
    finish(driver)
    assert {"AT-A", "AT-B"} <= seen
    assert mid_write > 0  # some kills did land inside a write
    FileStore(root)  # opening the store removes the dead writer's temporary file
    assert not temporary.exists()
    loaded = run(store.get_token, key)
    assert loaded is not None
    assert dump_token(loaded) in {dump_token(crash_token(n, size)) for n in "AB"}
