"""anyoauth: an async, framework-agnostic OAuth 2.0 flow toolkit.

Each flow is a strategy (:mod:`anyoauth.providers` has presets for Geni,
Teamwork, Bank of Georgia and any Keycloak); a sans-IO state machine validates
state, reads redirects and token responses; :class:`Client` drives it with
anyio and httpx (or httpx2). :mod:`anyoauth.testing` emulates the providers.
"""

from ._client import Client as Client
from ._core.ciba import BackchannelAuthorization as BackchannelAuthorization
from ._core.ciba import BackchannelRequest as BackchannelRequest
from ._core.ciba import InvalidNotification as InvalidNotification
from ._core.client_auth import AssertionAudience as AssertionAudience
from ._core.client_auth import ClientAuth as ClientAuth
from ._core.client_auth import ClientAuthMethod as ClientAuthMethod
from ._core.client_auth import ClientSecretBasic as ClientSecretBasic
from ._core.client_auth import ClientSecretJwt as ClientSecretJwt
from ._core.client_auth import ClientSecretPost as ClientSecretPost
from ._core.client_auth import NoClientAuth as NoClientAuth
from ._core.client_auth import PrivateKeyJwt as PrivateKeyJwt
from ._core.client_auth import SelfSignedTlsClientAuth as SelfSignedTlsClientAuth
from ._core.client_auth import TlsClientAuth as TlsClientAuth
from ._core.client_auth import certificate_thumbprint as certificate_thumbprint
from ._core.client_auth import is_certificate_bound as is_certificate_bound
from ._core.device import DeviceAuthorization as DeviceAuthorization
from ._core.dpop import DPoPKey as DPoPKey
from ._core.errors import AgentError as AgentError
from ._core.errors import AuthorizationDenied as AuthorizationDenied
from ._core.errors import ConfigurationError as ConfigurationError
from ._core.errors import DiscoveryError as DiscoveryError
from ._core.errors import FlowError as FlowError
from ._core.errors import FlowExpired as FlowExpired
from ._core.errors import InvalidAuthorizationResponse as InvalidAuthorizationResponse
from ._core.errors import InvalidIdToken as InvalidIdToken
from ._core.errors import InvalidResponse as InvalidResponse
from ._core.errors import InvalidTokenResponse as InvalidTokenResponse
from ._core.errors import InvalidTransition as InvalidTransition
from ._core.errors import IssuerMismatch as IssuerMismatch
from ._core.errors import LoginRequired as LoginRequired
from ._core.errors import MalformedRedirect as MalformedRedirect
from ._core.errors import OAuthError as OAuthError
from ._core.errors import PluginError as PluginError
from ._core.errors import ProviderError as ProviderError
from ._core.errors import RedirectError as RedirectError
from ._core.errors import RedirectMismatch as RedirectMismatch
from ._core.errors import ServerUnavailable as ServerUnavailable
from ._core.errors import StateError as StateError
from ._core.errors import StateMismatch as StateMismatch
from ._core.errors import StateMissing as StateMissing
from ._core.errors import StoreError as StoreError
from ._core.errors import TokenEndpointUnavailable as TokenEndpointUnavailable
from ._core.errors import TokenExpiredOnArrival as TokenExpiredOnArrival
from ._core.errors import TokenRequestError as TokenRequestError
from ._core.http import HttpRequest as HttpRequest
from ._core.introspection import Introspection as Introspection
from ._core.metadata import ServerMetadata as ServerMetadata
from ._core.redirect import ResponseLocation as ResponseLocation
from ._core.strategies import AuthorizationCode as AuthorizationCode
from ._core.strategies import Ciba as Ciba
from ._core.strategies import ClientCredentials as ClientCredentials
from ._core.strategies import CodeJsonExchange as CodeJsonExchange
from ._core.strategies import DeviceCode as DeviceCode
from ._core.strategies import ExtensionGrant as ExtensionGrant
from ._core.strategies import Implicit as Implicit
from ._core.strategies import ImplicitDesktop as ImplicitDesktop
from ._core.strategies import JwtBearer as JwtBearer
from ._core.strategies import Strategy as Strategy
from ._core.strategies import TokenExchange as TokenExchange
from ._core.strategies import UserStep as UserStep
from ._core.token import Token as Token
from ._core.userinfo import InvalidUserinfo as InvalidUserinfo
from ._core.userinfo import UserinfoError as UserinfoError
from ._core.userinfo import UserinfoSubjectMismatch as UserinfoSubjectMismatch
from ._core.values import AuthorizationRequest as AuthorizationRequest
from ._core.values import PendingFlow as PendingFlow
from ._discovery import discover as discover
from ._file_store import FileStore as FileStore
from ._redis_store import RedisStore as RedisStore
from ._retry import RetryPolicy as RetryPolicy
from ._store import MemoryStore as MemoryStore
from ._store import Store as Store
from ._tls import client_tls_context as client_tls_context

__version__ = "0.1.0"

__all__ = [
    "AgentError",
    "AssertionAudience",
    "AuthorizationCode",
    "AuthorizationDenied",
    "AuthorizationRequest",
    "BackchannelAuthorization",
    "BackchannelRequest",
    "Ciba",
    "Client",
    "ClientAuth",
    "ClientAuthMethod",
    "ClientCredentials",
    "ClientSecretBasic",
    "ClientSecretJwt",
    "ClientSecretPost",
    "CodeJsonExchange",
    "ConfigurationError",
    "DPoPKey",
    "DeviceAuthorization",
    "DeviceCode",
    "DiscoveryError",
    "ExtensionGrant",
    "FileStore",
    "FlowError",
    "FlowExpired",
    "HttpRequest",
    "Implicit",
    "ImplicitDesktop",
    "Introspection",
    "InvalidAuthorizationResponse",
    "InvalidIdToken",
    "InvalidNotification",
    "InvalidResponse",
    "InvalidTokenResponse",
    "InvalidTransition",
    "InvalidUserinfo",
    "IssuerMismatch",
    "JwtBearer",
    "LoginRequired",
    "MalformedRedirect",
    "MemoryStore",
    "NoClientAuth",
    "OAuthError",
    "PendingFlow",
    "PluginError",
    "PrivateKeyJwt",
    "ProviderError",
    "RedirectError",
    "RedirectMismatch",
    "RedisStore",
    "ResponseLocation",
    "RetryPolicy",
    "SelfSignedTlsClientAuth",
    "ServerMetadata",
    "ServerUnavailable",
    "StateError",
    "StateMismatch",
    "StateMissing",
    "Store",
    "StoreError",
    "Strategy",
    "TlsClientAuth",
    "Token",
    "TokenEndpointUnavailable",
    "TokenExchange",
    "TokenExpiredOnArrival",
    "TokenRequestError",
    "UserStep",
    "UserinfoError",
    "UserinfoSubjectMismatch",
    "certificate_thumbprint",
    "client_tls_context",
    "discover",
    "is_certificate_bound",
]
