"""A real FAPI 2.0 authorization server for the interop tests: panva's ``oidc-provider``.

``oidc-provider`` (npm, the version pinned in ``oidc_provider/package.json`` and
``package-lock.json``) implements DPoP (RFC 9449), PAR (RFC 9126), JAR (RFC 9101),
JARM, mutual TLS (RFC 8705) and the FAPI 2.0 Security Profile, and is certified for
them by the OpenID Foundation. ``oidc_provider/server.mjs`` runs it on 127.0.0.1 with
a configuration this module writes: the port, the clients (with keys and secrets made
here, fresh for every run) and switches such as "DPoP nonces required". The script
prints one line of JSON once it listens and serves until its stdin is closed. The
test process never runs JavaScript itself.

Node.js comes from the machine (``node`` on ``PATH``); the package from the npm
registry: when ``oidc_provider/node_modules`` is missing or holds another version
than the lock file, ``npm ci`` installs it (once, under a file lock, so parallel test
workers do not race; ``.ci/run`` does it before the tests). Without ``node`` or
``npm``, or when the install fails, the fixtures skip the test, unless ``CI`` or
``ANYOAUTH_REQUIRE_SERVICES`` is set: then they fail it.

Fixtures (registered in ``tests/interop/conftest.py``), each an :class:`OpServer`:

- ``op_server`` (session): http on loopback, DPoP nonces issued on every DPoP
  response but not required.
- ``op_server_nonce`` (session): the same, but every DPoP proof must carry a nonce:
  the first proof is answered with ``use_dpop_nonce`` and a ``DPoP-Nonce`` header.
- ``op_server_mtls`` (session): https with a ``trustme`` certificate, asking every
  connection for a client certificate (RFC 8705): mutual-TLS client authentication
  and certificate-bound access tokens on; :attr:`OpServer.tls` has the files.
- ``op_server_mtls_aliases`` (session): the same, except that the issuer's port does
  not ask for client certificates: a second port (:attr:`OpServer.mtls_origin`) does,
  and the metadata publishes its endpoints as ``mtls_endpoint_aliases`` (token, PAR,
  revocation, introspection, userinfo).

:func:`start_op_server` starts another one (other options) as a context manager.

Registered clients (``server.clients[name]``, a :class:`OpClient`; every redirect URI
is ``http://127.0.0.1/callback``, loopback ports free for the native ones):

- ``public``: native, public (``none``), code + refresh; PKCE is required of all.
- ``basic``: web, ``client_secret_basic``, code + refresh + client credentials.
- ``private-key-jwt``: web, ``private_key_jwt`` with an ES256 key
  (:attr:`OpClient.private_jwk`), code + refresh + client credentials.
- ``dpop``: web, ``private_key_jwt`` (ES256); its access tokens must be DPoP-bound
  (``dpop_bound_access_tokens``).
- ``dpop-par``: the same, and its authorization requests must be pushed
  (``require_pushed_authorization_requests``).
- ``fapi2``: the same, held to oidc-provider's FAPI 2.0 Security Profile checks
  (``features.fapi``): PAR, PKCE S256, sender-constrained tokens, ``aud`` of client
  assertions equal to the issuer, PS256/ES256/EdDSA only.
- ``service``: ``client_secret_basic``, client credentials only.
- ``jar``: web, ``private_key_jwt`` (ES256), code + refresh; registered with
  ``require_signed_request_object`` and ``request_object_signing_alg`` ES256: its
  authorization requests must be request objects (RFC 9101) signed with its key.
- ``mtls`` (``op_server_mtls`` only): ``tls_client_auth`` with the certificate
  :attr:`OpTls.client_cert` (``tls_client_auth_san_dns`` ``client.example.test``),
  certificate-bound tokens, code + refresh + client credentials.
- ``mtls-self-signed`` (with ``tls`` only): ``self_signed_tls_client_auth`` with the
  self-signed certificate :attr:`OpTls.self_signed_cert`, registered as the ``x5c`` of
  the key in its ``jwks``; certificate-bound tokens, code + refresh + client
  credentials.

The user: oidc-provider's development interactions take any login and password, then
ask for consent; :mod:`interop.op_user` plays that user with plain HTTP.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import fcntl
import json
import os
import queue
import secrets
import shutil
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey

from services import missing_service

__all__ = [
    "MTLS_CLIENT_DNS",
    "OP_DIRECTORY",
    "REDIRECT_URI",
    "OpClient",
    "OpServer",
    "OpTls",
    "install_oidc_provider",
    "op_server",
    "op_server_mtls",
    "op_server_mtls_aliases",
    "op_server_nonce",
    "op_server_resources",
    "start_op_server",
]

OP_DIRECTORY = Path(__file__).resolve().parent / "oidc_provider"
"""``package.json``, ``package-lock.json`` and ``server.mjs``; ``npm ci`` puts
``node_modules`` here."""

SERVER_SCRIPT = OP_DIRECTORY / "server.mjs"

REDIRECT_URI = "http://127.0.0.1/callback"
"""Every client's registered redirect URI (native clients: any loopback port)."""

START_SECONDS = 30.0
"""How long :func:`start_op_server` waits for the server's JSON line."""

INSTALL_SECONDS = 300.0
"""How long ``npm ci`` may take."""

_STOP_SECONDS = 10.0


@attrs.frozen
class OpClient:
    """One registered client."""

    name: str
    client_id: str
    client_secret: str | None = attrs.field(repr=False)
    """``None`` for clients without a secret (public, ``private_key_jwt``)."""
    auth_method: str
    """Its ``token_endpoint_auth_method``."""
    private_jwk: Mapping[str, Any] | None = attrs.field(repr=False)
    """The private JWK of a ``private_key_jwt`` client (its public half is registered)."""
    signing_alg: str | None
    """``token_endpoint_auth_signing_alg`` of a ``private_key_jwt`` client."""
    metadata: Mapping[str, Any]
    """Everything registered for it (without the private key)."""


MTLS_CLIENT_DNS = "client.example.test"
"""The DNS name in the ``mtls`` client's certificate, registered as
``tls_client_auth_san_dns``."""


@attrs.frozen
class OpTls:
    """The PEM files of an https server made by ``trustme``."""

    ca: Path
    """The CA that signed the server's and the client's certificate."""
    client_cert: Path
    """The ``mtls`` client's certificate and private key (one PEM file)."""
    server_cert: Path
    server_key: Path
    self_signed_cert: Path
    """The ``mtls-self-signed`` client's self-signed certificate and private key (one
    PEM file, no CA)."""
    self_signed_x5c: str
    """That certificate's DER, base64 (the ``x5c`` registered for the client)."""

    @classmethod
    def make(cls, directory: Path) -> OpTls:
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1")
        client = ca.issue_cert(MTLS_CLIENT_DNS)
        self_signed_pem, self_signed_der = _self_signed_certificate()
        files = cls(
            ca=directory / "ca.pem",
            client_cert=directory / "client.pem",
            server_cert=directory / "server.pem",
            server_key=directory / "server.key",
            self_signed_cert=directory / "self-signed.pem",
            self_signed_x5c=base64.b64encode(self_signed_der).decode(),
        )
        files.self_signed_cert.write_bytes(self_signed_pem)
        ca.cert_pem.write_to_path(str(files.ca))
        client.private_key_and_cert_chain_pem.write_to_path(str(files.client_cert))
        server.cert_chain_pems[0].write_to_path(str(files.server_cert))
        for blob in server.cert_chain_pems[1:]:
            blob.write_to_path(str(files.server_cert), append=True)
        server.private_key_pem.write_to_path(str(files.server_key))
        return files

    def ssl_context(self, *, client_cert: bool = True) -> ssl.SSLContext:
        """A client context trusting :attr:`ca`, presenting the client's certificate."""
        context = ssl.create_default_context(cafile=str(self.ca))
        if client_cert:
            context.load_cert_chain(str(self.client_cert))
        return context


def _self_signed_certificate() -> tuple[bytes, bytes]:
    """A self-signed P-256 client certificate: (key and certificate PEM, certificate DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed.example.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + certificate.public_bytes(serialization.Encoding.PEM)
    return pem, certificate.public_bytes(serialization.Encoding.DER)


@attrs.frozen
class OpServer:
    """A running oidc-provider and what was registered in it."""

    issuer: str
    """``http://127.0.0.1:PORT``."""
    port: int
    version: str
    """oidc-provider's version (``node_modules/oidc-provider/package.json``)."""
    node_version: str
    pid: int
    metadata: Mapping[str, Any]
    """Its ``/.well-known/openid-configuration`` document."""
    clients: Mapping[str, OpClient]
    require_dpop_nonce: bool
    tls: OpTls | None
    """The certificates when the server speaks https (``op_server_mtls``)."""
    mtls_origin: str | None
    """``https://127.0.0.1:PORT`` of the mutual-TLS endpoint aliases
    (``op_server_mtls_aliases``), else ``None``."""
    startup_seconds: float
    log_path: Path

    @property
    def token_endpoint(self) -> str:
        return str(self.metadata["token_endpoint"])

    @property
    def authorization_endpoint(self) -> str:
        return str(self.metadata["authorization_endpoint"])

    @property
    def par_endpoint(self) -> str:
        return str(self.metadata["pushed_authorization_request_endpoint"])

    @property
    def userinfo_endpoint(self) -> str:
        return str(self.metadata["userinfo_endpoint"])

    @property
    def introspection_endpoint(self) -> str:
        return str(self.metadata["introspection_endpoint"])

    @property
    def revocation_endpoint(self) -> str:
        return str(self.metadata["revocation_endpoint"])

    @property
    def jwks_uri(self) -> str:
        return str(self.metadata["jwks_uri"])

    def log(self) -> str:
        """The server's stderr so far (oidc-provider's warnings and every error it
        answered with)."""
        return self.log_path.read_text(errors="replace")


def _pinned_version() -> str:
    lock = json.loads((OP_DIRECTORY / "package-lock.json").read_text())
    return str(lock["packages"]["node_modules/oidc-provider"]["version"])


def _installed_version() -> str | None:
    try:
        package = json.loads(
            (OP_DIRECTORY / "node_modules" / "oidc-provider" / "package.json").read_text()
        )
    except (OSError, ValueError):
        return None
    return str(package.get("version"))


def install_oidc_provider() -> str:
    """Make sure ``node_modules`` holds the locked oidc-provider (``npm ci`` when not);
    returns the path of ``node``. Skips (fails under CI) without node or npm, or when
    the install fails."""
    node = shutil.which("node")
    if node is None:
        missing_service("Node.js (node) is not installed; oidc-provider needs it")
    pinned = _pinned_version()
    if _installed_version() == pinned:
        return node
    npm = shutil.which("npm")
    if npm is None:
        missing_service("npm is not installed; it installs oidc-provider from the npm registry")
    with (OP_DIRECTORY / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time across test workers
        if _installed_version() != pinned:
            try:
                done = subprocess.run(  # noqa: S603
                    [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                    cwd=OP_DIRECTORY,
                    capture_output=True,
                    text=True,
                    timeout=INSTALL_SECONDS,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                missing_service(f"npm ci did not finish within {INSTALL_SECONDS:g} s")
            if done.returncode != 0 or _installed_version() != pinned:
                missing_service(
                    f"npm ci of oidc-provider {pinned} failed (status {done.returncode}): "
                    f"{(done.stderr or done.stdout)[-2000:]}"
                )
    return node


def _client_key() -> tuple[dict[str, Any], dict[str, Any]]:
    """A fresh ES256 key for a ``private_key_jwt`` client: (private JWK, public JWK)."""
    key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, auto_kid=True)
    return dict(key.as_dict(private=True)), dict(key.as_dict(private=False))


def default_clients(tls: OpTls | None = None) -> list[tuple[OpClient, dict[str, Any]]]:
    """The clients of the module documentation: each with its registration (which may
    carry a public key, never a private one); ``tls`` adds the ``mtls`` and
    ``mtls-self-signed`` clients."""
    web = {"application_type": "web", "redirect_uris": [REDIRECT_URI]}
    code = {"grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]}
    service = {
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"],
    }
    made: list[tuple[OpClient, dict[str, Any]]] = []

    def add(
        name: str,
        registration: dict[str, Any],
        *,
        secret: bool = False,
        key: bool = False,
        alg: str = "ES256",
    ) -> None:
        registration = {"client_id": f"{name}-{secrets.token_hex(4)}", **registration}
        client_secret = secrets.token_urlsafe(32) if secret else None
        private_jwk = None
        if client_secret is not None:
            registration["client_secret"] = client_secret
        if key:
            private_jwk, public_jwk = _client_key()
            registration["jwks"] = {"keys": [public_jwk]}
            registration["token_endpoint_auth_signing_alg"] = alg
        client = OpClient(
            name=name,
            client_id=registration["client_id"],
            client_secret=client_secret,
            auth_method=registration["token_endpoint_auth_method"],
            private_jwk=private_jwk,
            signing_alg=alg if key else None,
            metadata={k: v for k, v in registration.items() if k != "client_secret"},
        )
        made.append((client, registration))

    add(
        "public",
        {
            "application_type": "native",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            **code,
        },
    )
    basic = {"token_endpoint_auth_method": "client_secret_basic"}
    add("basic", {**web, **service, **basic}, secret=True)
    add(
        "private-key-jwt",
        {**web, **service, "token_endpoint_auth_method": "private_key_jwt"},
        key=True,
    )
    fapi = {
        **web,
        **code,
        "token_endpoint_auth_method": "private_key_jwt",
        "dpop_bound_access_tokens": True,
        "require_pushed_authorization_requests": True,
    }
    add("dpop", {**fapi, "require_pushed_authorization_requests": False}, key=True)
    add("dpop-par", fapi, key=True)
    add("fapi2", {**fapi, "id_token_signed_response_alg": "ES256"}, key=True)
    add(
        "service",
        {
            "redirect_uris": [],
            "grant_types": ["client_credentials"],
            "response_types": [],
            "token_endpoint_auth_method": "client_secret_basic",
        },
        secret=True,
    )
    add(
        "jar",
        {
            **web,
            **code,
            "token_endpoint_auth_method": "private_key_jwt",
            "require_signed_request_object": True,
            "request_object_signing_alg": "ES256",
        },
        key=True,
    )
    if tls is not None:
        add(
            "mtls",
            {
                **web,
                **service,
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_san_dns": MTLS_CLIENT_DNS,
                "tls_client_certificate_bound_access_tokens": True,
            },
        )
        pem = tls.self_signed_cert.read_bytes()
        public = serialization.load_pem_private_key(pem, password=None).public_key()
        jwk = dict(
            ECKey.import_key(
                public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ).as_dict(private=False)
        )
        add(
            "mtls-self-signed",
            {
                **web,
                **service,
                "token_endpoint_auth_method": "self_signed_tls_client_auth",
                "jwks": {"keys": [{**jwk, "x5c": [tls.self_signed_x5c]}]},
                "tls_client_certificate_bound_access_tokens": True,
            },
        )
    return made


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the server: close its stdin (it exits on EOF), SIGTERM, then SIGKILL."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _fetch_json(url: str, context: ssl.SSLContext | None) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10, context=context) as answer:  # noqa: S310
        document: dict[str, Any] = json.load(answer)
        return document


@contextlib.contextmanager
def start_op_server(
    directory: Path,
    *,
    require_dpop_nonce: bool = False,
    require_par: bool = False,
    fapi_clients: Sequence[str] = ("fapi2",),
    tls: OpTls | None = None,
    mtls_aliases: bool = False,
    access_token_lifetime: int = 3600,
    timeout: float = START_SECONDS,
    resource_indicators: Mapping[str, str] | None = None,
    ciba: Mapping[str, Any] | None = None,
) -> Iterator[OpServer]:
    """Run oidc-provider with :func:`default_clients` until the ``with`` block ends.

    ``directory`` receives the configuration file and ``server.log`` (its stderr).
    ``require_dpop_nonce`` makes every DPoP proof need a server nonce;
    ``require_par`` makes every client push its authorization requests (and the
    metadata say ``require_pushed_authorization_requests``); the clients
    named in ``fapi_clients`` are held to the FAPI 2.0 profile; with ``tls`` it serves
    https and mutual TLS (and registers the ``mtls`` and ``mtls-self-signed``
    clients); ``mtls_aliases`` (with ``tls``) moves the certificates to a second port
    published as ``mtls_endpoint_aliases``. ``resource_indicators`` maps resource
    server URIs to their scopes (RFC 8707: JWT access tokens for them). Waits ``timeout``
    seconds for the server's JSON line and raises :class:`RuntimeError` (with its
    stderr) if it does not come. On exit the process is stopped and waited for.
    """
    node = install_oidc_provider()
    directory.mkdir(parents=True, exist_ok=True)
    clients = default_clients(tls)
    by_name = {client.name: client for client, _ in clients}
    config: dict[str, Any] = {
        "port": 0,
        "clients": [registration for _, registration in clients],
        "requireDpopNonce": require_dpop_nonce,
        "requirePar": require_par,
        "fapiClients": [by_name[name].client_id for name in fapi_clients],
        "accessTokenTtl": access_token_lifetime,
        "mtlsAliases": mtls_aliases,
    }
    if resource_indicators is not None:
        config["resourceIndicators"] = dict(resource_indicators)
    if ciba is not None:  # OpenID CIBA: see op_server_ciba
        config["ciba"] = dict(ciba)
    if tls is not None:
        config["tls"] = {
            "cert": str(tls.server_cert),
            "key": str(tls.server_key),
            "ca": str(tls.ca),
        }
    config_path = directory / "config.json"
    config_path.write_text(json.dumps(config))
    os.chmod(config_path, 0o600)  # client secrets (test-only, but still)
    log_path = directory / "server.log"
    lines: queue.Queue[bytes] = queue.Queue()
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            [node, str(SERVER_SCRIPT), str(config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=OP_DIRECTORY,
        )
    try:
        assert process.stdout is not None
        stdout = process.stdout

        def read_stdout() -> None:
            for line in iter(stdout.readline, b""):
                lines.put(line)
            lines.put(b"")

        threading.Thread(target=read_stdout, name="op-server-stdout", daemon=True).start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(
                f"oidc-provider did not start within {timeout:g} s; its stderr:\n{_tail(log_path)}"
            ) from None
        if not line.strip():
            process.wait(timeout=_STOP_SECONDS)
            raise RuntimeError(
                f"oidc-provider exited at start (status {process.returncode}); its stderr:\n"
                f"{_tail(log_path)}"
            )
        ready = json.loads(line)
        issuer = str(ready["issuer"])
        yield OpServer(
            issuer=issuer,
            port=int(ready["port"]),
            version=str(ready["version"]),
            node_version=str(ready["node"]),
            pid=int(ready["pid"]),
            metadata=_fetch_json(
                f"{issuer}/.well-known/openid-configuration",
                None if tls is None else tls.ssl_context(client_cert=False),
            ),
            clients=by_name,
            require_dpop_nonce=require_dpop_nonce,
            tls=tls,
            mtls_origin=ready.get("mtlsOrigin"),
            startup_seconds=time.monotonic() - started,
            log_path=log_path,
        )
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def op_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpServer]:
    """oidc-provider at ``http://127.0.0.1:PORT``; DPoP nonces offered, not required."""
    with start_op_server(tmp_path_factory.mktemp("op-server")) as server:
        yield server


@pytest.fixture(scope="session")
def op_server_nonce(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpServer]:
    """oidc-provider requiring a server nonce in every DPoP proof."""
    with start_op_server(
        tmp_path_factory.mktemp("op-server-nonce"), require_dpop_nonce=True
    ) as server:
        yield server


@pytest.fixture(scope="session")
def op_server_mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpServer]:
    """oidc-provider over https, with mutual-TLS client authentication (RFC 8705)."""
    directory = tmp_path_factory.mktemp("op-server-mtls")
    with start_op_server(directory, tls=OpTls.make(directory)) as server:
        yield server


@pytest.fixture(scope="session")
def op_server_mtls_aliases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpServer]:
    """oidc-provider over https whose mutual-TLS endpoints are aliases on another port."""
    directory = tmp_path_factory.mktemp("op-server-mtls-aliases")
    with start_op_server(directory, tls=OpTls.make(directory), mtls_aliases=True) as server:
        yield server


RESOURCE_SERVER = "https://api.example.test/"
"""The resource server ``op_server_resources`` knows (RFC 8707), with scopes ``read``
and ``write``."""
OTHER_RESOURCE_SERVER = "https://reports.example.test/"
"""A second resource server of ``op_server_resources`` (scope ``read``)."""


@pytest.fixture(scope="session")
def op_server_resources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpServer]:
    """oidc-provider with resource indicators (RFC 8707) for :data:`RESOURCE_SERVER` and
    :data:`OTHER_RESOURCE_SERVER`: JWT access tokens whose ``aud`` is the resource."""
    resources = {RESOURCE_SERVER: "read write", OTHER_RESOURCE_SERVER: "read"}
    with start_op_server(
        tmp_path_factory.mktemp("op-server-resources"), resource_indicators=resources
    ) as server:
        yield server


# -- OpenID CIBA (Client-Initiated Backchannel Authentication) ---------------------------

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
CIBA_NOTIFY_ORIGIN = "https://ciba-notify.example.test"
"""The origin of the ping client's registered notification endpoint (oidc-provider
takes only https there); server.mjs sends what goes to it to the loopback URL a test
sets with :meth:`CibaOp.send_pings_to`."""


@attrs.frozen
class CibaOp:
    """oidc-provider with ``features.ciba`` (poll and ping) and two CIBA clients,
    ``ciba-poll`` and ``ciba-ping`` (``client_secret_basic``; the ping client's
    notification endpoint is ``CIBA_NOTIFY_ORIGIN/ciba/notify``). The login hint is the
    account; the test decides as the user with :meth:`decide`."""

    server: OpServer
    clients: Mapping[str, OpClient]

    def _post(self, path: str, payload: Mapping[str, Any]) -> int:
        request = urllib.request.Request(  # noqa: S310 - the loopback test server
            self.server.issuer + path,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return int(answer.status)

    def decide(self, login_hint: str, *, allow: bool = True) -> None:
        """Approve (or deny) the pending request of ``login_hint`` as that user would on
        their authentication device: ``provider.backchannelResult`` with a new grant
        of the requested scope (or ``access_denied``); a ping client is pinged."""
        self._post("/__test/ciba/decide", {"login_hint": login_hint, "allow": allow})

    def send_pings_to(self, url: str) -> None:
        """Deliver the ping client's notifications to ``url`` (a loopback origin)."""
        self._post("/__test/ciba/target", {"url": url})


def ciba_clients() -> list[tuple[OpClient, dict[str, Any]]]:
    """The CIBA clients with their registrations: ``ciba-poll`` and ``ciba-ping``."""
    made = []
    for name, mode in (("ciba-poll", "poll"), ("ciba-ping", "ping")):
        registration: dict[str, Any] = {
            "client_id": f"{name}-{secrets.token_hex(4)}",
            "client_secret": secrets.token_urlsafe(32),
            "grant_types": [CIBA_GRANT, "refresh_token"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": "client_secret_basic",
            "backchannel_token_delivery_mode": mode,
        }
        if mode == "ping":
            registration["backchannel_client_notification_endpoint"] = (
                CIBA_NOTIFY_ORIGIN + "/ciba/notify"
            )
        client = OpClient(
            name=name,
            client_id=registration["client_id"],
            client_secret=registration["client_secret"],
            auth_method="client_secret_basic",
            private_jwk=None,
            signing_alg=None,
            metadata={k: v for k, v in registration.items() if k != "client_secret"},
        )
        made.append((client, registration))
    return made


@pytest.fixture(scope="session")
def op_server_ciba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CibaOp]:
    """oidc-provider with OpenID CIBA in poll and ping modes (see :class:`CibaOp`)."""
    clients = ciba_clients()
    ciba = {
        "clients": [registration for _, registration in clients],
        "notifyOrigin": CIBA_NOTIFY_ORIGIN,
    }
    with start_op_server(tmp_path_factory.mktemp("op-server-ciba"), ciba=ciba) as server:
        yield CibaOp(server=server, clients={client.name: client for client, _ in clients})
