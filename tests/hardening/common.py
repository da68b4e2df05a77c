"""Helpers shared by the hardening tests: sentinels, a standard client, recorded retry waits."""

from __future__ import annotations

import json
from typing import Any

import anyio.lowlevel

import anyoauth
from anyoauth.stores import dump_token

SECRET = "SENTINEL-client-secret-5ecr3t"
"""A client secret no message, log line or traceback may ever show."""

NOW = 1_700_000_000.0

ORIGINAL = anyoauth.Token(
    access_token="SENTINEL-AT-old",
    refresh_token="SENTINEL-RT-old",
    issued_at=NOW - 600,
    expires_at=NOW - 300,
)
"""The stored token every fault test starts with: expired, so ``token()`` refreshes it."""

FRESH = {
    "access_token": "SENTINEL-AT-new",
    "refresh_token": "SENTINEL-RT-new",
    "token_type": "Bearer",
    "expires_in": 300,
}
"""A good token response."""

FRESH_BODY = json.dumps(FRESH).encode()


class Waits:
    """A :class:`RetryPolicy` ``sleep`` that records each wait and does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await anyio.lowlevel.checkpoint()

    def policy(self, **options: Any) -> anyoauth.RetryPolicy:
        """The default policy, except that it records its waits and jitters by half."""
        return anyoauth.RetryPolicy(sleep=self, rng=lambda: 0.5, **options)


def strategy(token_url: str, **options: Any) -> anyoauth.Strategy:
    """A standard confidential client whose token endpoint is ``token_url``."""
    return anyoauth.Strategy(
        client_id="hardening-client",
        client_secret=SECRET,
        authorization_endpoint="https://as.example/authorize",
        token_endpoint=token_url,
        redirect_uri="https://app.example/callback",
        **options,
    )


async def stored(client: anyoauth.Client) -> bytes | None:
    """The store's exact contents for the client's token (``None``: nothing stored)."""
    token = await client.store.get_token(client.token_key)
    return None if token is None else dump_token(token)
