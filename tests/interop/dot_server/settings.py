"""Django settings for the django-oauth-toolkit test server, built per run.

:func:`build` returns keyword arguments for ``django.conf.settings.configure``; the
base URL (with the port bound at start-up), the directory of the sqlite database and
the RSA key for OpenID Connect are only known then.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

SCOPES = {
    "openid": "OpenID Connect",
    "profile": "Your name",
    "email": "Your email address",
    "read": "Read your data",
    "write": "Change your data",
    "introspection": "Introspect tokens",
}

DEVICE_FLOW_INTERVAL = 1
"""Seconds a device-flow client waits between polls (``interval``; RFC 8628 default 5)."""


def build(
    *,
    base_url: str,
    prefix: str,
    directory: Path,
    rsa_private_key: str,
    package: str,
    iss: bool = True,
    access_token_lifetime: int = 3600,
    verbose: bool = False,
) -> dict[str, Any]:
    """Settings for one server run.

    ``base_url`` is ``http://127.0.0.1:PORT``; ``prefix`` is where the toolkit's URLs
    are mounted (``""`` or ``"o"``); the issuer is ``base_url`` plus that prefix.
    ``package`` is the import name of this package (for ``ROOT_URLCONF``); ``iss``
    turns on the RFC 9207 ``iss`` authorization-response parameter.
    """
    mount = f"/{prefix}" if prefix else ""
    issuer = base_url + mount
    return {
        "DEBUG": False,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": ["127.0.0.1", "localhost", "[::1]"],
        "ROOT_URLCONF": f"{package}.urls",
        "DOT_SERVER_PREFIX": prefix,
        "INSTALLED_APPS": [
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "oauth2_provider",
        ],
        "MIDDLEWARE": [
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [str(HERE / "templates")],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                    ],
                },
            }
        ],
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(directory / "dot.sqlite3"),
                "OPTIONS": {
                    # Threads write concurrently: take the write lock at BEGIN, wait for it.
                    "transaction_mode": "IMMEDIATE",
                    "timeout": 20,
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;",
                },
            }
        },
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        # Fast hashing for users' passwords and the toolkit's hashed client secrets (the
        # default PBKDF2 costs ~0.3 s per client authentication).
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "LANGUAGE_CODE": "en-us",
        "LOGIN_URL": "/accounts/login/",
        "LOGIN_REDIRECT_URL": "/accounts/profile/",
        "STATIC_URL": "/static/",
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "dot-server %(name)s %(levelname)s %(message)s"}},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stderr",
                    "formatter": "plain",
                }
            },
            "loggers": {
                "django": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
                # One line per request only when asked for (ANYOAUTH_DOT_VERBOSE=1).
                "django.server": {
                    "handlers": ["stderr"],
                    "level": "INFO" if verbose else "ERROR",
                    "propagate": False,
                },
                "oauth2_provider": {
                    "handlers": ["stderr"],
                    "level": "DEBUG" if verbose else "WARNING",
                    "propagate": False,
                },
                "oauthlib": {
                    "handlers": ["stderr"],
                    "level": "DEBUG" if verbose else "WARNING",
                    "propagate": False,
                },
            },
        },
        "OAUTH2_PROVIDER": {
            "SCOPES": SCOPES,
            "DEFAULT_SCOPES": ["read", "write"],
            "ACCESS_TOKEN_EXPIRE_SECONDS": access_token_lifetime,
            "ROTATE_REFRESH_TOKEN": True,
            "REFRESH_TOKEN_REUSE_PROTECTION": True,
            "PKCE_REQUIRED": True,
            "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
            "ALLOW_LOCALHOST_LOOPBACK": True,
            # Every issuer the server shows (RFC 8414 and OIDC metadata, id_token ``iss``,
            # the RFC 9207 ``iss`` parameter) is this value verbatim.
            "OIDC_ISS_ENDPOINT": issuer,
            "OIDC_ENABLED": True,
            "OIDC_RSA_PRIVATE_KEY": rsa_private_key,
            "OAUTH_DEVICE_VERIFICATION_URI": f"{issuer}/device/",
            "OAUTH_DEVICE_VERIFICATION_URI_COMPLETE": f"{issuer}/device/?user_code={{user_code}}",
            "DEVICE_FLOW_INTERVAL": DEVICE_FLOW_INTERVAL,
            # RFC 9700 gates (all default to False in 3.x). The implicit and password
            # grants stay allowed: the implicit client is part of the test set-up.
            "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": iss,
            "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
            "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
            "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
        },
    }
