"""A client authentication method anyoauth does not ship, as a provider of one's own would
write it: a per-request signature header whose value is a secret."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from anyoauth.sansio import ClientAuthMethod, Credentials

__all__ = ["SignedHeader", "signature"]


def signature(key: str, client_id: str, now: float) -> str:
    """The header value :class:`SignedHeader` sends for ``client_id`` at ``now``."""
    return f"{key}.{client_id}.{now:.0f}"


@attrs.frozen
class SignedHeader(ClientAuthMethod):
    """Sends ``X-Signature`` (made anew for every request) and ``client_id``; declares
    the signature a secret."""

    name: ClassVar[Any] = "provider_signature"
    fresh_per_request: ClassVar[bool] = True

    key: str = attrs.field(repr=False)

    def credentials(
        self, *, client_id: str, issuer: str | None, url: str, now: float
    ) -> Credentials:
        """The signature header and the client id."""
        value = signature(self.key, client_id, now)
        return Credentials(
            headers=(("X-Signature", value),),
            params=(("client_id", client_id),),
            secrets=frozenset({value}),
        )
