"""Grants without a user step: client credentials (:class:`ClientCredentials`), with
the optional implicit authorize step some providers (Bank of Georgia) add."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs

from ..errors import ConfigurationError
from ..http import HttpRequest
from ..redirect import ResponseLocation
from .base import Strategy, UserStep

__all__ = ["ClientCredentials"]


@attrs.frozen(kw_only=True)
class ClientCredentials(Strategy):
    """Client credentials grant (RFC 6749 4.4), optionally with an implicit authorize step.

    ``token()`` fetches a token with the client's own credentials. When an
    :attr:`authorization_endpoint` and a ``redirect_uri`` are set, ``begin()`` /
    ``complete()`` also run the provider's implicit authorize step, whose token
    comes back in the query or the fragment.
    """

    name: ClassVar[str] = "client-credentials"
    has_direct_grant: ClassVar[bool] = True

    response_type: str = "token"
    response_location: ResponseLocation = ResponseLocation.EITHER
    token_params: Mapping[str, str] = attrs.field(factory=dict)
    """Extra form parameters for the token request."""
    send_redirect_uri: bool = False
    """Send ``redirect_uri`` with the token request (some providers' docs ask for it)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.token_endpoint is None:
            raise ConfigurationError("a token_endpoint is required")
        if self.client_secret is None and self.client_auth in (
            "client_secret_basic",
            "client_secret_post",
        ):
            raise ConfigurationError("a client_secret is required")

    @property
    def user_step(self) -> UserStep:
        """REDIRECT when the implicit authorize step is configured (an authorization
        endpoint and a redirect_uri), else NONE."""
        if self.authorization_endpoint is not None and self.redirect_uri is not None:
            return UserStep.REDIRECT
        return UserStep.NONE

    def direct_token_request(self, *, now: float) -> HttpRequest:
        """``grant_type=client_credentials`` with the client's credentials."""
        params = [("grant_type", "client_credentials")]
        if self.scope:
            params.append(("scope", self.scope_param()))
        if self.send_redirect_uri and self.redirect_uri is not None:
            params.append(("redirect_uri", self.redirect_uri))
        params += list(self.token_params.items())
        params += self.authorization_details_params(self.authorization_details)
        return self.form_request(params, now=now)
