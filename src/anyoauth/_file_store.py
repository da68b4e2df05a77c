"""FileStore: a :class:`~anyoauth.Store` in a directory, shared by every process on a host.

Layout of the directory the store owns (mode 0700; every file mode 0600)::

    tokens/<sha256(key)>           one token per key (JSON, see dump_token)
    tokens/<sha256(key)>.tmp       the next version while it is being written
    pending/<sha256(key)>          one pending flow per key; its mtime is the
                                   moment it may be dropped (expires_at + grace)
    pending/<h>.<random>.tmp       a pending flow being written
    pending/<h>.<random>.taken     a pending flow being taken (or dropped)
    locks/<sha256(key)>            the public lock(key)
    token-locks/<sha256(key)>      the internal lock around one key's token writes

File names are digests, so no part of a key reaches the file system. Every write
goes to a temporary file in the same directory, is fsync'ed, renamed over the
old file with ``os.replace`` and the directory is fsync'ed: a crash at any
instant leaves the old or the new file, never a torn one.

Locks are ``flock`` locks on a file opened anew for each acquisition (so two
tasks of one process exclude each other like two processes do); the kernel
drops them when their holder dies.

The store trusts only what it owns: the directory and its subdirectories must
belong to the effective user, not be symbolic links and not be writable by group
or others; every file it opens must belong to the effective user, be a regular
file (never followed through a link) and be open to no one else (0600). The
directories are opened once (``O_NOFOLLOW``), checked on their descriptors, and
every later operation is relative to those descriptors (``dir_fd=``), so a
directory swapped in after the check is never used.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import math
import os
import random
import secrets
import stat
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread

from ._core.errors import ConfigurationError, StoreError
from ._core.token import Token
from ._core.values import PendingFlow
from ._store import (
    EXPIRED_GRACE,
    dump_pending,
    dump_token,
    load_pending,
    load_token,
    token_fingerprint,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    _HAS_FLOCK = False
else:
    _HAS_FLOCK = True

__all__ = ["FileStore"]

logger = logging.getLogger("anyoauth")

_DIR_MODE = 0o700
_FILE_MODE = 0o600

_TOKENS = "tokens"
_PENDING = "pending"
_LOCKS = "locks"
_TOKEN_LOCKS = "token-locks"
_SUBDIRS = (_TOKENS, _PENDING, _LOCKS, _TOKEN_LOCKS)

_TMP = ".tmp"
_TAKEN = ".taken"

# Lock polling: first retry after about 1 ms, doubling up to 20 ms, plus jitter.
_BACKOFF_START = 0.001
_BACKOFF_CAP = 0.02

# How long a token write waits for another writer of the same key. Writers hold
# the internal lock for one write only, so only a hung process makes this run out.
_WRITE_LOCK_WAIT = 30.0

# put_pending drops expired flows at most once per this many seconds (store clock).
_SWEEP_INTERVAL = 60.0

# A pending temporary/taken file untouched for this long (wall clock, ctime) was
# left by a process that died between two system calls; the sweep removes it.
_STALE_AGE = 3600.0

# Token files up to this size are read on the event loop (about 15 us); larger
# ones in a worker thread.
_INLINE_READ_MAX = 64 * 1024

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

# Nanosecond timestamps are clamped to this range (an absurd clock must not
# overflow utime; the kernel clamps further to what the file system can hold).
_NS_LIMIT = 2**62


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _is_digest(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _deadline_ns(seconds: float) -> int:
    if math.isnan(seconds):
        return _NS_LIMIT
    if math.isinf(seconds):
        return _NS_LIMIT if seconds > 0 else -_NS_LIMIT
    return max(-_NS_LIMIT, min(_NS_LIMIT, int(seconds * 1e9)))


def _unlink_quietly(name: str, dir_fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)


def _read_fd(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _read_file(name: str, dir_fd: int, shown: str) -> bytes | None:
    """The bytes of the file ``name`` in ``dir_fd`` (checked: :func:`_open_file`), or
    ``None`` if it does not exist."""
    try:
        fd = _open_file(name, dir_fd, shown, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return _read_fd(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _check_file(fd: int, shown: str) -> None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise _refused(shown, "it is not a regular file")
    if st.st_uid != os.geteuid():
        raise _refused(shown, f"it belongs to another user (uid {st.st_uid})")
    if st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        raise _refused(shown, f"other users may use it (mode {mode:o}, not 600)")
    if stat.S_IMODE(st.st_mode) != _FILE_MODE:  # 0400 from an odd umask
        os.fchmod(fd, _FILE_MODE)


def _open_lock_file(name: str, dir_fd: int, shown: str) -> int:
    return _open_file(name, dir_fd, shown, os.O_RDWR | os.O_CREAT)


def _refused(shown: str, reason: str) -> StoreError:
    return StoreError(f"FileStore refuses {shown!r}: {reason}")


def _open_file(name: str, dir_fd: int, shown: str, flags: int) -> int:
    """Open the file ``name`` in the directory ``dir_fd`` without following a link, and
    check it: a regular file of the effective user, open to no one else (a file just
    created is made 0600). :class:`StoreError` naming ``shown`` (its path) otherwise;
    ``OSError`` when opening fails."""
    try:
        # O_NONBLOCK: a FIFO put in place of a file must not hang the open.
        fd = os.open(
            name, flags | _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK, _FILE_MODE, dir_fd=dir_fd
        )
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EMLINK and _is_link(name, dir_fd)):
            raise _refused(shown, "it is a symbolic link") from None
        raise
    try:
        _check_file(fd, shown)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class FileStore:
    """A :class:`Store` in a directory: tokens and pending flows survive restarts and
    are shared by every process (and every task) on the host that uses the same path.

    ``path`` is a directory the store owns; it is created if missing (missing parents
    too, all 0700). Its mode is set to 0700 (also when it already exists with a
    laxer mode) and every file in it is created 0600, whatever the umask. A
    directory (or subdirectory) that is a symbolic link, belongs to another user or
    is writable by group or others is refused with :class:`StoreError`, and so is a
    file in it that is a link, not a regular file, another user's, or not 0600: the
    store never adopts what someone else made. The directories are held open from
    here on; a directory renamed or replaced later is not followed. Each key
    is one file named by the SHA-256 of the key. Writes are atomic and durable
    (temporary file, ``fsync``, ``os.replace``, ``fsync`` of the directory), so a
    process killed at any instant leaves either the old or the new value. A
    leftover temporary file of a killed writer is removed by the next write of the
    same key, or when a :class:`FileStore` is opened on the directory.

    :meth:`lock` and the compare-and-set of :meth:`replace_token` use ``flock``
    file locks, which the kernel releases when their holder dies. A holder that is
    alive but hung keeps :meth:`lock` (``ttl`` cannot be enforced on a file lock);
    waiters then give up after ``wait`` seconds with :class:`StoreError`.

    POSIX only (needs ``fcntl.flock``), and for a local file system: ``flock``
    over NFS or other network file systems may not exclude other machines.
    ``clock`` must be the clock the client uses (seconds since the epoch).
    Blocking file system work (everything that ``fsync``\\s) runs in a worker
    thread; small reads are done directly.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, clock: Callable[[], float] | None = None
    ) -> None:
        if not _HAS_FLOCK:
            raise ConfigurationError("FileStore needs POSIX file locks")
        self._path = Path(path)
        self._clock = clock or time.time
        self._next_sweep = -math.inf
        root = os.fspath(self._path)
        self._dirs = {name: os.path.join(root, name) for name in _SUBDIRS}
        # Descriptors of the checked directories: every operation is relative to them.
        self._fds: dict[str, int] = {}
        weakref.finalize(self, _close_all, self._fds)
        try:
            root_fd = _open_private_dir(root, parents=True)
            self._fds[""] = root_fd
            for name in _SUBDIRS:
                self._fds[name] = _open_private_subdir(root_fd, name, self._dirs[name])
            self._sweep_token_temporaries()
        except NotADirectoryError:
            _close_all(self._fds)
            raise ConfigurationError(f"FileStore path {root!r} is not a directory") from None
        except OSError as exc:
            _close_all(self._fds)
            raise StoreError(f"FileStore cannot use {root!r}: {exc.strerror or exc}") from exc
        except BaseException:
            _close_all(self._fds)
            raise

    def __repr__(self) -> str:
        return f"<FileStore path={os.fspath(self._path)!r}>"

    @property
    def path(self) -> Path:
        """The directory this store keeps its files in."""
        return self._path

    # -- tokens -------------------------------------------------------------------------

    async def get_token(self, key: str) -> Token | None:
        """The token stored under ``key``, or ``None``.

        :class:`StoreError` if the file cannot be read or does not hold a token.
        """
        digest = _digest(key)
        shown = os.path.join(self._dirs[_TOKENS], digest)
        try:
            fd = _open_file(digest, self._fds[_TOKENS], shown, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error("read a token", exc) from exc
        try:
            if os.fstat(fd).st_size <= _INLINE_READ_MAX:
                data = _read_fd(fd)
            else:
                data = await anyio.to_thread.run_sync(_read_fd, fd)
        except OSError as exc:
            raise self._error("read a token", exc) from exc
        finally:
            os.close(fd)
        return load_token(data)

    async def set_token(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``, replacing any other (atomically and durably)."""
        await self._write_token(key, dump_token(token), None)

    async def replace_token(self, key: str, expected: Token | None, token: Token) -> bool:
        """Store ``token`` only if the stored token is still ``expected`` (compared by
        :func:`token_fingerprint`; ``None`` means nothing stored). Returns whether it
        was written.

        Atomic across processes: the compare and the write happen under an internal
        per-key file lock (not the one :meth:`lock` hands out, which the caller may
        hold). :class:`StoreError` if the stored token is unreadable.
        """
        return await self._write_token(key, dump_token(token), token_fingerprint(expected))

    async def delete_token(self, key: str) -> None:
        """Forget the token under ``key`` (no error if there is none)."""
        digest = _digest(key)
        async with self._token_write_lock(digest):
            try:
                await anyio.to_thread.run_sync(self._delete_token_file, digest)
            except OSError as exc:
                raise self._error("delete a token", exc) from exc

    async def _write_token(self, key: str, data: bytes, expected: str | None) -> bool:
        digest = _digest(key)
        async with self._token_write_lock(digest):
            try:
                return await anyio.to_thread.run_sync(
                    self._write_token_file, digest, data, expected
                )
            except OSError as exc:
                raise self._error("write a token", exc) from exc

    @asynccontextmanager
    async def _token_write_lock(self, digest: str) -> AsyncIterator[None]:
        async with self._flock(_TOKEN_LOCKS, digest, _WRITE_LOCK_WAIT, "token write lock"):
            yield

    def _write_token_file(self, digest: str, data: bytes, expected: str | None) -> bool:
        """In a worker thread, holding the key's internal lock."""
        directory = self._fds[_TOKENS]
        if expected is not None:
            shown = os.path.join(self._dirs[_TOKENS], digest)
            current = _read_file(digest, directory, shown)
            stored = None if current is None else load_token(current)
            if token_fingerprint(stored) != expected:
                return False
        # Writers of one key hold its internal lock, so a temporary file already
        # there was left by a writer that died: the fixed name reuses (cleans) it.
        self._write_atomically(directory, digest, digest + _TMP, data)
        return True

    def _delete_token_file(self, digest: str) -> None:
        directory = self._fds[_TOKENS]
        try:
            os.unlink(digest, dir_fd=directory)
        except FileNotFoundError:
            return
        os.fsync(directory)

    # -- pending flows ------------------------------------------------------------------

    async def put_pending(self, key: str, pending: PendingFlow) -> None:
        """Keep ``pending`` under ``key`` until taken, or until its ``expires_at`` plus
        :data:`EXPIRED_GRACE`.

        At most once a minute (by the store's clock) it also deletes the pending
        flows past that point and files left by processes that died mid-operation.
        """
        now = self._clock()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + _SWEEP_INTERVAL
        data = dump_pending(pending)
        drop_at = pending.expires_at + EXPIRED_GRACE
        try:
            await anyio.to_thread.run_sync(
                self._put_pending_file, _digest(key), data, drop_at, now if sweep else None
            )
        except OSError as exc:
            raise self._error("write a pending flow", exc) from exc

    async def take_pending(self, key: str) -> PendingFlow | None:
        """Remove and return the pending flow under ``key``; ``None`` if there is none.

        Atomic across processes: the file is first renamed to a name of this call's
        own, which only one caller can do. A flow past its deadline is still
        returned (until swept), so the client can report it as expired. An
        unreadable flow is discarded and :class:`StoreError` raised.
        """
        try:
            data = await anyio.to_thread.run_sync(self._take_pending_file, _digest(key))
        except OSError as exc:
            raise self._error("take a pending flow", exc) from exc
        return None if data is None else load_pending(data)

    def _put_pending_file(
        self, digest: str, data: bytes, drop_at: float, sweep_now: float | None
    ) -> None:
        directory = self._fds[_PENDING]
        temporary = f"{digest}.{secrets.token_hex(8)}{_TMP}"
        self._write_atomically(directory, digest, temporary, data, mtime=drop_at)
        if sweep_now is not None:
            try:
                self._sweep_pending(sweep_now)
            except OSError as exc:  # the flow is stored; cleaning up can wait
                logger.warning("FileStore could not sweep pending flows: %s", exc.strerror)

    def _take_pending_file(self, digest: str) -> bytes | None:
        directory = self._fds[_PENDING]
        taken = f"{digest}.{secrets.token_hex(8)}{_TAKEN}"
        try:
            os.rename(digest, taken, src_dir_fd=directory, dst_dir_fd=directory)
        except FileNotFoundError:
            return None
        try:
            data = _read_file(taken, directory, os.path.join(self._dirs[_PENDING], digest))
        finally:
            _unlink_quietly(taken, directory)
            # Durable before the flow is used: a power cut must not make a state reusable.
            os.fsync(directory)
        return data

    def _sweep_pending(self, now: float) -> None:
        """Delete flows past ``expires_at + EXPIRED_GRACE`` (kept as the file's mtime) and
        temporary/taken files of processes that died."""
        directory = self._fds[_PENDING]
        stale_before = time.time() - _STALE_AGE
        removed = False
        with _scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if _is_digest(name):
                    if st.st_mtime < now:
                        removed |= self._drop_expired(directory, name, now)
                elif name.endswith((_TMP, _TAKEN)) and st.st_ctime < stale_before:
                    _unlink_quietly(name, directory)
                    removed = True
        if removed:
            os.fsync(directory)

    @staticmethod
    def _drop_expired(directory: int, name: str, now: float) -> bool:
        # Rename first (as take_pending does) so that exactly one of a sweeper and a
        # taker gets the file; then check it is the expired one we looked at, not a
        # fresh flow put under the same key meanwhile (restored if so, never clobbering).
        taken = f"{name}.{secrets.token_hex(8)}{_TAKEN}"
        try:
            os.rename(name, taken, src_dir_fd=directory, dst_dir_fd=directory)
        except FileNotFoundError:
            return False
        try:
            if os.stat(taken, dir_fd=directory, follow_symlinks=False).st_mtime >= now:
                with contextlib.suppress(FileExistsError):
                    os.link(
                        taken,
                        name,
                        src_dir_fd=directory,
                        dst_dir_fd=directory,
                        follow_symlinks=False,
                    )
        finally:
            _unlink_quietly(taken, directory)
        return True

    # -- lock ---------------------------------------------------------------------------

    def lock(self, key: str, *, ttl: float, wait: float) -> AbstractAsyncContextManager[None]:
        """Hold the exclusive lock named ``key`` for the body of an ``async with``.

        Exclusive across processes and across tasks of one process (an ``flock`` on
        ``locks/<sha256(key)>``, opened anew for each acquisition). Waiting polls
        with a short backoff (1 ms growing to 20 ms) and can be cancelled; after
        ``wait`` seconds it raises :class:`StoreError`. Not reentrant: a task that
        already holds ``key`` waits for itself and gets :class:`StoreError`.

        A holder that dies releases the lock at once (the kernel drops its file
        locks). ``ttl`` cannot be enforced on a file lock: a holder that is alive but
        hung keeps the lock until it resumes or dies.
        """
        return self._flock(_LOCKS, _digest(key), wait, "lock")

    @asynccontextmanager
    async def _flock(self, subdir: str, name: str, wait: float, what: str) -> AsyncIterator[None]:
        try:
            fd = _open_lock_file(name, self._fds[subdir], os.path.join(self._dirs[subdir], name))
        except OSError as exc:
            raise self._error(f"open a {what} file", exc) from exc
        try:
            deadline = anyio.current_time() + wait
            delay = _BACKOFF_START
            while not _try_flock(fd):
                remaining = deadline - anyio.current_time()
                if remaining <= 0:
                    raise StoreError(f"{what} not acquired within {wait} s")
                jitter = 1.0 + random.random() / 4  # noqa: S311 - not for security
                await anyio.sleep(min(delay * jitter, remaining))
                delay = min(delay * 2, _BACKOFF_CAP)
            yield
        finally:
            # Closing the only descriptor of this open file description releases the lock.
            os.close(fd)

    # -- files --------------------------------------------------------------------------

    def _sweep_token_temporaries(self) -> None:
        """Remove temporary token files of writers that died (only those whose
        internal lock is free, so never a write in progress)."""
        tokens, locks = self._fds[_TOKENS], self._fds[_TOKEN_LOCKS]
        with _scandir(tokens) as entries:
            leftovers = [e.name for e in entries if e.name.endswith(_TMP)]
        for name in leftovers:
            digest = name[: -len(_TMP)]
            if not _is_digest(digest):
                continue
            fd = _open_lock_file(digest, locks, os.path.join(self._dirs[_TOKEN_LOCKS], digest))
            try:
                if _try_flock(fd):
                    _unlink_quietly(name, tokens)
            finally:
                os.close(fd)

    @staticmethod
    def _write_atomically(
        directory: int, name: str, temporary: str, data: bytes, mtime: float | None = None
    ) -> None:
        """Write ``data`` to ``name`` in the directory ``directory`` (a descriptor):
        a new 0600 temporary file, ``fsync``, ``os.replace``, ``fsync`` of the directory."""
        _unlink_quietly(temporary, directory)
        fd = os.open(
            temporary,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC,
            _FILE_MODE,
            dir_fd=directory,
        )
        try:
            try:
                os.fchmod(fd, _FILE_MODE)
                _write_all(fd, data)
                if mtime is not None:
                    ns = _deadline_ns(mtime)
                    os.utime(fd, ns=(ns, ns))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            _unlink_quietly(temporary, directory)
            raise
        os.fsync(directory)

    @staticmethod
    def _error(doing: str, exc: OSError) -> StoreError:
        return StoreError(f"FileStore could not {doing}: {exc.strerror or type(exc).__name__}")


def _close_all(fds: dict[str, int]) -> None:
    for fd in fds.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()


@contextlib.contextmanager
def _scandir(directory: int) -> Iterator[Iterator[os.DirEntry[str]]]:
    """``os.scandir`` of a directory descriptor, through a descriptor of its own (the
    scan's position is not shared with other users of ``directory``)."""
    fd = os.open(".", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC, dir_fd=directory)
    try:
        with os.scandir(fd) as entries:
            yield entries
    finally:
        os.close(fd)


def _open_dir(name: str, dir_fd: int | None, shown: str) -> int:
    """Open the directory ``name`` (in ``dir_fd``) without following a link, and check it
    (:func:`_check_dir`). :class:`StoreError` naming ``shown`` when it is refused,
    :class:`ConfigurationError` when it is not a directory, ``OSError`` otherwise."""
    try:
        fd = os.open(name, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        # Refused either way; the link is named as such (Linux says ENOTDIR for it).
        if _is_link(name, dir_fd):
            raise _refused(shown, "it is a symbolic link") from None
        raise ConfigurationError(f"FileStore path {shown!r} is not a directory") from None
    try:
        _check_dir(fd, shown)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_link(name: str, dir_fd: int | None) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _check_dir(fd: int, shown: str) -> None:
    """Refuse a directory of another user or one that group or others may write in;
    tighten any other mode to 0700."""
    st = os.fstat(fd)
    if st.st_uid != os.geteuid():
        raise _refused(shown, f"it belongs to another user (uid {st.st_uid})")
    if st.st_mode & 0o022:
        raise _refused(shown, f"other users may write in it (mode {stat.S_IMODE(st.st_mode):o})")
    if stat.S_IMODE(st.st_mode) != _DIR_MODE:
        os.fchmod(fd, _DIR_MODE)


def _open_private_dir(path: str, *, parents: bool = False) -> int:
    """A descriptor of the directory ``path``, checked (:func:`_open_dir`); created 0700
    if missing (with ``parents``, its missing ancestors too) and made durable in its
    parent."""
    try:
        return _open_dir(path, None, path)
    except FileNotFoundError:
        pass
    parent = os.path.dirname(os.path.abspath(path))
    if parents and parent != path and not os.path.lexists(parent):
        _make_private_dir(parent, parents=True)
    try:
        os.mkdir(path, _DIR_MODE)
    except FileExistsError:
        pass  # made meanwhile, by whoever: the checks decide
    else:
        parent_fd = os.open(parent, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        try:
            os.fsync(parent_fd)
        finally:
            os.close(parent_fd)
    return _open_dir(path, None, path)


def _open_private_subdir(root: int, name: str, shown: str) -> int:
    """Like :func:`_open_private_dir` for the directory ``name`` in ``root``."""
    try:
        return _open_dir(name, root, shown)
    except FileNotFoundError:
        pass
    try:
        os.mkdir(name, _DIR_MODE, dir_fd=root)
    except FileExistsError:
        pass
    else:
        os.fsync(root)
    return _open_dir(name, root, shown)


def _make_private_dir(path: str, *, parents: bool = False) -> None:
    """Create ``path`` mode 0700 (with ``parents``, its missing ancestors too), or check
    an existing one (:func:`_open_dir`: refused if it is a link, another user's or
    writable by others) and make it 0700."""
    os.close(_open_private_dir(path, parents=parents))


def write_private_file(directory: str, name: str, temporary: str, data: bytes) -> None:
    """Write ``data`` to ``name`` in the private directory ``directory`` (checked like
    the store's own) the way the store writes its files."""
    fd = _open_dir(directory, None, directory)
    try:
        FileStore._write_atomically(fd, name, temporary, data)
    finally:
        os.close(fd)


def make_private_dir(path: str) -> None:
    """Create the directory ``path`` (and its missing parents) mode 0700, or check an
    existing one as the store checks its own (:class:`StoreError` if it is a link,
    another user's or writable by others) and make it 0700."""
    _make_private_dir(path, parents=True)
