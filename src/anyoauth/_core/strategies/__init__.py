"""Strategies: one small object per kind of flow, sans-IO.

:mod:`.base` holds :class:`Strategy` (a standard OAuth 2.0 client with every hook a
flow may override) and :class:`UserStep`; each family of flows has its module:
:mod:`.code` (authorization code, JSON code exchange), :mod:`.implicit` (implicit,
implicit desktop), :mod:`.direct` (client credentials), :mod:`.device` (the device
grant), :mod:`.ciba` (OpenID CIBA) and :mod:`.extension` (token exchange, the JWT
bearer grant). A new flow is a
new subclass in a module of its own (or in a plugin).
"""

from __future__ import annotations

from .base import Strategy as Strategy
from .base import UserStep as UserStep
from .ciba import Ciba as Ciba
from .code import AuthorizationCode as AuthorizationCode
from .code import CodeJsonExchange as CodeJsonExchange
from .device import DeviceCode as DeviceCode
from .direct import ClientCredentials as ClientCredentials
from .extension import ExtensionGrant as ExtensionGrant
from .extension import JwtBearer as JwtBearer
from .extension import TokenExchange as TokenExchange
from .implicit import Implicit as Implicit
from .implicit import ImplicitDesktop as ImplicitDesktop

__all__ = [
    "AuthorizationCode",
    "Ciba",
    "ClientCredentials",
    "CodeJsonExchange",
    "DeviceCode",
    "ExtensionGrant",
    "Implicit",
    "ImplicitDesktop",
    "JwtBearer",
    "Strategy",
    "TokenExchange",
    "UserStep",
]
