"""Implicit flows: the token comes back in the redirect (:class:`Implicit`), or on a
provider's own special page an embedded browser lands on (:class:`ImplicitDesktop`)."""

from __future__ import annotations

from typing import ClassVar

import attrs

from ..errors import AuthorizationDenied, ConfigurationError
from ..redirect import Redirect, ResponseLocation, lands_on
from ..urls import split_configured
from .base import Strategy, UserStep, not_empty, require

__all__ = ["Implicit", "ImplicitDesktop"]


@attrs.frozen(kw_only=True)
class Implicit(Strategy):
    """The implicit grant (RFC 6749 4.2): the token comes back in the redirect's fragment.

    RFC 9700 advises against it; it is here for providers that still offer nothing
    else. There is no refresh: the user logs in again when the token expires.
    ``redirect_uri`` may be left out for :meth:`Client.login` with a loopback agent,
    as for :class:`AuthorizationCode`.
    """

    name: ClassVar[str] = "implicit"

    response_type: str = "token"
    response_location: ResponseLocation = ResponseLocation.FRAGMENT

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        require(self, "authorization_endpoint")
        if self.response_type != "token":
            raise ConfigurationError("the implicit flow uses response_type=token")


@attrs.frozen(kw_only=True)
class ImplicitDesktop(Strategy):
    """Implicit flow for an embedded browser, ending on the provider's special URLs.

    The provider never redirects to the app: it sends the browser to
    :attr:`success_url` with the token in the fragment, or to :attr:`failure_url`
    with ``status``/``message`` (or ``error``/``error_description``). The app
    watches the browser's URL and hands the matching URL to ``complete()``.
    """

    name: ClassVar[str] = "implicit-desktop"

    response_type: str = "token"
    response_location: ResponseLocation = ResponseLocation.FRAGMENT
    success_url: str = attrs.field(validator=not_empty)
    """The special URL the browser lands on when the user allows access."""
    failure_url: str | None = None
    """The special URL the browser lands on when the user declines."""
    scope_separator: str = ","
    """Joins scopes in the ``scope`` parameter."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for name in ("success_url", "failure_url"):
            url = getattr(self, name)
            if url is not None:
                split_configured(name, url)

    @property
    def user_step(self) -> UserStep:
        """LANDING_PAGE: the browser ends on the provider's special URLs, never the app's."""
        return UserStep.LANDING_PAGE

    def scope_param(self) -> str:
        """Scopes joined with :attr:`scope_separator`."""
        return self.scope_separator.join(self.scope)

    def redirect_endpoints(self) -> tuple[str, ...]:
        """The success URL and, if set, the failure URL."""
        return (self.success_url,) + ((self.failure_url,) if self.failure_url else ())

    def authorization_error(self, redirect: Redirect) -> AuthorizationDenied | None:
        """``error=...``, or the failure URL's ``status=unauthorized&message=...``."""
        denial = super().authorization_error(redirect)
        if denial is not None:
            return denial
        status = redirect.get("status")
        if status is not None and redirect.get("access_token") is None:
            return AuthorizationDenied(status or "unauthorized", redirect.get("message"))
        return None

    def read_redirect(self, url: str) -> Redirect:
        """Read a special URL; the failure URL always counts as a denial."""
        redirect, parts = self._landed(url)
        if (
            self.failure_url is not None
            and lands_on(parts, self.failure_url)
            and self.authorization_error(redirect) is None
        ):
            return Redirect({**redirect.params, "error": "access_denied"})
        return redirect
