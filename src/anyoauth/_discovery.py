"""Fetching authorization server metadata (RFC 8414, OpenID Connect Discovery)."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from ._core.errors import DiscoveryError, OAuthError
from ._core.http import HttpRequest
from ._core.metadata import ServerMetadata, metadata_urls
from ._http import DEFAULT_MAX_RESPONSE_BYTES, send_request
from ._telemetry import Telemetry

__all__ = ["discover"]

logger = logging.getLogger("anyoauth")


async def discover(
    issuer: str,
    *,
    http: Any = None,
    timeout: float = 30.0,  # noqa: ASYNC109 - a per-request deadline, as Client(timeout=...)
    allow_insecure: bool = False,
    telemetry: Telemetry | None = None,
) -> ServerMetadata:
    """Fetch and validate the metadata of the authorization server ``issuer``.

    Tries RFC 8414's ``/.well-known/oauth-authorization-server`` first, then OpenID
    Connect's ``/.well-known/openid-configuration`` (a location that does not answer
    200 with a JSON object is passed over); the first document found must
    name exactly ``issuer`` and list only https endpoints (http is accepted on
    loopback hosts when the issuer is on a loopback host too, or anywhere with
    ``allow_insecure``). ``http`` is an ``httpx.AsyncClient`` or
    ``httpx2.AsyncClient`` (by default a fresh ``httpx`` one): its transport
    (proxies, TLS settings, connection pool) and timeouts are used, never its default
    auth, headers, cookies or event hooks, and the answers' cookies stay out of its
    jar. ``timeout`` bounds each request, body included.

    With ``telemetry`` (:class:`Telemetry`), each request is a span and a data point
    of endpoint kind ``discovery``.

    Raises :class:`DiscoveryError` when no metadata can be fetched or the
    document is unusable.
    """
    urls = metadata_urls(issuer)
    owned = http is None
    # No httpx timeout of its own: ``timeout`` governs each request.
    client = httpx.AsyncClient(follow_redirects=False, timeout=None) if owned else http  # noqa: S113
    failures: list[str] = []
    try:
        for url in urls:
            request = HttpRequest(method="GET", url=url, headers=(("Accept", "application/json"),))
            try:
                status, content_type, body = await send_request(
                    client,
                    request,
                    timeout,
                    DEFAULT_MAX_RESPONSE_BYTES,
                    telemetry=telemetry,
                    kind="discovery",
                )
            except OAuthError as exc:
                failures.append(f"{url}: {exc}")
                continue
            if status != 200:
                # 404, but also a 403 (a bucket's missing object) or a 5xx: try the next.
                failures.append(f"{url}: HTTP {status}")
                continue
            if not _is_json_object(body):
                # A 200 that is no JSON document (an app's catch-all HTML page).
                failures.append(f"{url}: not a JSON document")
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


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
