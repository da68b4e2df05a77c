"""The emulator's request handling, request by request, without IO."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterable
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyoauth.testing import (
    BOG_ACCOUNTS_PATH,
    GENI_AUTHORIZE_PATH,
    GENI_DECISION_PATH,
    GENI_FAILURE_PATH,
    GENI_PROFILE_PATH,
    GENI_SUCCESS_PATH,
    GENI_TOKEN_PATH,
    MAX_BODY_BYTES,
    TEAMWORK_DECISION_PATH,
    TEAMWORK_LOGIN_PATH,
    TEAMWORK_ME_PATH,
    TEAMWORK_TOKEN_PATH,
    EmulatorResponse,
    ManualClock,
    ProviderEmulator,
)

BASE = "https://emulator.test"
GENI_ID = "geni-app"
TW_ID, TW_SECRET = "tw-app", "tw-SECRET-sentinel"
TW_REDIRECT = "myapp://teamwork/cb"
TW_WEB_REDIRECT = "https://app.example/cb?tenant=7"
KC_ID, KC_SECRET = "bog-client", "b:o+g% SECRET"
KC_REDIRECT = "https://app.example/bog"
KC = "/auth/realms/bog/protocol/openid-connect"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Page(HTMLParser):
    """Collects what a browser would see on an emulator page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.lang = ""
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.buttons: dict[str, str] = {}
        self._button: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = values["lang"]
        elif tag == "form":
            self.action = values["action"]
        elif tag == "input" and values.get("type") == "hidden":
            self.hidden[values["name"]] = values["value"]
        elif tag == "button":
            self._button = values["value"]

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self.buttons[self._button] = data
            self._button = None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> ProviderEmulator:
    emulator = ProviderEmulator(clock=clock)
    emulator.add_geni_app(GENI_ID)
    emulator.add_geni_app("narrow", scopes=["basic"])
    emulator.add_teamwork_app(TW_ID, TW_SECRET, [TW_REDIRECT, TW_WEB_REDIRECT])
    emulator.add_teamwork_app(
        "tw-origin", TW_SECRET, [TW_REDIRECT], allowed_origins=["https://app.example"]
    )
    emulator.add_keycloak_client(KC_ID, KC_SECRET, redirect_uris=[KC_REDIRECT], app_id="77")
    emulator.add_keycloak_client("staff-client", "staff", realm="staff")
    return emulator


def get(
    emulator: ProviderEmulator,
    path: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> EmulatorResponse:
    query = f"?{urlencode(params)}" if params else ""
    return emulator.handle("GET", f"{BASE}{path}{query}", headers or {})


def post(
    emulator: ProviderEmulator,
    path: str,
    body: bytes | dict[str, str],
    headers: dict[str, str] | Iterable[tuple[str, str]] = FORM,
) -> EmulatorResponse:
    data = urlencode(body).encode() if isinstance(body, dict) else body
    return emulator.handle("POST", f"{BASE}{path}", headers, data)


def click(emulator: ProviderEmulator, path: str, params: dict[str, str], decision: str) -> str:
    page = get(emulator, path, params)
    assert page.status == 200, page.text
    form = Page(page.text)
    answer = post(emulator, form.action, {**form.hidden, "decision": decision})
    assert answer.status == 302
    location = answer.header("Location")
    assert location is not None
    return location


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def fragment(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).fragment))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(client_id: str, secret: str, *, encode: bool = True) -> dict[str, str]:
    if encode:
        client_id, secret = quote(client_id, safe=""), quote(secret, safe="")
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {**FORM, "Authorization": f"Basic {raw}"}


GENI = {"client_id": GENI_ID, "response_type": "token", "display": "desktop"}
TEAMWORK = {"client_id": TW_ID, "redirect_uri": TW_REDIRECT}
BOG = {"client_id": KC_ID, "response_type": "token", "scope": "corp", "redirect_uri": KC_REDIRECT}


# -- consent pages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [(GENI_AUTHORIZE_PATH, GENI), (TEAMWORK_LOGIN_PATH, TEAMWORK), (f"{KC}/auth", BOG)],
)
def test_consent_page_holds_only_a_ticket(
    emulator: ProviderEmulator, path: str, params: dict[str, str]
) -> None:
    page = get(emulator, path, {**params, "state": "STATE-xyz"})
    assert page.status == 200
    assert page.header("Cache-Control") == "no-store"
    assert page.header("Referrer-Policy") == "no-referrer"
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    form = Page(page.text)
    assert form.action == f"{path}/decision"
    assert list(form.hidden) == ["ticket"]
    assert "STATE-xyz" not in page.text
    assert form.buttons == {"allow": "Allow", "deny": "Don't Allow"}


def test_reflected_values_are_escaped(emulator: ProviderEmulator) -> None:
    evil = '"><script>alert(1)</script>'
    emulator.add_geni_app(evil)
    geni = get(emulator, GENI_AUTHORIZE_PATH, {**GENI, "client_id": evil, "scope": evil})
    teamwork = get(emulator, TEAMWORK_LOGIN_PATH, {**TEAMWORK, "redirect_uri": evil})
    keycloak = get(emulator, f"{KC}/auth", {**BOG, "kc_locale": evil})
    assert teamwork.status == 400
    for page in (geni, teamwork, keycloak):
        assert "<script>" not in page.text
        assert "&lt;script&gt;" in page.text
    assert Page(keycloak.text).lang == evil


@given(st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40))
def test_kc_locale_round_trips_through_the_lang_attribute(locale: str) -> None:
    emulator = ProviderEmulator()
    emulator.add_keycloak_client(KC_ID, KC_SECRET, redirect_uris=[KC_REDIRECT])
    page = get(emulator, f"{KC}/auth", {**BOG, "kc_locale": locale})
    assert Page(page.text).lang == locale


def test_ticket_is_single_use_expires_and_is_bound_to_its_provider(
    emulator: ProviderEmulator, clock: ManualClock
) -> None:
    def ticket() -> str:
        return Page(get(emulator, GENI_AUTHORIZE_PATH, GENI).text).hidden["ticket"]

    used = ticket()
    assert post(emulator, GENI_DECISION_PATH, {"ticket": used, "decision": "allow"}).status == 302
    assert post(emulator, GENI_DECISION_PATH, {"ticket": used, "decision": "allow"}).status == 400
    foreign = ticket()
    answer = post(emulator, TEAMWORK_DECISION_PATH, {"ticket": foreign, "decision": "allow"})
    assert answer.status == 400
    late = ticket()
    clock.advance(601)
    assert post(emulator, GENI_DECISION_PATH, {"ticket": late, "decision": "allow"}).status == 400
    kept = ticket()
    assert post(emulator, GENI_DECISION_PATH, {"ticket": kept, "decision": "maybe"}).status == 400
    assert post(emulator, GENI_DECISION_PATH, {"ticket": kept, "decision": "deny"}).status == 302


# -- Geni ----------------------------------------------------------------------------


def test_geni_allow_lands_on_auth_success_with_the_token_in_the_fragment(
    emulator: ProviderEmulator, clock: ManualClock
) -> None:
    location = click(
        emulator, GENI_AUTHORIZE_PATH, {**GENI, "scope": "basic,family", "state": "s1"}, "allow"
    )
    assert location.startswith(f"{BASE}{GENI_SUCCESS_PATH}#access_token=")
    answer = fragment(location)
    assert set(answer) == {"access_token", "expires_in", "state", "scope"}
    assert (answer["expires_in"], answer["state"], answer["scope"]) == (
        "86400",
        "s1",
        "basic,family",
    )
    token = answer["access_token"]
    assert emulator.is_valid_token(token)
    assert get(emulator, GENI_PROFILE_PATH, headers=bearer(token)).json()["name"]
    clock.advance(86399)
    assert emulator.is_valid_token(token)
    clock.advance(1)
    assert not emulator.is_valid_token(token)
    expired = get(emulator, GENI_PROFILE_PATH, headers=bearer(token))
    assert expired.status == 401
    assert expired.json()["error"] == "invalid_token"
    assert expired.header("WWW-Authenticate") == 'Bearer error="invalid_token"'


def test_geni_echoes_state_and_scope_only_when_sent(emulator: ProviderEmulator) -> None:
    location = click(emulator, GENI_AUTHORIZE_PATH, GENI, "allow")
    assert set(fragment(location)) == {"access_token", "expires_in"}
    assert emulator.authorization_requests[-1]["display"] == "desktop"


def test_geni_percent_encoded_fragment(emulator: ProviderEmulator) -> None:
    emulator.geni_percent_encode_fragment = True
    location = click(emulator, GENI_AUTHORIZE_PATH, {**GENI, "state": "a b&c"}, "allow")
    raw = urlsplit(location).fragment
    assert raw.startswith("access_token%3D")
    assert "%26expires_in%3D86400" in raw
    assert "&" not in raw
    assert "=" not in raw
    decoded = dict(parse_qsl(unquote(raw)))
    assert decoded["state"] == "a b&c"
    assert emulator.is_valid_token(decoded["access_token"])


def test_geni_deny_lands_on_auth_failed(emulator: ProviderEmulator) -> None:
    location = click(emulator, GENI_AUTHORIZE_PATH, GENI, "deny")
    assert location == f"{BASE}{GENI_FAILURE_PATH}#status=unauthorized&message=user+canceled"
    with_state = click(emulator, GENI_AUTHORIZE_PATH, {**GENI, "state": "s2"}, "deny")
    assert fragment(with_state) == {
        "status": "unauthorized",
        "message": "user canceled",
        "state": "s2",
    }


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({**GENI, "client_id": "unknown"}, "invalid_client"),
        ({"response_type": "token"}, "invalid_client"),
        ({**GENI, "response_type": "code"}, "unsupported_response_type"),
        ({**GENI, "client_id": "narrow", "scope": "basic,family"}, "invalid_scope"),
    ],
)
def test_geni_authorize_errors_go_to_auth_failed(
    emulator: ProviderEmulator, params: dict[str, str], error: str
) -> None:
    answer = get(emulator, GENI_AUTHORIZE_PATH, {**params, "state": "s3"})
    assert answer.status == 302
    location = answer.header("Location") or ""
    assert location.startswith(f"{BASE}{GENI_FAILURE_PATH}#")
    assert fragment(location)["error"] == error
    assert fragment(location)["error_description"]
    assert fragment(location)["state"] == "s3"


def test_geni_landing_pages_and_token_endpoint(emulator: ProviderEmulator) -> None:
    for path in (GENI_SUCCESS_PATH, GENI_FAILURE_PATH):
        page = get(emulator, path)
        assert page.status == 200
        assert page.header("Cache-Control") == "no-store"
    answer = post(emulator, GENI_TOKEN_PATH, {"grant_type": "password"})
    assert answer.status == 400
    assert answer.json()["error"] == "unsupported_grant_type"
    assert answer.json()["error_description"]


def test_api_tokens_are_per_provider(emulator: ProviderEmulator) -> None:
    geni_token = fragment(click(emulator, GENI_AUTHORIZE_PATH, GENI, "allow"))["access_token"]
    assert get(emulator, TEAMWORK_ME_PATH, headers=bearer(geni_token)).status == 401
    assert get(emulator, BOG_ACCOUNTS_PATH, headers=bearer(geni_token)).status == 401
    assert get(emulator, GENI_PROFILE_PATH).status == 401
    assert (
        get(emulator, GENI_PROFILE_PATH, headers={"Authorization": f"Basic {geni_token}"}).status
        == 401
    )
    assert (
        get(emulator, GENI_PROFILE_PATH, headers={"authorization": f"bearer {geni_token}"}).status
        == 200
    )


# -- Teamwork ------------------------------------------------------------------------


def exchange(
    emulator: ProviderEmulator, code: str, /, *, origin: str | None = None, **changes: str
) -> EmulatorResponse:
    body = {
        "code": code,
        "client_id": TW_ID,
        "client_secret": TW_SECRET,
        "redirect_uri": TW_REDIRECT,
    }
    headers = {"Content-Type": "application/json"}
    if origin is not None:
        headers["Origin"] = origin
    return post(emulator, TEAMWORK_TOKEN_PATH, json.dumps({**body, **changes}).encode(), headers)


def teamwork_code(emulator: ProviderEmulator, **params: str) -> str:
    return query(click(emulator, TEAMWORK_LOGIN_PATH, {**TEAMWORK, **params}, "allow"))["code"]


def test_teamwork_allow_redirects_with_code_and_state(emulator: ProviderEmulator) -> None:
    location = click(emulator, TEAMWORK_LOGIN_PATH, {**TEAMWORK, "state": "s1"}, "allow")
    assert location.startswith(f"{TW_REDIRECT}?code=")
    answer = query(location)
    assert set(answer) == {"code", "state"}
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", answer["code"]
    )
    without_state = click(emulator, TEAMWORK_LOGIN_PATH, TEAMWORK, "allow")
    assert set(query(without_state)) == {"code"}
    web = click(
        emulator, TEAMWORK_LOGIN_PATH, {**TEAMWORK, "redirect_uri": TW_WEB_REDIRECT}, "allow"
    )
    assert web.startswith(f"{TW_WEB_REDIRECT}&code=")
    assert query(web)["tenant"] == "7"


def test_teamwork_deny_redirects_with_access_denied(emulator: ProviderEmulator) -> None:
    location = click(emulator, TEAMWORK_LOGIN_PATH, {**TEAMWORK, "state": "s1"}, "deny")
    answer = query(location)
    assert location.startswith(f"{TW_REDIRECT}?error=access_denied")
    assert answer["state"] == "s1"
    assert answer["error_description"]


@pytest.mark.parametrize(
    "params",
    [
        {**TEAMWORK, "client_id": "unknown"},
        {"redirect_uri": TW_REDIRECT},
        {**TEAMWORK, "redirect_uri": "myapp://teamwork/cb/other"},
        {"client_id": TW_ID},
    ],
)
def test_teamwork_login_never_redirects_to_unregistered_uris(
    emulator: ProviderEmulator, params: dict[str, str]
) -> None:
    answer = get(emulator, TEAMWORK_LOGIN_PATH, params)
    assert answer.status == 400
    assert answer.header("Location") is None
    assert answer.header("Content-Type") == "text/html; charset=utf-8"


def test_teamwork_exchange_answers_like_launchpad(emulator: ProviderEmulator) -> None:
    answer = exchange(emulator, teamwork_code(emulator))
    assert answer.status == 200
    payload = answer.json()
    assert set(payload) == {"access_token", "installation", "status", "user"}
    assert payload["status"] == "ok"
    assert payload["access_token"].startswith("tkn.v1_")
    installation = payload["installation"]
    assert installation["apiEndPoint"] == installation["url"] == f"{BASE}/"
    assert installation["region"] == "US"
    assert installation["chatEnabled"] is False
    assert set(installation["company"]) == {"id", "name", "logo"}
    assert {"id", "firstName", "lastName", "email", "avatar", "company"} <= set(payload["user"])
    me = get(emulator, TEAMWORK_ME_PATH, headers=bearer(payload["access_token"]))
    assert me.status == 200
    assert me.json()["person"]["firstName"] == payload["user"]["firstName"]


def test_teamwork_tokens_are_permanent_until_revoked(
    emulator: ProviderEmulator, clock: ManualClock
) -> None:
    token = exchange(emulator, teamwork_code(emulator)).json()["access_token"]
    clock.advance(10 * 365 * 86400)
    assert emulator.is_valid_token(token)
    emulator.revoke_all()
    assert not emulator.is_valid_token(token)
    assert get(emulator, TEAMWORK_ME_PATH, headers=bearer(token)).status == 401


def test_teamwork_code_expires_after_15_minutes(
    emulator: ProviderEmulator, clock: ManualClock
) -> None:
    almost = teamwork_code(emulator)
    late = teamwork_code(emulator)
    clock.advance(15 * 60 - 1)
    assert exchange(emulator, almost).status == 200
    clock.advance(1)
    answer = exchange(emulator, late)
    assert answer.status == 400
    assert answer.json()["error"] == "invalid_grant"
    assert answer.json()["status"] == "error"


def test_teamwork_code_is_single_use(emulator: ProviderEmulator) -> None:
    code = teamwork_code(emulator)
    assert exchange(emulator, code).status == 200
    again = exchange(emulator, code)
    assert again.status == 400
    assert again.json()["error"] == "invalid_grant"
    assert again.json()["message"] == again.json()["error_description"]
    assert emulator.calls["teamwork.token"] == 2


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "unknown"}, 401, "invalid_client"),
        ({"redirect_uri": TW_WEB_REDIRECT}, 400, "invalid_grant"),
        ({"code": "7cc8debd-a469-4b8b-9eef-f825d4480274"}, 400, "invalid_grant"),
        ({"client_secret": ""}, 400, "invalid_request"),
    ],
)
def test_teamwork_exchange_errors(
    emulator: ProviderEmulator, changes: dict[str, str], status: int, error: str
) -> None:
    code = teamwork_code(emulator)
    answer = exchange(emulator, code, **changes)
    assert answer.status == status
    assert answer.json()["error"] == error
    assert answer.json()["status"] == "error"
    assert TW_SECRET not in answer.text
    assert exchange(emulator, code).status == 200


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"code": "x"}', "application/x-www-form-urlencoded"),
        (b"code=x&client_id=y", "application/x-www-form-urlencoded"),
        (b"not json", "application/json"),
        (b'["a list"]', "application/json; charset=utf-8"),
    ],
)
def test_teamwork_exchange_wants_a_json_object(
    emulator: ProviderEmulator, body: bytes, content_type: str
) -> None:
    answer = post(emulator, TEAMWORK_TOKEN_PATH, body, {"Content-Type": content_type})
    assert answer.status == 400
    assert answer.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("origin", "status"),
    [(None, 403), ("https://evil.example", 403), ("https://app.example", 200)],
)
def test_teamwork_allowed_origins(
    emulator: ProviderEmulator, origin: str | None, status: int
) -> None:
    code = teamwork_code(emulator, client_id="tw-origin")
    answer = exchange(emulator, code, origin=origin, client_id="tw-origin")
    assert answer.status == status
    if status == 403:
        assert answer.json()["error"] == "invalid_client"


# -- Keycloak ------------------------------------------------------------------------


def test_keycloak_allow_puts_the_token_in_the_query_by_default(
    emulator: ProviderEmulator, clock: ManualClock
) -> None:
    location = click(emulator, f"{KC}/auth", {**BOG, "state": "s1", "kc_locale": "ka"}, "allow")
    assert location.startswith(f"{KC_REDIRECT}?")
    assert "#" not in location
    answer = query(location)
    assert set(answer) == {"access_token", "token_type", "expires_in", "state", "session_state"}
    assert (answer["token_type"], answer["expires_in"], answer["state"]) == ("bearer", "300", "s1")
    assert answer["access_token"].count(".") == 2
    assert emulator.authorization_requests[-1]["kc_locale"] == "ka"
    clock.advance(300)
    assert not emulator.is_valid_token(answer["access_token"])


def test_keycloak_page_language_follows_kc_locale(emulator: ProviderEmulator) -> None:
    assert Page(get(emulator, f"{KC}/auth", {**BOG, "kc_locale": "ka"}).text).lang == "ka"
    assert Page(get(emulator, f"{KC}/auth", BOG).text).lang == "en"


def test_keycloak_response_mode(emulator: ProviderEmulator) -> None:
    emulator.keycloak_response_mode = "fragment"
    location = click(emulator, f"{KC}/auth", {**BOG, "state": "s1"}, "allow")
    assert location.startswith(f"{KC_REDIRECT}#access_token=")
    assert fragment(location)["state"] == "s1"
    denied = click(emulator, f"{KC}/auth", BOG, "deny")
    assert denied == f"{KC_REDIRECT}#error=access_denied"
    overridden = click(emulator, f"{KC}/auth", {**BOG, "response_mode": "query"}, "deny")
    assert overridden == f"{KC_REDIRECT}?error=access_denied"
    bad = get(emulator, f"{KC}/auth", {**BOG, "response_mode": "form_post"})
    assert bad.status == 400


def test_keycloak_authorize_errors(emulator: ProviderEmulator) -> None:
    assert get(emulator, f"{KC}/auth", {**BOG, "client_id": "unknown"}).status == 400
    unregistered = get(emulator, f"{KC}/auth", {**BOG, "redirect_uri": "https://evil.example/"})
    assert unregistered.status == 400
    assert unregistered.header("Location") is None
    code = get(emulator, f"{KC}/auth", {**BOG, "response_type": "code", "state": "s"})
    assert code.status == 302
    assert query(code.header("Location") or "") == {
        "error": "unsupported_response_type",
        "state": "s",
    }
    other_realm = get(emulator, KC.replace("bog", "staff") + "/auth", BOG)
    assert other_realm.status == 400
    unknown = get(emulator, KC.replace("bog", "nope") + "/auth", BOG)
    assert unknown.status == 404
    assert unknown.json() == {"error": "Realm does not exist"}


def test_keycloak_client_credentials_with_form_encoded_basic_auth(
    emulator: ProviderEmulator, clock: ManualClock
) -> None:
    answer = post(
        emulator, f"{KC}/token", {"grant_type": "client_credentials"}, basic(KC_ID, KC_SECRET)
    )
    assert answer.status == 200
    payload = answer.json()
    assert payload == {
        "access_token": payload["access_token"],
        "expires_in": 300,
        "refresh_expires_in": 0,
        "token_type": "bearer",
        "not-before-policy": 0,
        "scope": "corp",
        "app_id": "77",
    }
    _, claims, _ = payload["access_token"].split(".")
    assert json.loads(base64.urlsafe_b64decode(claims + "==="))["azp"] == KC_ID
    assert answer.header("Cache-Control") == "no-store"
    accounts = get(emulator, BOG_ACCOUNTS_PATH, headers=bearer(payload["access_token"]))
    assert accounts.status == 200
    assert isinstance(accounts.json(), list)
    clock.advance(300)
    assert get(emulator, BOG_ACCOUNTS_PATH, headers=bearer(payload["access_token"])).status == 401


def test_keycloak_decodes_basic_credentials_as_form_data(emulator: ProviderEmulator) -> None:
    emulator.add_keycloak_client("id:with+odd chars%", "p@ss word+:%41", realm="staff")
    grant = {"grant_type": "client_credentials"}
    encoded = basic("id:with+odd chars%", "p@ss word+:%41")
    assert "%3A" in base64.b64decode(encoded["Authorization"][6:]).decode()
    assert post(emulator, KC.replace("bog", "staff") + "/token", grant, encoded).status == 200
    raw = basic(KC_ID, KC_SECRET, encode=False)
    answer = post(emulator, f"{KC}/token", grant, raw)
    assert answer.status == 401
    assert answer.json() == {
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
    }


@pytest.mark.parametrize(
    ("form", "headers", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, basic(KC_ID, "wrong"), 401, "unauthorized_client"),
        (
            {"grant_type": "client_credentials"},
            basic("staff-client", "staff"),
            401,
            "unauthorized_client",
        ),
        ({"grant_type": "client_credentials"}, FORM, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials"},
            {**FORM, "Authorization": "Basic %%%"},
            401,
            "invalid_client",
        ),
        ({"grant_type": "password"}, basic(KC_ID, KC_SECRET), 400, "unsupported_grant_type"),
        ({}, basic(KC_ID, KC_SECRET), 400, "invalid_request"),
        (
            {"grant_type": "client_credentials", "redirect_uri": "https://evil.example/"},
            basic(KC_ID, KC_SECRET),
            400,
            "invalid_request",
        ),
        (
            {"grant_type": "client_credentials"},
            {**basic(KC_ID, KC_SECRET), "Content-Type": "application/json"},
            400,
            "invalid_request",
        ),
    ],
)
def test_keycloak_token_errors(
    emulator: ProviderEmulator,
    form: dict[str, str],
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    answer = post(emulator, f"{KC}/token", form, headers)
    assert answer.status == status
    assert answer.json()["error"] == error
    assert KC_SECRET not in answer.text


def test_keycloak_token_accepts_the_code_and_registered_redirect_uri(
    emulator: ProviderEmulator,
) -> None:
    form = {"grant_type": "client_credentials", "code": "temporary", "redirect_uri": KC_REDIRECT}
    assert post(emulator, f"{KC}/token", form, basic(KC_ID, KC_SECRET)).status == 200


# -- general -------------------------------------------------------------------------


def test_calls_are_counted_per_endpoint(emulator: ProviderEmulator) -> None:
    click(emulator, GENI_AUTHORIZE_PATH, GENI, "allow")
    exchange(emulator, teamwork_code(emulator))
    post(emulator, f"{KC}/token", {"grant_type": "client_credentials"}, basic(KC_ID, KC_SECRET))
    post(emulator, f"{KC}/token", {"grant_type": "client_credentials"}, basic(KC_ID, "wrong"))
    get(emulator, "/nothing/here")
    assert emulator.calls == {
        "geni.authorize": 1,
        "geni.decision": 1,
        "teamwork.login": 1,
        "teamwork.decision": 1,
        "teamwork.token": 1,
        "keycloak.token": 2,
        "not_found": 1,
    }


def test_wrong_method_unknown_path_and_large_body(emulator: ProviderEmulator) -> None:
    wrong = emulator.handle("GET", f"{BASE}{TEAMWORK_TOKEN_PATH}")
    assert wrong.status == 405
    assert wrong.header("Allow") == "POST"
    assert emulator.handle("HEAD", f"{BASE}{GENI_AUTHORIZE_PATH}").status == 405
    assert get(emulator, "/").status == 404
    large = post(emulator, TEAMWORK_TOKEN_PATH, b"x" * (MAX_BODY_BYTES + 1), {})
    assert large.status == 413
    twice = emulator.handle("GET", f"{BASE}{TEAMWORK_LOGIN_PATH}?client_id=a&client_id=b")
    assert twice.status == 400


def test_configured_base_url_is_used_in_generated_urls(clock: ManualClock) -> None:
    emulator = ProviderEmulator(clock=clock, base_url="https://public.example/")
    emulator.add_geni_app(GENI_ID)
    location = click(emulator, GENI_AUTHORIZE_PATH, GENI, "allow")
    assert location.startswith(f"https://public.example{GENI_SUCCESS_PATH}#")


def test_endpoint_helpers(emulator: ProviderEmulator) -> None:
    assert emulator.endpoints_geni("http://127.0.0.1:1/") == {
        "authorize_url": f"http://127.0.0.1:1{GENI_AUTHORIZE_PATH}",
        "success_url": f"http://127.0.0.1:1{GENI_SUCCESS_PATH}",
        "failure_url": f"http://127.0.0.1:1{GENI_FAILURE_PATH}",
        "token_url": f"http://127.0.0.1:1{GENI_TOKEN_PATH}",
    }
    assert emulator.endpoints_teamwork(BASE) == {
        "login_url": f"{BASE}{TEAMWORK_LOGIN_PATH}",
        "token_url": f"{BASE}{TEAMWORK_TOKEN_PATH}",
    }
    assert emulator.endpoints_keycloak(BASE, "a realm") == {
        "authorize_url": f"{BASE}/auth/realms/a%20realm/protocol/openid-connect/auth",
        "token_url": f"{BASE}/auth/realms/a%20realm/protocol/openid-connect/token",
    }


def test_nothing_secret_in_logs_or_reprs(
    emulator: ProviderEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="anyoauth.testing")
    geni = click(emulator, GENI_AUTHORIZE_PATH, GENI, "allow")
    code = teamwork_code(emulator)
    teamwork = exchange(emulator, code)
    keycloak = post(
        emulator, f"{KC}/token", {"grant_type": "client_credentials"}, basic(KC_ID, KC_SECRET)
    )
    secrets = [
        TW_SECRET,
        KC_SECRET,
        quote(KC_SECRET, safe=""),
        code,
        fragment(geni)["access_token"],
        teamwork.json()["access_token"],
        keycloak.json()["access_token"],
    ]
    shown = caplog.text + repr(emulator) + repr(teamwork) + repr(keycloak) + str(emulator)
    assert caplog.records
    for secret in secrets:
        assert secret not in shown


def test_manual_clock() -> None:
    clock = ManualClock(10.0)
    clock.advance(2.5)
    assert clock() == 12.5
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    assert repr(clock) == "ManualClock(now=12.5)"
