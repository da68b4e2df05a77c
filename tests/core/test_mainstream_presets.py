"""The Google, Entra ID, GitHub and GitLab presets' settings, sans-IO: endpoints for each
tenant or server, refused settings, the issuer rules, and presets that survive
``attrs.evolve`` (the loopback agent's redirect URI) with every setting kept."""

from __future__ import annotations

import attrs
import pytest

from anyoauth import ConfigurationError, InvalidIdToken
from anyoauth.providers import (
    ENTRA_CONSUMERS_TENANT_ID,
    EntraClientCredentials,
    EntraDevice,
    EntraID,
    GitHub,
    GitLab,
    Google,
    IssuerRule,
)

SECRET = "preset-secret-SENTINEL-99"
GUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def test_entra_endpoints_and_issuer_follow_the_tenant() -> None:
    common = EntraID("app")
    assert common.authorization_endpoint == (
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize"
    )
    assert common.issuer == "https://login.microsoftonline.com/{tenantid}/v2.0"
    assert EntraID("app", tenant=GUID).issuer == f"https://login.microsoftonline.com/{GUID}/v2.0"
    consumers = EntraID("app", tenant="consumers")
    assert consumers.issuer == (
        f"https://login.microsoftonline.com/{ENTRA_CONSUMERS_TENANT_ID}/v2.0"
    )
    device = EntraDevice("app", tenant="contoso.onmicrosoft.com")
    assert device.device_authorization_endpoint == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode"
    )
    assert "offline_access" in common.scope


@pytest.mark.parametrize("tenant", ["", "a/b", "x?y=1", "common#", "..", "a b"])
def test_entra_refuses_a_tenant_that_is_no_tenant(tenant: str) -> None:
    with pytest.raises(ConfigurationError, match="tenant"):
        EntraID("app", tenant=tenant)


def test_entra_client_credentials_need_a_tenant_and_default_scopes() -> None:
    for tenant in ("common", "organizations", "consumers"):
        with pytest.raises(ConfigurationError, match="own tenant"):
            EntraClientCredentials("app", SECRET, tenant=tenant)
    with pytest.raises(ConfigurationError, match=r"\.default"):
        EntraClientCredentials("app", SECRET, tenant=GUID, scope="User.Read")
    with pytest.raises(ConfigurationError, match="client_secret"):
        EntraClientCredentials("app", tenant=GUID)
    strategy = EntraClientCredentials("app", SECRET, tenant=GUID)
    assert strategy.scope == ("https://graph.microsoft.com/.default",)
    assert strategy.client_auth == "client_secret_post"
    assert SECRET not in repr(strategy)


def test_entra_pinned_tenants_must_be_tenant_ids_and_include_the_tenant() -> None:
    with pytest.raises(ConfigurationError, match="GUIDs"):
        EntraID("app", tenants=["contoso.com"])
    with pytest.raises(ConfigurationError, match="include the tenant"):
        EntraID("app", tenant=GUID, tenants=["aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"])


def test_the_issuer_rules_choose_before_validation() -> None:
    template = "https://login.microsoftonline.com/{tenantid}/v2.0"
    rule = IssuerRule(issuer=template, tenant_template=template)
    assert rule.expected_issuer({"tid": GUID}) == template.replace("{tenantid}", GUID)
    with pytest.raises(InvalidIdToken):
        rule.expected_issuer({"tid": "../" + GUID})
    google = IssuerRule(issuer="https://accounts.google.com", also_without_scheme=True)
    assert google.expected_issuer({"iss": "accounts.google.com"}) == "accounts.google.com"
    assert google.expected_issuer({"iss": "evil"}) == "https://accounts.google.com"


def test_presets_keep_their_settings_through_evolve() -> None:
    google = Google("app", SECRET, prompt="consent")
    moved = attrs.evolve(google, redirect_uri="http://127.0.0.1:5000/cb")
    assert moved.extra_authorization_params == {"access_type": "offline", "prompt": "consent"}
    assert moved.issuer_rule() == google.issuer_rule()
    entra = EntraID("app", tenant="organizations", tenants=[GUID])
    again = attrs.evolve(entra, redirect_uri="http://127.0.0.1:5000/cb")
    assert again.issuer_rule() == entra.issuer_rule()
    assert again.authorization_endpoint == entra.authorization_endpoint


def test_github_and_gitlab_endpoints() -> None:
    github = GitHub("app", SECRET, scope="repo,gist", server_url="https://ghe.example")
    assert github.token_endpoint == "https://ghe.example/login/oauth/access_token"
    assert github.scope == ("repo", "gist")
    assert github.scope_param() == "repo gist"
    assert github.issuer is None  # no OpenID Connect
    assert github.jwks_uri is None
    assert SECRET not in repr(github)
    gitlab = GitLab("app", server_url="https://gitlab.example/")
    assert gitlab.issuer == "https://gitlab.example"
    assert gitlab.jwks_uri == "https://gitlab.example/oauth/discovery/keys"
    assert gitlab.client_auth == "none"  # a public app: PKCE
    assert gitlab.uses_pkce
