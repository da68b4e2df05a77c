"""The device authorization grant (RFC 8628) as a strategy: :class:`DeviceCode` builds
the device authorization and device token requests and reads the device answer."""

from __future__ import annotations

from typing import ClassVar

import attrs

from ..device import DEVICE_GRANT_TYPE, DeviceAuthorization
from ..http import HttpRequest
from ..urls import check_endpoint
from .base import Strategy, UserStep, require

__all__ = ["DeviceCode"]


@attrs.frozen(kw_only=True)
class DeviceCode(Strategy):
    """The device authorization grant (RFC 8628), for devices without a usable browser.

    Run it with :meth:`Client.device_login`: the user enters the shown code on
    another device while the client polls. Public clients (``client_auth="none"``,
    the default when there is no secret) and confidential ones both work.
    """

    name: ClassVar[str] = "device-code"

    device_authorization_endpoint: str | None = None
    """The device authorization endpoint."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        require(self, "device_authorization_endpoint", "token_endpoint")
        check_endpoint(
            "device_authorization_endpoint",
            self.device_authorization_endpoint,
            self.allow_insecure,
            self.issuer,
        )

    @property
    def user_step(self) -> UserStep:
        """DEVICE: the user approves elsewhere; run it with :meth:`Client.device_login`."""
        return UserStep.DEVICE

    @property
    def requests_nonce(self) -> bool:
        """``False``: the device grant has no authorization request to carry a nonce."""
        return False

    def device_authorization_request(self, *, now: float) -> HttpRequest:
        """The device authorization request (RFC 8628 3.1), with :attr:`resource` and
        :attr:`audience` as an authorization request carries them."""
        params = [("scope", self.scope_param())] if self.scope else []
        params += self._target_params(audience=True)
        params += self.authorization_details_params(self.authorization_details)
        return self.form_request(params, now=now, url=self.device_authorization_endpoint)

    def device_token_request(self, device_code: str, *, now: float) -> HttpRequest:
        """The device access token request (RFC 8628 3.4), with the token resources and
        :attr:`extra_token_params`."""
        return self.form_request(
            [("grant_type", DEVICE_GRANT_TYPE), ("device_code", device_code), *self.grant_params()],
            now=now,
        )

    def read_device_authorization(
        self, status_code: int, content_type: str | None, body: bytes, now: float
    ) -> DeviceAuthorization:
        """Validate the device authorization response."""
        return DeviceAuthorization.from_response(
            status_code, content_type, body, received_at=now, allow_insecure=self.allow_insecure
        )
