"""The ``oauth`` provider's discovery policy: which issuer URLs ``login`` accepts, what
it takes from the server's metadata (RFC 8414 / OpenID Connect discovery) into the
profile, and which flow it runs when ``--flow`` does not say.

``token`` and ``logout`` never discover: they build the strategy from the saved
settings (:class:`._providers.DiscoveredProvider`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

from .. import ServerMetadata, Strategy, discover
from .._core.device import DEVICE_GRANT_TYPE
from ..sansio import is_loopback_host
from . import _agents
from ._common import LOOPBACK_HOST, UsageError
from ._profiles import SERVER_FIELDS, Profile

__all__ = [
    "FLOW_ENDPOINTS",
    "check_issuer",
    "default_flow",
    "discover_server",
    "discovered",
    "offers",
    "same_issuer",
]

FLOW_ENDPOINTS = {
    "code": ("authorization_endpoint", "token_endpoint"),
    "device": ("device_authorization_endpoint", "token_endpoint"),
    "client-credentials": ("token_endpoint",),
}
"""What each flow (``--flow``) needs in the server's metadata."""


def same_issuer(a: str | None, b: str | None) -> bool:
    """Whether ``a`` and ``b`` name the same issuer (a trailing slash apart)."""
    return a == b or (a is not None and b is not None and a.rstrip("/") == b.rstrip("/"))


def check_issuer(issuer: str) -> None:
    """An https issuer URL (http only on loopback): discovery sends nothing in the clear."""
    try:
        parts = urlsplit(issuer)
        host = parts.hostname
        _ = parts.port
    except ValueError:  # a bad port, an unclosed IPv6 bracket
        host = None
    if not host or parts.scheme not in ("https", "http") or parts.query or parts.fragment:
        raise UsageError("--issuer must be an https URL without query or fragment")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise UsageError(
            f"--issuer must use https (http only on loopback, e.g. http://{LOOPBACK_HOST}:PORT)"
        )


async def discover_server(profile: Profile) -> ServerMetadata:
    """The server's metadata; :class:`DiscoveryError` when there is none to use."""
    if profile.issuer is None:
        raise UsageError("oauth needs --issuer")
    return await discover(profile.issuer)


def discovered(profile: Profile, metadata: ServerMetadata) -> Profile:
    """The oauth profile completed with what discovery found: the server's endpoints, the
    flow (``--flow``, else :func:`default_flow`) and the client authentication."""
    flow = profile.flow or default_flow(profile, metadata)
    missing = [name for name in FLOW_ENDPOINTS[flow] if getattr(metadata, name) is None]
    if missing:
        raise UsageError(
            f"{metadata.issuer} offers no {flow} flow: its metadata has no {', '.join(missing)}"
        )
    if flow != "code":
        profile = attrs.evolve(profile, agent=None, port=None, redirect_uri=None)
    # The library's rule: client_secret_basic with a secret (client_secret_post when the
    # server lists only that), none without.
    chosen = Strategy.from_metadata(
        metadata, client_id=profile.client_id, client_secret=profile.client_secret
    ).authentication.name
    return attrs.evolve(
        profile,
        issuer=metadata.issuer,
        flow=flow,
        client_auth=chosen,
        server={n: v for n in SERVER_FIELDS if (v := getattr(metadata, n)) is not None},
        require_iss=metadata.authorization_response_iss_parameter_supported,
    )


def offers(metadata: ServerMetadata, flow: str) -> bool:
    """Whether the server's metadata lists ``flow``'s endpoints and grant."""
    if any(getattr(metadata, name) is None for name in FLOW_ENDPOINTS[flow]):
        return False
    if flow == "code":
        return metadata.supports_grant("authorization_code")
    grant = DEVICE_GRANT_TYPE if flow == "device" else "client_credentials"
    # A device endpoint without a grant list still means the grant (RFC 8414's default
    # list names only code and implicit).
    return not metadata.grant_types_supported or grant in metadata.grant_types_supported


def default_flow(profile: Profile, metadata: ServerMetadata) -> str:
    """``code`` when the server offers it and a browser (or a chosen agent) can show the
    login page; else ``device``; else ``client-credentials`` for a client with a secret."""
    code = offers(metadata, "code")
    chosen = (profile.agent, profile.port, profile.redirect_uri) != (None, None, None)
    if code and (chosen or _agents.browser_usable()):
        return "code"
    if offers(metadata, "device"):
        return "device"
    if code:
        raise UsageError(
            f"no web browser to log in with, and {metadata.issuer} offers no device flow: "
            "pass --agent loopback and open the address it prints"
        )
    if profile.client_secret and offers(metadata, "client-credentials"):
        return "client-credentials"
    raise UsageError(
        f"{metadata.issuer} offers no flow anyoauth can run for this client: choose one with "
        "--flow (client-credentials needs a client secret)"
    )
