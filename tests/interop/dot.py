"""A real OAuth 2.0 / OpenID Connect server for the interop tests: django-oauth-toolkit.

The server is a Django project in ``tests/interop/dot_server`` run in a subprocess with
this interpreter (``dot_server/serve.py``): it binds a free 127.0.0.1 port, migrates a
fresh sqlite database in a temporary directory, seeds a user and applications, prints
one line of JSON describing them, and serves until it is stopped. The test process
never imports Django.

Fixtures (registered in ``tests/interop/conftest.py``):

- ``dot_server`` (session): a :class:`DotServer` with the toolkit at the server root:
  the issuer is ``http://127.0.0.1:PORT`` and authorization responses carry the
  RFC 9207 ``iss`` parameter.
- ``dot_server_path_issuer`` (session): the same with the toolkit under ``/o/``: the
  issuer is ``http://127.0.0.1:PORT/o``; its RFC 8414 document is at
  ``/.well-known/oauth-authorization-server/o`` (and at ``/o/.well-known/...``).

:func:`start_dot_server` starts another one (other options) as a context manager.

Seeded applications (``server.apps[name]``, a :class:`DotApp`):

- ``code-public``: public, authorization code (PKCE S256 required), redirect URIs
  ``http://127.0.0.1/callback``, ``http://[::1]/callback`` and
  ``http://localhost/callback`` with any port (RFC 8252 7.3).
- ``code-confidential``: the same, confidential (client secret; PKCE still required).
- ``implicit``: public, implicit grant (``response_type=token``), the same redirect URIs.
- ``service``: confidential, client credentials.
- ``service-special``: confidential, client credentials, with a secret full of
  characters that RFC 6749 2.3.1 form-encodes (``+``, ``%``, ``:``, space, ``é``).
- ``device``: public, device authorization grant (RFC 8628); polling interval
  :attr:`DotServer.device_interval` (1 s).
- ``resource-server``: confidential, client credentials; for token introspection.

Every application signs id_tokens with RS256 where it can get one (scope ``openid``).
The user's consent is always asked (``Authorize`` / ``Cancel``).

Without Django or django-oauth-toolkit these fixtures skip the test, unless ``CI`` or
``ANYOAUTH_REQUIRE_SERVICES`` is set: then they fail it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from services import missing_service

__all__ = [
    "SERVE",
    "DotApp",
    "DotServer",
    "dot_server",
    "dot_server_path_issuer",
    "start_dot_server",
]

SERVE = Path(__file__).resolve().parent / "dot_server" / "serve.py"
"""The server's entry point, run by path with :data:`sys.executable`."""

START_SECONDS = 60.0
"""How long :func:`start_dot_server` waits for the server's JSON line."""

_STOP_SECONDS = 10.0


def _check_installed() -> None:
    """Skip (or fail under CI) unless the server's packages are importable; looks them
    up without importing them."""
    for module, package in (("django", "Django"), ("oauth2_provider", "django-oauth-toolkit")):
        if importlib.util.find_spec(module) is None:
            missing_service(f"{package} is not installed (it is in the 'test' dependency group)")


@attrs.frozen
class DotApp:
    """One seeded application (OAuth client)."""

    name: str
    client_id: str
    client_secret: str | None
    """The plaintext secret (the server stores it hashed); ``None`` for public clients."""
    client_type: str
    """``"public"`` or ``"confidential"``."""
    grant_type: str
    """The toolkit's grant type: ``authorization-code``, ``implicit``,
    ``client-credentials`` or ``urn:ietf:params:oauth:grant-type:device_code``."""
    redirect_uris: tuple[str, ...]
    """Registered redirect URIs; loopback ones match any port."""

    def redirect_uri(self, port: int, host: str = "127.0.0.1", path: str = "/callback") -> str:
        """A redirect URI this client may use with a loopback listener on ``port``."""
        authority = f"[{host}]" if ":" in host else host
        return f"http://{authority}:{port}{path}"


@attrs.frozen
class DotServer:
    """A running django-oauth-toolkit server and what was seeded in it."""

    base_url: str
    """``http://127.0.0.1:PORT`` (no trailing slash)."""
    issuer: str
    """:attr:`base_url`, plus the mount prefix when there is one."""
    prefix: str
    """Where the toolkit is mounted: ``""`` (the root) or e.g. ``"o"``."""
    iss_parameter: bool
    """Whether authorization responses carry ``iss`` (RFC 9207) and the metadata
    advertises ``authorization_response_iss_parameter_supported``."""
    metadata_url: str
    """The RFC 8414 document: ``{base_url}/.well-known/oauth-authorization-server[/prefix]``."""
    openid_configuration_url: str
    """``{issuer}/.well-known/openid-configuration``."""
    endpoints: Mapping[str, str]
    """``authorization``, ``token``, ``revocation``, ``introspection``,
    ``device_authorization``, ``device_verification``, ``userinfo``, ``jwks``,
    ``end_session`` and ``login``: absolute URLs."""
    device_interval: int
    """The ``interval`` of device authorization responses, in seconds."""
    access_token_lifetime: int
    """``expires_in`` of access tokens, in seconds."""
    username: str
    password: str
    apps: Mapping[str, DotApp]
    """The seeded applications by name (see the module documentation)."""
    pid: int
    database: str
    """The sqlite file, for inspection."""
    startup_seconds: float
    """Seconds from the server's start to its JSON line (migrations and seeding)."""
    log_path: Path
    """Where the server's stderr goes."""

    @property
    def authorization_endpoint(self) -> str:
        return self.endpoints["authorization"]

    @property
    def token_endpoint(self) -> str:
        return self.endpoints["token"]

    @property
    def revocation_endpoint(self) -> str:
        return self.endpoints["revocation"]

    @property
    def introspection_endpoint(self) -> str:
        return self.endpoints["introspection"]

    @property
    def device_authorization_endpoint(self) -> str:
        return self.endpoints["device_authorization"]

    @property
    def userinfo_endpoint(self) -> str:
        return self.endpoints["userinfo"]

    @property
    def jwks_uri(self) -> str:
        return self.endpoints["jwks"]

    def log(self) -> str:
        """The server's stderr so far."""
        return self.log_path.read_text(errors="replace")

    @classmethod
    def from_json(cls, data: Mapping[str, Any], log_path: Path) -> DotServer:
        apps = {
            name: DotApp(
                name=name,
                client_id=str(app["client_id"]),
                client_secret=app["client_secret"],
                client_type=str(app["client_type"]),
                grant_type=str(app["grant_type"]),
                redirect_uris=tuple(app["redirect_uris"]),
            )
            for name, app in data["apps"].items()
        }
        return cls(
            base_url=str(data["base_url"]),
            issuer=str(data["issuer"]),
            prefix=str(data["prefix"]),
            iss_parameter=bool(data["iss_parameter"]),
            metadata_url=str(data["metadata_url"]),
            openid_configuration_url=str(data["openid_configuration_url"]),
            endpoints={str(k): str(v) for k, v in data["endpoints"].items()},
            device_interval=int(data["device_interval"]),
            access_token_lifetime=int(data["access_token_lifetime"]),
            username=str(data["username"]),
            password=str(data["password"]),
            apps=apps,
            pid=int(data["pid"]),
            database=str(data["database"]),
            startup_seconds=float(data["startup_seconds"]),
            log_path=log_path,
        )


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the server: close its stdin (it exits on EOF), SIGTERM, then SIGKILL."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


@contextlib.contextmanager
def start_dot_server(
    directory: Path,
    *,
    prefix: str = "",
    iss: bool = True,
    access_token_lifetime: int = 3600,
    timeout: float = START_SECONDS,
) -> Iterator[DotServer]:
    """Run a seeded django-oauth-toolkit server until the ``with`` block ends.

    ``directory`` receives the sqlite database and ``server.log`` (its stderr).
    ``prefix`` mounts the toolkit under a path (the issuer gets it too); ``iss=False``
    leaves out the RFC 9207 ``iss`` parameter. Waits ``timeout`` seconds for the
    server to report it is ready and raises :class:`RuntimeError` (with the server's
    stderr) if it does not. On exit the process is stopped and waited for.
    """
    _check_installed()
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "server.log"
    command = [
        sys.executable,
        str(SERVE),
        *("--directory", str(directory)),
        *("--prefix", prefix),
        *("--access-token-lifetime", str(access_token_lifetime)),
        "--exit-on-stdin-eof",
    ]
    if not iss:
        command.append("--no-iss")
    lines: queue.Queue[bytes] = queue.Queue()
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=directory,
        )
    try:
        assert process.stdout is not None
        stdout = process.stdout

        def read_stdout() -> None:
            # The first line is the JSON; anything after it is read and dropped, so a
            # chatty server never blocks on a full pipe.
            for line in iter(stdout.readline, b""):
                lines.put(line)
            lines.put(b"")

        threading.Thread(target=read_stdout, name="dot-server-stdout", daemon=True).start()
        deadline = time.monotonic() + timeout
        line: bytes | None = None
        while line is None:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"django-oauth-toolkit did not start within {timeout:g} s; "
                        f"its stderr:\n{_tail(log_path)}"
                    ) from None
        if not line.strip():
            process.wait(timeout=_STOP_SECONDS)
            raise RuntimeError(
                f"django-oauth-toolkit exited at start (status {process.returncode}); "
                f"its stderr:\n{_tail(log_path)}"
            )
        try:
            data = json.loads(line)
        except ValueError:
            raise RuntimeError(
                f"django-oauth-toolkit printed {line[:500]!r} instead of its JSON line; "
                f"its stderr:\n{_tail(log_path)}"
            ) from None
        yield DotServer.from_json(data, log_path)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def dot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DotServer]:
    """django-oauth-toolkit at the root of ``http://127.0.0.1:PORT`` (the issuer)."""
    _check_installed()
    with start_dot_server(tmp_path_factory.mktemp("dot-server")) as server:
        yield server


@pytest.fixture(scope="session")
def dot_server_path_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DotServer]:
    """django-oauth-toolkit under ``/o/``: the issuer is ``http://127.0.0.1:PORT/o``."""
    _check_installed()
    with start_dot_server(tmp_path_factory.mktemp("dot-server-o"), prefix="o") as server:
        yield server
