"""What every emulated provider builds on: the request and response values, the answers
(JSON, HTML pages, redirects, OAuth errors), time, the tables of issued tokens, the
consent desk where the user allows or denies, and the base class of a provider.

Nothing here knows a provider. A provider module (``_geni``, ``_teamwork``,
``_keycloak``, ``_oauth_server``) subclasses :class:`EmulatedProvider` and names the
paths it owns as :class:`Route` values; the router (``_router``) sends each request to
the route that owns its path. Nothing here does IO, and time is only read through an
injected clock.
"""

from __future__ import annotations

import base64
import contextvars
import html
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, NoReturn, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode

import attrs

__all__ = [
    "MAX_BODY_BYTES",
    "NO_STORE",
    "PAGE_HEADERS",
    "PEER_CERTIFICATE",
    "PERSON",
    "TICKET_TTL",
    "ClaimsHost",
    "Clock",
    "ConsentDesk",
    "Decide",
    "EmulatedProvider",
    "EmulatorResponse",
    "Grant",
    "Handler",
    "ManualClock",
    "Reject",
    "Request",
    "Route",
    "Ticket",
    "TokenTable",
    "b64url",
    "extra_claims",
    "fail",
    "json_payload",
    "json_response",
    "media_type",
    "new_uuid",
    "oauth_error",
    "optional",
    "page",
    "query_params",
    "redirect",
    "require_bearer",
    "with_fragment",
    "with_payload",
    "with_query",
    "without_iss",
]

MAX_BODY_BYTES = 1024 * 1024
"""Request bodies larger than this are refused with HTTP 413."""
TICKET_TTL = 10 * 60
"""How long a consent page's ticket waits for the user's decision, in seconds."""
NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
"""The headers that keep an answer out of caches."""
PAGE_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    *NO_STORE,
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
"""The headers of every HTML page the emulator shows."""
PERSON = {"id": 1, "firstName": "Test", "lastName": "User", "email": "test.user@example.com"}
"""The one emulated user, as Teamwork spells it (the generic server's userinfo reuses it)."""

PEER_CERTIFICATE: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "anyoauth_testing_peer_certificate", default=None
)
"""The DER certificate the client presented on the TLS connection being answered
(mutual TLS), set by the loopback server around each ``handle`` call; ``None`` on plain
connections and in-process."""

Clock = Callable[[], float]
"""The source of the current time, in seconds since the epoch."""


class ManualClock:
    """A clock for tests: it stands still until :meth:`advance` moves it.

    Pass it as ``ProviderEmulator(clock=clock)`` (and to your own code) to expire
    codes and tokens without waiting.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        """The current time, in seconds since the epoch."""

    def __call__(self) -> float:
        """Return the current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self.now += seconds

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now!r})"


# -- requests and answers -------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EmulatorResponse:
    """What :meth:`ProviderEmulator.handle` answers. Its repr shows no headers or body."""

    status: int
    """The HTTP status code."""
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    """Response headers in order."""
    body: bytes = attrs.field(default=b"", repr=False)
    """The response body."""

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or ``None``."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode()

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class Reject(Exception):
    """Raised by a handler to answer with :attr:`response` at once; the router catches it."""

    def __init__(self, response: EmulatorResponse) -> None:
        super().__init__(response.status)
        self.response = response
        """The answer to send."""


def fail(response: EmulatorResponse) -> NoReturn:
    """Stop handling the request and answer with ``response``."""
    raise Reject(response)


@attrs.frozen
class Request:
    """One HTTP request as a provider sees it: header names lower-cased, the query parsed,
    and ``base`` the origin generated URLs use."""

    method: str
    """The method, upper-cased."""
    path: str
    """The path, still percent-encoded."""
    query: Mapping[str, str]
    """The query parameters (none repeated)."""
    headers: Mapping[str, str]
    """The headers, by lower-cased name."""
    body: bytes
    """The body."""
    base: str
    """The origin (scheme, host, port) of generated URLs."""
    repeated: frozenset[str] = frozenset()
    """The lower-cased names of the headers sent more than once (``headers`` keeps the
    last value of each)."""
    client_certificate: bytes | None = attrs.field(default=None, repr=False)
    """The DER certificate the client presented on the TLS connection (mutual TLS,
    verified by the server's TLS context), or ``None``."""

    def form(self) -> dict[str, str]:
        """The body as an HTML form; answers 415 or 400 when it is not one."""
        if media_type(self.headers) != "application/x-www-form-urlencoded":
            fail(page(415, "Unsupported form", "Forms must be form-encoded."))
        return query_params(self.body.decode("utf-8", "replace"))


MULTI_VALUED = frozenset({"resource", "audience"})
"""Parameters that may repeat (RFC 8707 ``resource``, ``audience``): their values are
joined by a space into one (such values contain none)."""


def query_params(query: str) -> dict[str, str]:
    """The parameters of a query string or form; answers 400 when one other than those
    of :data:`MULTI_VALUED` is repeated."""
    pairs = parse_qsl(query, keep_blank_values=True)
    names = [name for name, _ in pairs if name not in MULTI_VALUED]
    if len(names) != len(set(names)):
        fail(page(400, "Bad request", "A parameter was sent more than once."))
    params: dict[str, str] = {}
    for name, value in pairs:
        held = params.get(name)
        params[name] = value if held is None else f"{held} {value}"
    return params


def media_type(headers: Mapping[str, str]) -> str:
    """The request's media type, lower-cased, without parameters."""
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def json_response(status: int, payload: object, *extra: tuple[str, str]) -> EmulatorResponse:
    """A JSON answer that caches do not keep, with ``extra`` headers."""
    headers = (("Content-Type", "application/json"), *NO_STORE, *extra)
    return EmulatorResponse(status=status, headers=headers, body=json.dumps(payload).encode())


def oauth_error(
    status: int, error: str, description: str, *extra: tuple[str, str]
) -> EmulatorResponse:
    """An OAuth error answer (RFC 6749 section 5.2), with ``extra`` headers."""
    return json_response(status, {"error": error, "error_description": description}, *extra)


def page(
    status: int, title: str, message: str, body: str = "", lang: str = "en"
) -> EmulatorResponse:
    """An HTML page; ``title``, ``message`` and ``lang`` are escaped, ``body`` is markup."""
    text = (
        f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p>{html.escape(message)}</p>\n{body}</body>\n</html>\n"
    )
    return EmulatorResponse(status=status, headers=PAGE_HEADERS, body=text.encode())


def redirect(location: str) -> EmulatorResponse:
    """A 302 redirect to ``location`` that sends no Referer and is not cached."""
    headers = (("Location", location), *NO_STORE, ("Referrer-Policy", "no-referrer"))
    return EmulatorResponse(status=302, headers=headers)


def with_query(uri: str, params: Iterable[tuple[str, str]]) -> str:
    """``uri`` without its fragment, with ``params`` added to its query."""
    head, _, _ = uri.partition("#")
    return f"{head}{'&' if '?' in head else '?'}{urlencode(list(params))}"


def with_fragment(uri: str, params: Iterable[tuple[str, str]]) -> str:
    """``uri`` with ``params`` as its fragment (replacing any)."""
    return f"{uri.partition('#')[0]}#{urlencode(list(params))}"


def optional(params: Mapping[str, str], *names: str) -> list[tuple[str, str]]:
    """The pairs of ``names`` that ``params`` has with a non-empty value, in that order."""
    return [(name, params[name]) for name in names if params.get(name)]


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_uuid() -> str:
    """A random UUID (version 4), as text."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


# -- routes ---------------------------------------------------------------------------

Handler = Callable[[Request], EmulatorResponse]
"""What answers a request on one route."""


@attrs.frozen
class Route:
    """One endpoint: the method it answers (``None``: every method, never 405), the name
    :attr:`ProviderEmulator.calls` counts it under, and its handler."""

    method: str | None
    """The one method the endpoint answers; another gets 405. ``None`` answers all."""
    name: str
    """The endpoint's name in ``calls`` (``"teamwork.token"``)."""
    handler: Handler = attrs.field(eq=False)
    """What answers the request."""


# -- issued tokens --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Grant:
    """What an issued access token stands for; providers subclass it to remember more."""

    expires_at: float | None
    """When the token stops working; ``None``: when revoked."""


G = TypeVar("G", bound=Grant)


class TokenTable(Generic[G]):
    """The access tokens one provider issued, each with its :class:`Grant`."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._grants: dict[str, G] = {}

    def __len__(self) -> int:
        return len(self._grants)

    def __repr__(self) -> str:
        return f"<TokenTable tokens={len(self._grants)}>"

    def issue(self, token: str, grant: G) -> str:
        """Remember ``token`` as standing for ``grant``; return it."""
        self._grants[token] = grant
        return token

    def find(self, token: str) -> G | None:
        """The grant of ``token`` if it was issued and not revoked, expired or not."""
        return self._grants.get(token)

    def valid(self, token: str) -> G | None:
        """The grant of ``token`` if it was issued and is neither expired nor revoked."""
        grant = self._grants.get(token)
        if grant is None or (grant.expires_at is not None and grant.expires_at <= self._clock()):
            return None
        return grant

    def grants(self) -> list[G]:
        """Every grant still remembered, expired ones included."""
        return list(self._grants.values())

    def revoke(self, token: str) -> None:
        """Revoke ``token`` (nothing happens if it is unknown)."""
        self._grants.pop(token, None)

    def revoke_where(self, condition: Callable[[G], bool]) -> None:
        """Revoke every token whose grant meets ``condition``."""
        for token in [t for t, grant in self._grants.items() if condition(grant)]:
            del self._grants[token]

    def clear(self) -> None:
        """Revoke every token."""
        self._grants.clear()


def require_bearer(request: Request, tokens: TokenTable[Any]) -> None:
    """Answer 401 ``invalid_token`` unless the request's Bearer token is valid in ``tokens``
    (the provider APIs' check; the generic server has its own, RFC 6750 to the letter)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    grant = tokens.valid(token.strip()) if scheme.lower() == "bearer" else None
    if grant is None:
        challenge = ("WWW-Authenticate", 'Bearer error="invalid_token"')
        fail(oauth_error(401, "invalid_token", "The access token is invalid.", challenge))


# -- consent --------------------------------------------------------------------------


Decide = Callable[[Request, "Ticket", bool], EmulatorResponse]
"""What finishes a request once its user has decided: ``decide(request, ticket, allow)``."""


@attrs.frozen
class Ticket:
    """A consent page shown and not decided yet: who asks, for what, and who decides.

    Only the ticket's random id is in the page; its ``params`` stay here.
    """

    client_id: str
    """The client asking."""
    params: Mapping[str, str]
    """What the provider needs to finish the request once decided."""
    created_at: float
    """When the page was shown."""
    action: str
    """The path the page's form posts to; a decision posted elsewhere is refused."""
    decide: Decide = attrs.field(repr=False, eq=False)
    """Finishes the request: called with the decision request, the ticket and whether
    the user allowed."""


class ConsentDesk:
    """The consent pages every provider shows, the tickets behind them, and the log of
    authorization requests.

    One desk serves every provider of an emulator: each decision path routes to
    :meth:`decision`, which takes the ticket (so a ticket works once, wherever it is
    posted) and hands it to the provider that issued it, if it was posted to that
    provider's path.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tickets: dict[str, Ticket] = {}
        self.requests: list[dict[str, str]] = []
        """Query parameters of every authorization request, in order."""

    def __repr__(self) -> str:
        return f"<ConsentDesk tickets={len(self._tickets)}>"

    def record(self, params: Mapping[str, str]) -> None:
        """Log an authorization request's query parameters."""
        self.requests.append(dict(params))

    def show(
        self,
        *,
        client_id: str,
        params: Mapping[str, str],
        action: str,
        title: str,
        decide: Decide,
        lang: str = "en",
        note: str = "",
    ) -> EmulatorResponse:
        """The consent page: a form posting a fresh ticket and Allow or Don't Allow to
        ``action``; ``decide`` finishes the request once the user has chosen."""
        ticket = Ticket(client_id, params, self._clock(), action, decide)
        self._prune()
        ticket_id = secrets.token_urlsafe(24)
        self._tickets[ticket_id] = ticket
        scope = ticket.params.get("scope", "")
        form = (
            f'<form method="post" action="{html.escape(action)}">\n'
            f'<input type="hidden" name="ticket" value="{ticket_id}">\n'
            + (f"<p>{html.escape(note)}</p>\n" if note else "")
            + (f"<p>Requested access: {html.escape(scope)}</p>\n" if scope else "")
            + '<button type="submit" name="decision" value="allow">Allow</button>\n'
            '<button type="submit" name="decision" value="deny">Don&#x27;t Allow</button>\n'
            "</form>\n"
        )
        message = f"The application {ticket.client_id} asks for access to your account."
        return page(200, title, message, form, lang)

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, t in self._tickets.items() if t.created_at + TICKET_TTL <= now]:
            del self._tickets[key]

    def decision(self, request: Request) -> EmulatorResponse:
        """Answer a consent form's post: take its ticket and let its provider finish."""
        form = request.form()
        decision = form.get("decision")
        if decision not in ("allow", "deny"):
            return page(400, "Bad request", "The decision must be allow or deny.")
        ticket = self._tickets.pop(form.get("ticket", ""), None)
        if ticket is None or ticket.created_at + TICKET_TTL <= self._clock():
            return page(400, "Request expired", "This sign-in request is unknown or expired.")
        if request.path != ticket.action:
            return page(400, "Bad request", "This sign-in request belongs elsewhere.")
        return ticket.decide(request, ticket, decision == "allow")


# -- providers ------------------------------------------------------------------------


class EmulatedProvider(Generic[G]):
    """One emulated authorization server: the paths it owns and the tokens it issued.

    A subclass registers its clients, answers the requests of its :meth:`routes` (and
    of :meth:`route` for paths with variables), shows consent pages on the shared
    ``consent`` desk and issues access tokens into :attr:`tokens`. It reads the time
    only through ``clock``.
    """

    def __init__(self, clock: Clock, consent: ConsentDesk) -> None:
        self.clock = clock
        """The source of the current time."""
        self.consent = consent
        """The consent desk every provider of the emulator shares."""
        self.tokens: TokenTable[G] = TokenTable(clock)
        """The access tokens this provider issued."""

    def routes(self) -> Mapping[str, Route]:
        """The exact paths this provider answers, each with its route."""
        return {}

    def route(self, path: str) -> Route | None:
        """The route for a path not among :meth:`routes` (one with variables in it), or
        ``None`` when the path is not this provider's."""
        return None

    def revoke_all(self) -> None:
        """Revoke every token this provider issued, and every unused code or grant that
        could still be exchanged for one."""
        self.tokens.clear()


# -- reshaping a generic server's answers as a provider's -------------------------------


class ClaimsHost(Protocol):
    """A server whose id_token claims and ``iss``-less clients provider routes set."""

    id_token_claims: dict[str, object]
    silent_clients: set[str]


def json_payload(response: EmulatorResponse) -> dict[str, Any] | None:
    """The JSON object ``response`` carries, or ``None`` (not JSON, not an object)."""
    if not (response.header("content-type") or "").startswith("application/json"):
        return None
    try:
        payload = json.loads(response.body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def with_payload(
    response: EmulatorResponse, payload: Mapping[str, Any], status: int
) -> EmulatorResponse:
    """``response`` with ``status`` and ``payload`` as its JSON body."""
    return attrs.evolve(response, status=status, body=json.dumps(payload).encode())


@contextmanager
def extra_claims(host: ClaimsHost, claims: Mapping[str, object]) -> Iterator[None]:
    """id_tokens issued meanwhile carry ``claims``, under the test's own overrides."""
    saved = host.id_token_claims
    host.id_token_claims = {**claims, **saved}
    try:
        yield
    finally:
        host.id_token_claims = saved


def without_iss(host: ClaimsHost, handler: Handler) -> Handler:
    """An authorize route whose client's authorization responses carry no ``iss``."""

    def answer(request: Request) -> EmulatorResponse:
        client_id = request.query.get("client_id")
        if client_id:
            host.silent_clients.add(client_id)
        return handler(request)

    return answer
