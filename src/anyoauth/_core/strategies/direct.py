"""Grants without a user step: client credentials (:class:`ClientCredentials`), with
the optional implicit authorize step some providers (Bank of Georgia) add."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs

from ..errors import ConfigurationError
from ..http import HttpRequest
from ..parameters import PROTOCOL_PARAMETERS, check_reserved
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
    """Extra form parameters for the token request (sent before
    :attr:`extra_token_params`). Protocol parameters are refused as for
    :attr:`extra_token_params`, except ``resource`` and ``audience``, taken here as
    they always were when the :attr:`resource` and :attr:`audience` settings are
    not used."""
    send_redirect_uri: bool = False
    """Send ``redirect_uri`` with the token request (some providers' docs ask for it)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.token_endpoint is None:
            raise ConfigurationError("a token_endpoint is required")
        params = self.token_params
        if not isinstance(params, Mapping):
            raise ConfigurationError("token_params must be a mapping")
        reserved = PROTOCOL_PARAMETERS - {"resource", "audience"}
        if self.resource or self.token_resource:
            reserved |= {"resource"}
        if self.audience:
            reserved |= {"audience"}
        if self.authorization_details:
            reserved |= {"authorization_details"}
        check_reserved("token_params", params, reserved)
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
        params += self.grant_params(direct=True)
        params += self.authorization_details_params(self.authorization_details)
        return self.form_request(params, now=now)
