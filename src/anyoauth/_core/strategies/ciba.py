"""OpenID Connect Client-Initiated Backchannel Authentication (CIBA Core 1.0) as a
strategy: :class:`Ciba` builds the backchannel authentication and CIBA token requests.

Both go through :meth:`Strategy.form_request`, so client authentication (CIBA needs a
confidential client), DPoP proofs and mutual-TLS aliases apply as to every token
request. The polling rules (interval, ``slow_down``, expiry, lost polls, pings) are the
machine's, shared with the device grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import attrs

from ..ciba import CIBA_GRANT_TYPE, BackchannelRequest
from ..errors import ConfigurationError
from ..http import HttpRequest
from ..urls import check_endpoint
from .base import Strategy, UserStep, require

if TYPE_CHECKING:
    from ..metadata import ServerMetadata

__all__ = ["Ciba"]

_MODES = ("poll", "ping")


def _mode(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value == "push":
        raise ConfigurationError(
            "CIBA push mode is not supported (FAPI-CIBA forbids it: the token would be "
            "pushed to an endpoint anyone can post to); use 'poll' or 'ping'"
        )
    if value not in _MODES:
        raise ConfigurationError("delivery_mode must be 'poll' or 'ping'")


def _with_secrets(request: HttpRequest, hidden: frozenset[str]) -> HttpRequest:
    """``request`` (and every rebuild of it for a retry) knowing ``hidden`` as secrets."""
    rebuild = request.rebuild
    again = None if rebuild is None else (lambda at: _with_secrets(rebuild(at), hidden))
    return attrs.evolve(request, extra_secrets=request.extra_secrets | hidden, rebuild=again)


@attrs.frozen(kw_only=True)
class Ciba(Strategy):
    """OpenID Connect Client-Initiated Backchannel Authentication (CIBA Core 1.0), the
    decoupled login banks use: the client names the user (a login hint), the user
    approves on their own authentication device (a banking app), and the client gets
    the tokens.

    Run it with :meth:`Client.backchannel_login`. In ``poll`` mode the client polls the
    token endpoint at the server's interval; in ``ping`` mode the server POSTs to the
    client's registered notification endpoint, whose handler passes the request to
    :meth:`Client.receive_ping`, and the client asks for the token at once (it also
    polls at the interval, should a ping be lost). ``push`` mode is refused.

    The scope must ask for ``openid``; the id_token is validated (issuer and
    ``jwks_uri`` set: :meth:`from_metadata` sets them) without a nonce, which CIBA does
    not have. With :attr:`sign_request_object`, the authentication request's parameters
    go in a signed request object (CIBA Core 7.1.1) made by the same signer as JAR's.
    """

    name: ClassVar[str] = "ciba"

    backchannel_authentication_endpoint: str | None = None
    """The backchannel authentication endpoint."""
    delivery_mode: Literal["poll", "ping"] = attrs.field(default="poll", validator=_mode)
    """``poll`` (the default) or ``ping`` (the client has a notification endpoint
    registered with the server)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        require(self, "backchannel_authentication_endpoint", "token_endpoint")
        check_endpoint(
            "backchannel_authentication_endpoint",
            self.backchannel_authentication_endpoint,
            self.allow_insecure,
            self.issuer,
        )
        if "openid" not in self.scope:
            raise ConfigurationError("a CIBA request's scope must include openid")
        if self.authentication.name == "none":
            raise ConfigurationError(
                "CIBA clients are confidential: give a client_secret, a key or a certificate"
            )

    @property
    def user_step(self) -> UserStep:
        """DECOUPLED: the user approves on their own device; run it with
        :meth:`Client.backchannel_login`."""
        return UserStep.DECOUPLED

    @property
    def requests_nonce(self) -> bool:
        """``False``: CIBA has no nonce."""
        return False

    @property
    def token_delivery_mode(self) -> Literal["poll", "ping"]:
        """:attr:`delivery_mode`."""
        return self.delivery_mode

    def backchannel_authentication_request(
        self,
        request: BackchannelRequest,
        *,
        client_notification_token: str | None,
        now: float,
    ) -> HttpRequest:
        """The backchannel authentication request (CIBA Core 7.1): the scope, the
        user's hint and options, and, in ping mode, ``client_notification_token``;
        signed in a request object with :attr:`sign_request_object`."""
        if not isinstance(request, BackchannelRequest):
            raise ConfigurationError("request must be a BackchannelRequest")
        if (client_notification_token is None) == (self.delivery_mode == "ping"):
            raise ConfigurationError(
                "a client_notification_token goes with ping mode, and only with it"
            )
        params = [("scope", self.scope_param()), *request.params()]
        if client_notification_token is not None:
            params.append(("client_notification_token", client_notification_token))
        url = self.backchannel_authentication_endpoint
        if self._request_signer is None:
            built = self.form_request(params, now=now, url=url)
        else:

            def build(at: float) -> HttpRequest:
                signed = [("request", self.request_object(params, at))]
                return attrs.evolve(self.form_request(signed, now=at, url=url), rebuild=build)

            built = build(now)
        hidden = (*request.secrets(), *filter(None, [client_notification_token]))
        return _with_secrets(built, frozenset(hidden))

    def backchannel_token_request(self, auth_req_id: str, *, now: float) -> HttpRequest:
        """The CIBA token request (CIBA Core 10.1): ``grant_type`` and ``auth_req_id``."""
        built = self.form_request(
            [("grant_type", CIBA_GRANT_TYPE), ("auth_req_id", auth_req_id)], now=now
        )
        return _with_secrets(built, frozenset({auth_req_id}))

    @classmethod
    def from_metadata(cls, metadata: ServerMetadata, **kwargs: Any) -> Self:
        """As :meth:`Strategy.from_metadata`, with the backchannel authentication
        endpoint (its mutual-TLS alias when the aliases are used). A
        ``delivery_mode`` the server does not list in
        ``backchannel_token_delivery_modes_supported`` is refused
        (:class:`ConfigurationError`), as is a server without a backchannel
        authentication endpoint."""
        endpoint = metadata.endpoint("backchannel_authentication_endpoint")
        if endpoint is None and "backchannel_authentication_endpoint" not in kwargs:
            raise ConfigurationError("the server has no backchannel_authentication_endpoint")
        modes = metadata.raw.get("backchannel_token_delivery_modes_supported")
        mode = kwargs.get("delivery_mode", "poll")
        if isinstance(modes, list) and modes and mode not in modes:
            listed = ", ".join(str(m) for m in modes if isinstance(m, str))
            raise ConfigurationError(
                f"the server does not list the CIBA {mode} mode (it supports {listed})"
            )
        values: dict[str, Any] = {"backchannel_authentication_endpoint": endpoint}
        if "scope" not in kwargs:
            values["scope"] = ("openid",)
        values.update(kwargs)
        return super().from_metadata(metadata, **values)
