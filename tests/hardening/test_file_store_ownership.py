"""FileStore uses only directories and files of its own user: a store directory another
user made (or a symbolic link another user put in its place), in a world-writable
parent like /tmp, is refused with StoreError and nothing is written there; a store
directory swapped after the store opened it is not followed.

Two real users: the test runs as root (CI does) and acts as the second user ("nobody")
in subprocesses that switch uid. Without root it cannot, and says so through
missing_service (a skip locally, a failure in CI).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import anyoauth
from anyoauth import FileStore
from services import missing_service
from stores.contract import make_pending, make_token


def _other_user() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return 65534, 65534
    return entry.pw_uid, entry.pw_gid


OTHER_UID, OTHER_GID = _other_user()


@pytest.fixture
def shared() -> Iterator[Path]:
    """A /tmp-like directory (mode 1777) both users can reach."""
    if os.geteuid() != 0:
        missing_service("acting as a second user needs root")
    path = Path(tempfile.mkdtemp(prefix="anyoauth-shared-", dir="/tmp"))
    path.chmod(0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def as_other_user(script: str, *args: str) -> None:
    """Run the shell ``script`` (with ``$1``... ``args``) as the other user (the
    interpreter running the tests may sit where that user cannot read)."""
    subprocess.run(  # noqa: S603 - a fixed script
        ["/bin/sh", "-ec", script, "sh", *args],
        user=OTHER_UID,
        group=OTHER_GID,
        extra_groups=[],
        cwd="/",
        check=True,
        timeout=30,
    )


def test_the_second_user_is_real(shared: Path) -> None:
    as_other_user('mkdir "$1"', str(shared / "probe"))
    assert (shared / "probe").stat().st_uid == OTHER_UID != os.geteuid()


@pytest.mark.parametrize("made_mode", [0o700, 0o755, 0o777])
def test_a_store_directory_another_user_made_is_refused(shared: Path, made_mode: int) -> None:
    store = shared / "store"
    as_other_user('mkdir "$1"; chmod "$2" "$1"', str(store), f"{made_mode:o}")
    with pytest.raises(anyoauth.StoreError, match="another user") as caught:
        FileStore(store)
    assert str(store) in str(caught.value)
    assert list(store.iterdir()) == []  # nothing written there
    st = store.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (OTHER_UID, made_mode)  # untouched


@pytest.mark.parametrize("target", ["own-directory", "missing"])
def test_a_store_path_another_user_made_a_link_is_refused(shared: Path, target: str) -> None:
    victim = shared / "victim"
    victim.mkdir(mode=0o700)
    pointed = victim if target == "own-directory" else shared / "nowhere"
    store = shared / "store"
    as_other_user('ln -s "$1" "$2"', str(pointed), str(store))
    with pytest.raises(anyoauth.StoreError, match="symbolic link") as caught:
        FileStore(store)
    assert str(store) in str(caught.value)
    assert list(victim.iterdir()) == []
    assert not (shared / "nowhere").exists()


def test_a_subdirectory_of_another_user_is_refused(shared: Path) -> None:
    store = shared / "store"
    FileStore(store)
    os.chown(store / "pending", OTHER_UID, OTHER_GID)
    with pytest.raises(anyoauth.StoreError, match="another user") as caught:
        FileStore(store)
    assert str(store / "pending") in str(caught.value)


@pytest.mark.anyio
async def test_files_of_another_user_in_the_store_are_refused(shared: Path) -> None:
    store = FileStore(shared / "store")
    await store.set_token("k", make_token())
    await store.put_pending("p", make_pending())
    async with store.lock("l", ttl=30, wait=1):
        pass
    for sub in ("tokens", "pending", "locks"):
        for path in (shared / "store" / sub).iterdir():
            os.chown(path, OTHER_UID, OTHER_GID)
    with pytest.raises(anyoauth.StoreError, match="another user"):
        await store.get_token("k")
    with pytest.raises(anyoauth.StoreError, match="another user"):
        await store.replace_token("k", make_token(), make_token("AT-2"))
    with pytest.raises(anyoauth.StoreError, match="another user"):
        await store.take_pending("p")
    with pytest.raises(anyoauth.StoreError, match="another user"):
        async with store.lock("l", ttl=30, wait=1):
            pass


@pytest.mark.anyio
async def test_a_link_in_place_of_a_token_file_is_refused(shared: Path, tmp_path: Path) -> None:
    store = FileStore(shared / "store")
    await store.set_token("k", make_token())
    [token_file] = (shared / "store" / "tokens").iterdir()
    elsewhere = tmp_path / "elsewhere"
    token_file.rename(elsewhere)
    token_file.symlink_to(elsewhere)
    with pytest.raises(anyoauth.StoreError, match="symbolic link") as caught:
        await store.get_token("k")
    assert str(token_file) in str(caught.value)


@pytest.mark.anyio
async def test_a_store_directory_swapped_after_opening_is_not_followed(shared: Path) -> None:
    """In a parent everyone may write in (not sticky), the other user renames the
    store's directory away and puts one of their own, with open subdirectories, in its
    place. The open store keeps writing where it checked; a new one refuses the path."""
    parent = shared / "open"
    parent.mkdir()
    parent.chmod(0o777)
    path = parent / "store"
    store = FileStore(path)
    await store.set_token("before", make_token("AT-before"))
    as_other_user(
        'mv "$1" "$1.moved"; mkdir -m 777 "$1"; '
        'for sub in tokens pending locks token-locks; do mkdir -m 777 "$1/$sub"; done',
        str(path),
    )
    await store.set_token("after", make_token("AT-after"))
    await store.put_pending("p", make_pending())
    for sub in ("tokens", "pending", "locks", "token-locks"):
        assert list((path / sub).iterdir()) == [], sub  # nothing reached the other user
    moved = FileStore(parent / "store.moved")
    assert await moved.get_token("after") == make_token("AT-after")
    assert await moved.get_token("before") == make_token("AT-before")
    assert await moved.take_pending("p") == make_pending()
    with pytest.raises(anyoauth.StoreError, match="another user"):
        FileStore(path)
