"""A server that echoes the request in its error never makes an error show a secret.

Some servers answer a bad request with the request itself in ``error_description``
(headers and body). Every flow that sends a secret (client secret in a Basic credential,
raw or form-encoded, or in the body; JWT client assertions; the code and the PKCE
verifier; refresh, access and revoked or introspected tokens; the device code) runs
here against such a server, which echoes the request raw and percent-, form-, JSON- and
base64-encoded, in ``error``, ``error_description``, ``error_uri`` and Teamwork's
``message``, after padding that puts the secrets astride the 500-character clip. None
of the secrets, their halves or their encoded forms may be shown by the raised error:
its ``str``, ``repr``, ``args``, attributes, traceback rendered with locals, nor
anything reachable from it (``reachable.find_secrets``: cause, context, frames...).

The same walk runs over every fault of ``catalogue.py``, and tests at the end show that
the walk does find a secret where one is left.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import traceback
from collections.abc import Awaitable, Callable, Iterable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote_plus, urlsplit

import anyio
import pytest
from joserfc.jwk import RSAKey

import anyoauth
from anyoauth import ProviderError
from anyoauth.providers import BankOfGeorgia, Teamwork
from anyoauth.testing import ManualClock
from support.internals import stop_scrubbing

from .catalogue import CASES, IDS, Case, Endpoint
from .common import FRESH, ORIGINAL, SECRET, Waits, strategy
from .reachable import TESTS, find_secrets, secret_pieces

pytestmark = pytest.mark.anyio

AUTHORIZE = "https://as.example/authorize"
TOKEN = "https://as.example/token"
DEVICE = "https://as.example/device"
REVOKE = "https://as.example/revoke"
INTROSPECT = "https://as.example/introspect"
REDIRECT = "https://app.example/callback"

BASIC_SECRET = "SENTINEL-basic-secret-7f3a9c1d"
RAW_SECRET = "SENTINEL raw+secret/é%41&x=1;ok"
POST_SECRET = "SENTINEL-post-secret-2b8d4e6f"
HMAC_SECRET = "SENTINEL-hmac-secret-0123456789abcdef-0123456789"
KEYCLOAK_SECRET = "SENTINEL-keycloak-secret-5a6b7c8d"
TEAMWORK_SECRET = "SENTINEL-teamwork-secret-9e0f1a2b"
DEVICE_CODE = "SENTINEL-device-code-3c4d5e6f7a8b"
INTROSPECTED = "SENTINEL-introspected-token-1b2c3d4e"
STORED = anyoauth.Token(
    access_token="SENTINEL-stored-access-token-6d7e8f",
    refresh_token="SENTINEL-stored-refresh-token-0a1b2c",
    issued_at=0.0,
    expires_at=1.0,
)
PLANTED = (
    BASIC_SECRET,
    RAW_SECRET,
    POST_SECRET,
    HMAC_SECRET,
    KEYCLOAK_SECRET,
    TEAMWORK_SECRET,
    DEVICE_CODE,
    INTROSPECTED,
    STORED.access_token,
    str(STORED.refresh_token),
)
SECRET_FIELDS = frozenset(
    {
        "client_secret",
        "client_assertion",
        "code",
        "code_verifier",
        "refresh_token",
        "access_token",
        "token",
        "device_code",
    }
)
KEY = RSAKey.generate_key(2048, parameters={"kid": "client-1"}, private=True)


class JumpingClock:
    """Wall-clock time that moves ten seconds each time it is read: device polls are
    due at once, and nothing expires within a test."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 10.0
        return self.now


# -- the echoing server --------------------------------------------------------------------------


def _lower_escapes(text: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda match: match.group().lower(), text)


ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda raw: raw,
    "form": lambda raw: quote_plus(raw, safe=""),
    "percent-lower": lambda raw: _lower_escapes(quote(raw, safe="")),
    "json": lambda raw: json.dumps(raw),
    "base64": lambda raw: base64.b64encode(raw.encode()).decode(),
    "base64url": lambda raw: base64.urlsafe_b64encode(raw.encode()).decode(),
}


def request_text(request: Any) -> str:
    """The request as a buggy server echoes it: request line, headers, body."""
    head = "\n".join(f"{name}: {value}" for name, value in request.headers.items())
    body = request.content.decode("utf-8", "replace")
    return f"{request.method} {request.url}\n{head}\n\n{body}"


class Echo:
    """A MockTransport handler answering every request with an error that echoes it.

    ``first`` is the encoding that comes first (after ``pad`` characters) in the
    description; the others follow. ``html`` answers an HTML page with the echo instead
    (``raise ... from None`` used to keep its decoder error, and the body with it).
    ``ok`` maps URLs to good answers (the device authorization before a poll)."""

    def __init__(self, module: ModuleType, *, first: str = "raw", pad: int = 0) -> None:
        self.module = module
        self.first = first
        self.pad = pad
        self.html = False
        self.ok: dict[str, dict[str, Any]] = {}
        self.seen: list[Any] = []

    async def __call__(self, request: Any) -> Any:
        self.seen.append(request)
        url = str(request.url)
        if url in self.ok:
            return self.module.Response(200, json=self.ok[url])
        raw = request_text(request)
        if self.html:
            return self.module.Response(502, html=f"<html><body><pre>{raw}</pre></body></html>")
        order = [self.first] + [name for name in ENCODINGS if name != self.first]
        echoed = " | ".join(ENCODINGS[name](raw) for name in order)
        description = "x" * self.pad + echoed
        if request.headers.get("content-type", "").startswith("application/json"):
            # Teamwork's shape: {"status": "error", "message": ...}
            return self.module.Response(400, json={"status": "error", "message": description})
        answer = {
            "error": f"invalid_request {raw[:300]}",
            "error_description": description,
            "error_uri": "https://as.example/why?request=" + quote(raw, safe=""),
        }
        return self.module.Response(400, json=answer)

    def secrets(self) -> set[str]:
        """Every secret the requests carried, read off them as a server would."""
        found: set[str] = set()
        for request in self.seen:
            pairs = parse_qsl(urlsplit(str(request.url)).query)
            body = request.content.decode("utf-8", "replace")
            try:
                payload = json.loads(body)
            except ValueError:
                pairs += parse_qsl(body)
            else:
                pairs += list(payload.items()) if isinstance(payload, dict) else []
            found |= {v for k, v in pairs if k in SECRET_FIELDS and isinstance(v, str)}
            scheme, _, credential = request.headers.get("authorization", "").partition(" ")
            if credential:
                found.add(credential)
            if scheme.lower() == "basic":
                pair = base64.b64decode(credential).decode()
                found |= {pair, pair.partition(":")[2], unquote_plus(pair.partition(":")[2])}
        return found


# -- the flows that send a secret ----------------------------------------------------------------

Flow = Callable[[Any, Echo], Awaitable[Any]]


def _client(http: Any, strategy: anyoauth.Strategy) -> anyoauth.Client:
    return anyoauth.Client(strategy, http=http, clock=JumpingClock(), retries=Waits().policy())


async def _exchange(http: Any, _echo: Echo, **options: Any) -> None:
    client = _client(
        http,
        anyoauth.AuthorizationCode(
            client_id="echo-client",
            authorization_endpoint=AUTHORIZE,
            token_endpoint=TOKEN,
            redirect_uri=REDIRECT,
            **options,
        ),
    )
    await _land(client)


async def _land(client: anyoauth.Client) -> None:
    start = await client.begin()
    code = "SENTINEL-code-" + start.state[:16]
    await client.complete(f"{REDIRECT}?code={code}&state={start.state}")


async def _direct(http: Any, _echo: Echo, **options: Any) -> None:
    client = _client(
        http, anyoauth.ClientCredentials(client_id="echo-service", token_endpoint=TOKEN, **options)
    )
    await client.token()


def _confidential(**options: Any) -> anyoauth.Strategy:
    return anyoauth.Strategy(
        client_id="echo-client",
        client_secret=BASIC_SECRET,
        token_endpoint=TOKEN,
        revocation_endpoint=REVOKE,
        introspection_endpoint=INTROSPECT,
        **options,
    )


async def _refresh(http: Any, _echo: Echo) -> None:
    client = _client(http, _confidential())
    await client.set_token(STORED)
    await client.token()


async def _revoke(http: Any, _echo: Echo) -> None:
    client = _client(http, _confidential())
    await client.set_token(STORED)
    await client.revoke()


async def _introspect(http: Any, _echo: Echo) -> None:
    await _client(http, _confidential()).introspect(INTROSPECTED)


def _device(**options: Any) -> anyoauth.DeviceCode:
    return anyoauth.DeviceCode(
        client_id="echo-tv",
        token_endpoint=TOKEN,
        device_authorization_endpoint=DEVICE,
        **options,
    )


async def _device_authorization(http: Any, _echo: Echo) -> None:
    client = _client(http, _device(client_secret=BASIC_SECRET))
    await client.device_login(lambda authorization: None)


async def _device_poll(http: Any, echo: Echo) -> None:
    echo.ok[DEVICE] = {
        "device_code": DEVICE_CODE,
        "user_code": "WDJB-MJHT",
        "verification_uri": "https://as.example/verify",
        "expires_in": 1800,
        "interval": 1,
    }
    client = _client(http, _device(client_auth="none"))
    await client.device_login(lambda authorization: None)


async def _keycloak(http: Any, _echo: Echo) -> None:
    await _client(http, BankOfGeorgia("bog-client", KEYCLOAK_SECRET, token_url=TOKEN)).token()


async def _teamwork(http: Any, _echo: Echo) -> None:
    teamwork = Teamwork("tw-app", TEAMWORK_SECRET, REDIRECT, login_url=AUTHORIZE, token_url=TOKEN)
    await _land(_client(http, teamwork))


FLOWS: dict[str, Flow] = {
    "code exchange, client_secret_basic": lambda h, e: _exchange(h, e, client_secret=BASIC_SECRET),
    "code exchange, raw Basic": lambda h, e: _exchange(
        h, e, client_secret=RAW_SECRET, basic_form_encoded=False
    ),
    "code exchange, client_secret_post": lambda h, e: _exchange(
        h, e, client_secret=POST_SECRET, client_auth="client_secret_post"
    ),
    "code exchange, client_secret_jwt": lambda h, e: _exchange(
        h, e, client_secret=HMAC_SECRET, client_auth="client_secret_jwt"
    ),
    "code exchange, private_key_jwt": lambda h, e: _exchange(
        h, e, client_key=KEY, client_auth="private_key_jwt"
    ),
    "code exchange, public client": lambda h, e: _exchange(h, e, client_auth="none"),
    "refresh": _refresh,
    "client credentials, client_secret_basic": lambda h, e: _direct(
        h, e, client_secret=BASIC_SECRET
    ),
    "client credentials, client_secret_post": lambda h, e: _direct(
        h, e, client_secret=POST_SECRET, client_auth="client_secret_post"
    ),
    "client credentials, private_key_jwt": lambda h, e: _direct(
        h, e, client_key=KEY, client_auth="private_key_jwt"
    ),
    "Keycloak client credentials": _keycloak,
    "Teamwork JSON exchange": _teamwork,
    "device authorization": _device_authorization,
    "device poll": _device_poll,
    "revocation": _revoke,
    "introspection": _introspect,
}


# -- what an error may show -------------------------------------------------------------------


def rendered_with_locals(error: BaseException) -> str:
    """The traceback with every frame's locals, the tests' own frames left out."""
    rendered = traceback.TracebackException.from_exception(error, capture_locals=True)
    pending, seen = [rendered], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        kept = [frame for frame in current.stack if not frame.filename.startswith(TESTS)]
        current.stack = traceback.StackSummary.from_list(kept)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return "".join(rendered.format())


def shown(error: BaseException) -> dict[str, str]:
    """Each text the error shows, by where it shows it."""
    texts = {"str": str(error), "repr": repr(error), "args": repr(error.args)}
    texts |= {f".{name}": repr(value) for name, value in vars(error).items()}
    texts["traceback"] = rendered_with_locals(error)
    return texts


def assert_shows_no_secret(error: BaseException, secrets: Iterable[str]) -> None:
    wanted = secret_pieces(secrets)
    for where, text in shown(error).items():
        for piece, secret in wanted.items():
            assert piece not in text, f"{where} shows {piece!r} of {secret!r}:\n{text}"
    assert find_secrets(error, secrets) == []


async def run_flow(flow: Flow, echo: Echo, module: ModuleType) -> BaseException:
    async with module.AsyncClient(transport=module.MockTransport(echo)) as http:
        with anyio.fail_after(20), pytest.raises(anyoauth.OAuthError) as caught:
            await flow(http, echo)
    return caught.value


# -- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "pad"),
    list(zip(ENCODINGS, [0, 397, 41, 480, 250, 123], strict=True)),
    ids=list(ENCODINGS),
)
async def test_an_echoed_request_shows_no_secret_in_any_flow(
    http_module: ModuleType, first: str, pad: int
) -> None:
    redacted = 0
    for name, flow in FLOWS.items():
        echo = Echo(http_module, first=first, pad=pad)
        error = await run_flow(flow, echo, http_module)
        secrets = echo.secrets() | set(PLANTED)
        sent = request_text(echo.seen[-1])
        assert any(secret in sent for secret in secrets), name  # the echo carries secrets
        assert isinstance(error, anyoauth.TokenRequestError), (name, error)
        # The provider's words are kept, with the secrets taken out.
        assert error.error_description, name
        if name != "Teamwork JSON exchange":  # what is no secret is still shown
            assert error.error.startswith("invalid_request POST https://as.example/"), name
        redacted += "<redacted>" in f"{error.error} {error.error_description} {error.error_uri}"
        if name != "Teamwork JSON exchange":  # Teamwork's errors have no error_uri
            assert error.error_uri is not None
            assert error.error_uri.startswith("https://as.example/why?request=")
        assert len(error.error_description or "") <= 501
        try:
            assert_shows_no_secret(error, secrets)
        except AssertionError as failure:
            raise AssertionError(f"{name}: {failure}") from None
    assert redacted >= len(FLOWS) // 2


async def test_an_echoing_html_page_leaves_no_secret_reachable(http_module: ModuleType) -> None:
    """The page's body is the decoder error's ``doc``: it must not be the error's
    context, hidden or not."""
    for name, flow in FLOWS.items():
        echo = Echo(http_module)
        echo.html = True
        error = await run_flow(flow, echo, http_module)
        assert isinstance(
            error, (anyoauth.InvalidTokenResponse, anyoauth.TokenEndpointUnavailable)
        ), (name, error)
        try:
            assert_shows_no_secret(error, echo.secrets() | set(PLANTED))
        except AssertionError as failure:
            raise AssertionError(f"{name}: {failure}") from None


async def test_a_re_signed_client_assertion_is_redacted_too(http_module: ModuleType) -> None:
    """A retry sends a freshly signed assertion the flow never saw; its echo is still
    redacted (it is shaped like a JSON Web Token)."""
    echo = Echo(http_module)
    answers = itertools.chain([503], itertools.repeat(400))
    handler = echo.__call__

    async def busy_then_echo(request: Any) -> Any:
        if next(answers) == 503:
            echo.seen.append(request)
            return http_module.Response(503, json={"error": "temporarily_unavailable"})
        return await handler(request)

    async with http_module.AsyncClient(transport=http_module.MockTransport(busy_then_echo)) as h:
        client = _client(
            h,
            anyoauth.ClientCredentials(
                client_id="echo-service",
                token_endpoint=TOKEN,
                client_key=KEY,
                client_auth="private_key_jwt",
            ),
        )
        with pytest.raises(anyoauth.TokenRequestError) as caught:
            await client.token()
    assertions = {dict(parse_qsl(r.content.decode()))["client_assertion"] for r in echo.seen}
    assert len(assertions) == 2
    assert_shows_no_secret(caught.value, echo.secrets())


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_no_fault_leaves_a_secret_reachable_from_its_error(
    http_module: ModuleType, case: Case
) -> None:
    endpoint = Endpoint(http_module, case.name)
    errors: list[BaseException] = []
    async with http_module.AsyncClient(transport=http_module.MockTransport(endpoint)) as http:
        client = anyoauth.Client(
            strategy("https://as.example/token"),
            http=http,
            clock=ManualClock(),
            timeout=case.timeout,
            retries=Waits().policy(),
        )
        await client.set_token(ORIGINAL)
        with anyio.fail_after(case.timeout + 10), pytest.raises(case.error) as refreshing:
            await client.token()
        errors.append(refreshing.value)
        start = await client.begin()
        code = "SENTINEL-code-" + start.state[:12]
        with anyio.fail_after(case.timeout + 10), pytest.raises(anyoauth.OAuthError) as exchanging:
            await client.complete(f"{REDIRECT}?code={code}&state={start.state}")
        errors.append(exchanging.value)
    secrets = {SECRET, code, ORIGINAL.access_token, str(ORIGINAL.refresh_token)}
    secrets |= {str(FRESH["access_token"]), str(FRESH["refresh_token"])}
    for request in endpoint.requests:
        secrets |= {v for k, v in parse_qsl(request.content.decode()) if k in SECRET_FIELDS}
    for error in errors:
        assert_shows_no_secret(error, secrets)


def _unreadable_answers() -> Iterable[tuple[str, Callable[[], object]]]:
    from anyoauth import DeviceAuthorization
    from anyoauth.sansio import parse_token_response
    from anyoauth.stores import load_pending, load_token

    page = f"<html>refresh_token={STORED.refresh_token}</html>".encode()
    token = f'{{"access_token": "{STORED.access_token}", "expires_in": "soon"}}'.encode()
    yield "HTML token answer", lambda: parse_token_response(502, "text/html", page, received_at=0)
    yield "bad expires_in", lambda: parse_token_response(200, None, token, received_at=0)
    yield (
        "HTML device answer",
        lambda: DeviceAuthorization.from_response(502, None, page, received_at=0),
    )
    yield (
        "device answer without user_code",
        lambda: DeviceAuthorization.from_response(
            200, None, f'{{"device_code": "{DEVICE_CODE}"}}'.encode(), received_at=0
        ),
    )
    yield "stored token cut short", lambda: load_token(token[:-5])
    yield "stored pending flow cut short", lambda: load_pending(page)


@pytest.mark.parametrize(
    "read", [read for _, read in _unreadable_answers()], ids=[n for n, _ in _unreadable_answers()]
)
def test_an_unreadable_answer_keeps_no_decoder_error(read: Callable[[], object]) -> None:
    """The error about an answer or stored data that cannot be read has no context: the
    decoder's error (whose ``doc`` is the whole text) is not kept, hidden or not."""
    with pytest.raises(anyoauth.OAuthError) as caught:
        read()
    error = caught.value
    assert error.__context__ is None
    error.__traceback__ = None  # the frames of a direct call are the caller's to drop
    assert find_secrets(error, [*PLANTED]) == []


# -- redaction before the clip -------------------------------------------------------------------


class _Sent:
    def __init__(self, *secrets: str) -> None:
        self.secrets = frozenset(secrets)


@pytest.mark.parametrize("at", range(470, 510, 3))
def test_a_secret_astride_the_clip_is_redacted_whole(at: int) -> None:
    from support.internals import redacting

    jwt = "eyJhbGciOiJSUzI1NiJ9." + "eyJpc3MiOiJhIn0" * 20 + ".c2lnbmF0dXJl" * 10
    secret = "SENTINEL-refresh-token-" + "0123456789" * 5
    for value in (jwt, secret):
        with redacting(_Sent(value)):
            error = ProviderError("invalid_grant", "y" * at + value + " trailing words")
        assert error.error_description is not None
        assert error.error_description.startswith("y" * min(at, 400))
        for piece in (value[:8], value[-8:], value[len(value) // 2 : len(value) // 2 + 8]):
            assert piece not in str(error), (at, piece)


@pytest.mark.parametrize("at", range(470, 510, 3))
def test_a_clip_never_shows_part_of_an_unknown_token(at: int) -> None:
    """Even a token no request carried (the clip cannot know it) is never shown cut off."""
    token = "opaque" + "Zx9_" * 40
    error = ProviderError("server_error", "word " * (at // 5) + token + " more text " * 30)
    assert error.error_description is not None
    assert error.error_description.endswith("…")
    assert token[:10] not in error.error_description or token in error.error_description


# -- the detector ---------------------------------------------------------------------------------


def test_the_walk_finds_a_body_kept_by_raise_from_none() -> None:
    """``raise ... from None`` hides the decoder error but keeps it: the walk finds the
    echoed secret in its ``doc``."""
    body = f"<html>grant_type=refresh_token&refresh_token={STORED.refresh_token}</html>"
    try:
        try:
            json.loads(body)
        except ValueError:
            raise anyoauth.InvalidTokenResponse("HTML body", status_code=502) from None
    except anyoauth.InvalidTokenResponse as error:
        findings = find_secrets(error, [str(STORED.refresh_token)])
    assert any(".__context__" in finding and ".doc" in finding for finding in findings)


def test_the_walk_finds_secrets_in_frames_notes_and_attributes() -> None:
    secret = "SENTINEL-planted-secret-4f5e6d7c"
    try:
        json.loads("{" + secret)  # the decoder's frames hold the text as a local
    except json.JSONDecodeError as exc:
        exc.doc = ""  # only the frames are left to hold it
        exc.pos = 0
        exc.add_note("no secret here")
        in_frames = find_secrets(exc, [secret])
    assert any("@decoder.py]" in finding for finding in in_frames)
    noted = anyoauth.StoreError("unreadable")
    noted.add_note(f"while reading {secret}")
    assert find_secrets(noted, [secret])
    nested = anyoauth.StoreError("unreadable")
    nested.detail = {"values": [("key", base64.b64encode(secret.encode()).decode())]}  # type: ignore[attr-defined]
    assert find_secrets(nested, [secret])
    half = anyoauth.StoreError(f"cut at {secret[:16]}")
    assert find_secrets(half, [secret])


async def test_without_the_scrub_the_walk_finds_the_code_in_a_frame(
    http_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``_scrub`` (which clears the frames an error leaves through) turned off, the
    walk finds the code in the locals of anyoauth's frames."""
    stop_scrubbing(monkeypatch)
    echo = Echo(http_module)
    error = await run_flow(FLOWS["code exchange, public client"], echo, http_module)
    code = next(v for k, v in parse_qsl(echo.seen[0].content.decode()) if k == "code")
    assert any("@" in finding for finding in find_secrets(error, [code]))
