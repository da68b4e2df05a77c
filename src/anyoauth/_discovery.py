"""Fetching authorization server metadata (RFC 8414, OpenID Connect Discovery)."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ._client import DEFAULT_MAX_RESPONSE_BYTES, send_request
from ._core.errors import DiscoveryError, OAuthError
from ._core.metadata import ServerMetadata, metadata_urls
from ._core.strategy import HttpRequest

__all__ = ["discover"]

logger = logging.getLogger("anyoauth")


async def discover(
    issuer: str,
    *,
    http: Any = None,
    timeout: float = 30.0,  # noqa: ASYNC109 - a per-request deadline, as Client(timeout=...)
    allow_insecure: bool = False,
) -> ServerMetadata:
    """Fetch and validate the metadata of the authorization server ``issuer``.

    Tries RFC 8414's ``/.well-known/oauth-authorization-server`` first, then OpenID
    Connect's ``/.well-known/openid-configuration``; the first document found must
    name exactly ``issuer`` and list only https endpoints (http is accepted on
    loopback hosts, or anywhere with ``allow_insecure``). ``http`` is an
    ``httpx.AsyncClient`` or ``httpx2.AsyncClient`` (by default a fresh ``httpx``
    one); ``timeout`` bounds each request, body included.

    Raises :class:`DiscoveryError` when no metadata can be fetched or the
    document is unusable.
    """
    urls = metadata_urls(issuer)
    owned = http is None
    client = httpx.AsyncClient(follow_redirects=False) if owned else http
    failures: list[str] = []
    try:
        for url in urls:
            request = HttpRequest(method="GET", url=url, headers=(("Accept", "application/json"),))
            try:
                status, content_type, body = await send_request(
                    client, request, timeout, DEFAULT_MAX_RESPONSE_BYTES
                )
            except OAuthError as exc:
                failures.append(f"{url}: {exc}")
                continue
            if status in (404, 405, 410):
                failures.append(f"{url}: HTTP {status}")
                continue
            metadata = ServerMetadata.from_response(
                status, content_type, body, issuer=issuer, allow_insecure=allow_insecure
            )
            logger.debug("metadata of %s read from %s", issuer, url)
            return metadata
    finally:
        if owned:
            await client.aclose()
    raise DiscoveryError("no metadata found for the issuer (" + "; ".join(failures) + ")")
