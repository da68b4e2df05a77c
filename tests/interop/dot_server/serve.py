"""Run django-oauth-toolkit on a free 127.0.0.1 port, seeded for the interop tests.

Usage (any working directory)::

    python tests/interop/dot_server/serve.py [--directory DIR] [--prefix o] [--no-iss]
        [--access-token-lifetime SECONDS] [--exit-on-stdin-eof] [--verbose]

It binds 127.0.0.1 on a port the system picks, configures Django (sqlite database in
``--directory``, else in a temporary directory removed at exit), migrates, seeds one
user and the applications in :data:`APPS`, prints ONE line of JSON on stdout (the
base URL, the issuer, the endpoints, the user's credentials and every application's
client_id / client_secret / redirect URIs) and serves until SIGTERM or SIGINT (or, with
``--exit-on-stdin-eof``, until its stdin is closed, so it never outlives the test run
that started it). Logs go to stderr; requests are logged only with ``--verbose`` or
``ANYOAUTH_DOT_VERBOSE=1``.

oauthlib refuses plain http unless ``OAUTHLIB_INSECURE_TRANSPORT`` is set; this process
sets it for itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = f"{HERE.parent.name}.{HERE.name}"  # "interop.dot_server"

LOOPBACK_REDIRECT_URIS = (
    # RFC 8252 7.3: the toolkit accepts any port for http://127.0.0.1 and http://[::1]
    # redirect URIs, and for http://localhost with ALLOW_LOCALHOST_LOOPBACK.
    "http://127.0.0.1/callback",
    "http://[::1]/callback",
    "http://localhost/callback",
)

SPECIAL_SECRET = "s3cret+plus/slash%25percent:colon space&amp=eq~tilde\u00e9"
"""The secret of ``service-special``: characters that RFC 6749 2.3.1's form-encoding
of Basic credentials changes (the toolkit form-decodes both halves: ``+`` -> space)."""

APPS: dict[str, dict[str, Any]] = {
    # name: client_type, authorization_grant_type, redirect URIs, signing, consent
    "code-public": {
        "client_type": "public",
        "authorization_grant_type": "authorization-code",
        "redirect_uris": LOOPBACK_REDIRECT_URIS,
        "algorithm": "RS256",
    },
    "code-confidential": {
        "client_type": "confidential",
        "authorization_grant_type": "authorization-code",
        "redirect_uris": LOOPBACK_REDIRECT_URIS,
        "algorithm": "RS256",
    },
    "implicit": {
        "client_type": "public",
        "authorization_grant_type": "implicit",
        "redirect_uris": LOOPBACK_REDIRECT_URIS,
        "algorithm": "RS256",
    },
    "service": {
        "client_type": "confidential",
        "authorization_grant_type": "client-credentials",
    },
    "service-special": {
        "client_type": "confidential",
        "authorization_grant_type": "client-credentials",
        "client_secret": SPECIAL_SECRET,
    },
    "device": {
        "client_type": "public",
        "authorization_grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "algorithm": "RS256",
    },
    "resource-server": {
        # Authenticates to the introspection endpoint with HTTP Basic (any confidential
        # client can), or gets a client-credentials token with scope "introspection".
        "client_type": "confidential",
        "authorization_grant_type": "client-credentials",
    },
}

USERNAME = "alice"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--directory", type=Path, help="where the sqlite database goes")
    parser.add_argument(
        "--prefix",
        default="",
        help="mount the toolkit under this path (the issuer gets it too), e.g. 'o'",
    )
    parser.add_argument(
        "--no-iss",
        dest="iss",
        action="store_false",
        help="omit the RFC 9207 iss authorization-response parameter",
    )
    parser.add_argument("--access-token-lifetime", type=int, default=3600, metavar="SECONDS")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=os.environ.get("ANYOAUTH_DOT_VERBOSE", "") not in {"", "0"},
    )
    args = parser.parse_args(argv)
    args.prefix = args.prefix.strip("/")
    return args


def rsa_private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def seed() -> dict[str, Any]:
    """Create the user and the applications; return what the JSON line reports of them."""
    from django.contrib.auth import get_user_model
    from oauth2_provider.generators import generate_client_secret
    from oauth2_provider.models import get_application_model

    password = secrets.token_urlsafe(16)
    get_user_model().objects.create_user(
        USERNAME,
        email=f"{USERNAME}@example.test",
        password=password,
        first_name="Alice",
        last_name="Example",
    )
    application_model = get_application_model()
    apps: dict[str, Any] = {}
    for name, spec in APPS.items():
        confidential = spec["client_type"] == "confidential"
        secret = spec.get("client_secret") or generate_client_secret()
        redirect_uris = list(spec.get("redirect_uris", ()))
        app = application_model(
            name=name,
            client_type=spec["client_type"],
            authorization_grant_type=spec["authorization_grant_type"],
            redirect_uris=" ".join(redirect_uris),
            algorithm=spec.get("algorithm", ""),
            client_secret=secret,
            skip_authorization=False,
        )
        app.full_clean()
        app.save()  # hashes the secret (hash_client_secret defaults to True)
        apps[name] = {
            "client_id": app.client_id,
            "client_secret": secret if confidential else None,
            "client_type": spec["client_type"],
            "grant_type": spec["authorization_grant_type"],
            "redirect_uris": redirect_uris,
        }
    return {"username": USERNAME, "password": password, "apps": apps}


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    # Warnings (the toolkit's RFC 9700 DeprecationWarnings among them) go to stderr,
    # whatever PYTHONWARNINGS says.
    warnings.simplefilter("default")
    args = parse_args(argv)
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    # Run by path, sys.path[0] is this directory; import the package by its name instead.
    if sys.path and Path(sys.path[0] or ".").resolve() == HERE:
        sys.path.pop(0)
    sys.path.insert(0, str(HERE.parent.parent))

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    with contextlib.ExitStack() as stack:
        directory: Path = args.directory or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="dot-server-"))
        )
        directory.mkdir(parents=True, exist_ok=True)

        from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

        httpd = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler, allow_reuse_address=False)
        stack.callback(httpd.server_close)
        port = httpd.server_address[1]
        base_url = f"http://127.0.0.1:{port}"

        import django
        from django.conf import settings

        from interop.dot_server import settings as server_settings

        settings.configure(
            **server_settings.build(
                base_url=base_url,
                prefix=args.prefix,
                directory=directory,
                rsa_private_key=rsa_private_key_pem(),
                package=PACKAGE,
                iss=args.iss,
                access_token_lifetime=args.access_token_lifetime,
                verbose=args.verbose,
            )
        )
        django.setup()

        from django.core.management import call_command
        from django.core.wsgi import get_wsgi_application
        from django.urls import reverse

        call_command("migrate", verbosity=0, interactive=False, skip_checks=True)
        seeded = seed()
        httpd.set_app(get_wsgi_application())

        issuer = base_url + (f"/{args.prefix}" if args.prefix else "")
        endpoints = {
            key: base_url + reverse(f"oauth2_provider:{name}")
            for key, name in {
                "authorization": "authorize",
                "token": "token",
                "revocation": "revoke-token",
                "introspection": "introspect",
                "device_authorization": "device-authorization",
                "device_verification": "device",
                "userinfo": "user-info",
                "jwks": "jwks-info",
                "end_session": "rp-initiated-logout",
            }.items()
        }
        endpoints["login"] = base_url + reverse("login")
        rfc8414 = f"{base_url}/.well-known/oauth-authorization-server"
        info = {
            "base_url": base_url,
            "issuer": issuer,
            "prefix": args.prefix,
            "iss_parameter": args.iss,
            "metadata_url": rfc8414 + (f"/{args.prefix}" if args.prefix else ""),
            "openid_configuration_url": f"{issuer}/.well-known/openid-configuration",
            "endpoints": endpoints,
            "device_interval": server_settings.DEVICE_FLOW_INTERVAL,
            "access_token_lifetime": args.access_token_lifetime,
            "database": str(directory / "dot.sqlite3"),
            "pid": os.getpid(),
            "startup_seconds": round(time.perf_counter() - started, 3),
            **seeded,
        }

        if args.exit_on_stdin_eof:

            def watch_stdin() -> None:
                with contextlib.suppress(OSError, ValueError):
                    while sys.stdin.buffer.read(4096):
                        pass
                os.kill(os.getpid(), signal.SIGTERM)

            threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()

        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        with contextlib.suppress(SystemExit):
            httpd.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
