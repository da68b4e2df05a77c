"""The ``oauth`` provider's discovery policy: the flow chosen from the server's metadata
and the browser at hand, and what of the metadata the profile keeps. No request is
sent: the metadata documents are built here."""

from __future__ import annotations

import sys
from typing import Any

import attrs
import pytest

from anyoauth import AuthorizationCode, ClientCredentials, DeviceCode, ServerMetadata
from anyoauth.cli import _agents
from anyoauth.cli._common import UsageError
from anyoauth.cli._discovery import default_flow, discovered
from anyoauth.cli._profiles import Profile
from anyoauth.cli._providers import get_provider

from .helpers import TW_SECRET

ISSUER = "https://login.example"  # never reached


def metadata(**fields: object) -> ServerMetadata:
    document = {"issuer": ISSUER, "token_endpoint": f"{ISSUER}/token", **fields}
    return ServerMetadata.from_dict(document, issuer=ISSUER)


CODE = {"authorization_endpoint": f"{ISSUER}/authorize"}
DEVICE = {"device_authorization_endpoint": f"{ISSUER}/device"}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.mark.parametrize(
    ("fields", "browser", "profile", "flow"),
    [
        ({**CODE, **DEVICE}, True, {}, "code"),
        ({**CODE, **DEVICE}, False, {}, "device"),
        ({**CODE, **DEVICE}, False, {"agent": "loopback"}, "code"),
        ({**CODE, **DEVICE}, False, {"redirect_uri": "http://127.0.0.1:8123/cb"}, "code"),
        # Listed grants count; a device endpoint without a grant list means the grant.
        ({**CODE, **DEVICE, "grant_types_supported": [DEVICE_GRANT]}, True, {}, "device"),
        ({**DEVICE, "grant_types_supported": ["client_credentials"]}, True,
         {"client_secret": "s" * 16}, "client-credentials"),
        ({}, True, {"client_secret": "s" * 16}, "client-credentials"),
        (CODE, False, {}, "no web browser to log in with"),
        ({}, True, {}, "offers no flow anyoauth can run"),
        ({"grant_types_supported": ["authorization_code"]}, True, {"client_secret": "s" * 16},
         "offers no flow anyoauth can run"),
    ],
)  # fmt: skip
def test_default_flow(
    monkeypatch: pytest.MonkeyPatch,
    fields: dict[str, object],
    browser: bool,
    profile: dict[str, Any],
    flow: str,
) -> None:
    monkeypatch.setattr(_agents, "browser_usable", lambda: browser)
    settings = attrs.evolve(Profile(provider="oauth", client_id="x", issuer=ISSUER), **profile)
    if flow in ("code", "device", "client-credentials"):
        assert default_flow(settings, metadata(**fields)) == flow
    else:
        with pytest.raises(UsageError, match=flow):
            default_flow(settings, metadata(**fields))


def test_discovered_settings() -> None:
    found = metadata(
        **CODE,
        revocation_endpoint=f"{ISSUER}/revoke",
        userinfo_endpoint=f"{ISSUER}/userinfo",
        token_endpoint_auth_methods_supported=["client_secret_post"],
        authorization_response_iss_parameter_supported=True,
    )
    public = Profile(provider="oauth", client_id="x", issuer=ISSUER, flow="code")
    profile = discovered(public, found)
    assert profile.client_auth == "none"
    assert profile.require_iss
    assert dict(profile.server) == {
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "revocation_endpoint": f"{ISSUER}/revoke",
    }
    strategy = get_provider("oauth").build(profile)
    assert isinstance(strategy, AuthorizationCode)
    assert (strategy.uses_pkce, strategy.require_iss, strategy.issuer) == (True, True, ISSUER)
    assert strategy.revocation_endpoint == f"{ISSUER}/revoke"
    # The server lists only client_secret_post: a confidential client uses it.
    secret = attrs.evolve(public, client_secret=TW_SECRET, flow="client-credentials")
    confidential = discovered(secret, found)
    assert confidential.client_auth == "client_secret_post"
    assert isinstance(get_provider("oauth").build(confidential), ClientCredentials)
    # A flow the server has no endpoint for is a configuration error.
    with pytest.raises(UsageError, match="offers no device flow: its metadata has no "):
        discovered(attrs.evolve(public, flow="device"), found)
    # The device flow keeps no user agent settings.
    device = attrs.evolve(public, flow="device", agent="loopback", port=8123)
    built = discovered(device, metadata(**DEVICE))
    assert (built.agent, built.port, built.redirect_uri) == (None, None, None)
    assert isinstance(get_provider("oauth").build(built), DeviceCode)


def test_browser_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BROWSER", "true")
    assert _agents.browser_usable()
    monkeypatch.delenv("BROWSER")
    if sys.platform.startswith("linux"):
        assert not _agents.browser_usable()  # a console or SSH session
