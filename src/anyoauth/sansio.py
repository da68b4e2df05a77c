"""The sans-IO core, for those who drive flows themselves.

Everything here is pure: no socket, no clock, no task. A :class:`Flow` is fed URLs,
times and response bytes and hands back :class:`HttpRequest` values to send and
:class:`~anyoauth.Token` values; :data:`TRANSITIONS` is its whole rule book. The
async driver, :class:`anyoauth.Client`, is one user of these names; another driver
(a sync one, another event loop, a test) can use them the same way.
"""

from __future__ import annotations

from ._core.ciba import CIBA_GRANT_TYPE as CIBA_GRANT_TYPE
from ._core.ciba import check_ping as check_ping
from ._core.client_auth import ASSERTION_TYPE as ASSERTION_TYPE
from ._core.client_auth import ClientAuthMethod as ClientAuthMethod
from ._core.client_auth import Credentials as Credentials
from ._core.client_auth import basic_credentials as basic_credentials
from ._core.device import DeviceAuthorization as DeviceAuthorization
from ._core.dpop import DPOP_ALGORITHMS as DPOP_ALGORITHMS
from ._core.http import SECRET_PARAMETERS as SECRET_PARAMETERS
from ._core.http import HttpRequest as HttpRequest
from ._core.introspection import Introspection as Introspection
from ._core.jarm import JWT_RESPONSE_MODES as JWT_RESPONSE_MODES
from ._core.jarm import RESPONSE_MODES as RESPONSE_MODES
from ._core.jarm import unverified_response_state as unverified_response_state
from ._core.jarm import validate_authorization_response as validate_authorization_response
from ._core.machine import TERMINAL_STATES as TERMINAL_STATES
from ._core.machine import TRANSITIONS as TRANSITIONS
from ._core.machine import Event as Event
from ._core.machine import Flow as Flow
from ._core.machine import State as State
from ._core.machine import new_code_verifier as new_code_verifier
from ._core.machine import new_state_parameter as new_state_parameter
from ._core.machine import s256_challenge as s256_challenge
from ._core.machine import state_diagram as state_diagram
from ._core.metadata import ENDPOINT_FIELDS as ENDPOINT_FIELDS
from ._core.metadata import ServerMetadata as ServerMetadata
from ._core.metadata import metadata_urls as metadata_urls
from ._core.par import PushedAuthorization as PushedAuthorization
from ._core.parameters import PROTOCOL_PARAMETERS as PROTOCOL_PARAMETERS
from ._core.profiles import FAPI2_ALGORITHMS as FAPI2_ALGORITHMS
from ._core.profiles import FAPI2_RULES as FAPI2_RULES
from ._core.profiles import ProfileRule as ProfileRule
from ._core.redirect import MAX_URL_LENGTH as MAX_URL_LENGTH
from ._core.redirect import Redirect as Redirect
from ._core.redirect import ResponseLocation as ResponseLocation
from ._core.revocation import check_revocation_response as check_revocation_response
from ._core.strategies import UserStep as UserStep
from ._core.strategies.extension import ACCESS_TOKEN_TYPE as ACCESS_TOKEN_TYPE
from ._core.strategies.extension import ID_TOKEN_TYPE as ID_TOKEN_TYPE
from ._core.strategies.extension import JWT_BEARER_GRANT as JWT_BEARER_GRANT
from ._core.strategies.extension import JWT_TOKEN_TYPE as JWT_TOKEN_TYPE
from ._core.strategies.extension import NOT_AN_ACCESS_TOKEN as NOT_AN_ACCESS_TOKEN
from ._core.strategies.extension import REFRESH_TOKEN_TYPE as REFRESH_TOKEN_TYPE
from ._core.strategies.extension import SAML1_TOKEN_TYPE as SAML1_TOKEN_TYPE
from ._core.strategies.extension import SAML2_TOKEN_TYPE as SAML2_TOKEN_TYPE
from ._core.strategies.extension import TOKEN_EXCHANGE_GRANT as TOKEN_EXCHANGE_GRANT
from ._core.token import MAX_RENEWAL_PAUSE as MAX_RENEWAL_PAUSE
from ._core.token import RenewalPace as RenewalPace
from ._core.token import Token as Token
from ._core.token import parse_token_response as parse_token_response
from ._core.urls import form_encode as form_encode
from ._core.urls import is_loopback_host as is_loopback_host
from ._core.values import AuthorizationRequest as AuthorizationRequest
from ._core.values import KeysNeeded as KeysNeeded
from ._core.values import PendingFlow as PendingFlow
from ._core.values import PushNeeded as PushNeeded
from ._core.values import RefreshRefused as RefreshRefused
from ._core.values import pending_key as pending_key

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ASSERTION_TYPE",
    "CIBA_GRANT_TYPE",
    "DPOP_ALGORITHMS",
    "ENDPOINT_FIELDS",
    "FAPI2_ALGORITHMS",
    "FAPI2_RULES",
    "ID_TOKEN_TYPE",
    "JWT_BEARER_GRANT",
    "JWT_RESPONSE_MODES",
    "JWT_TOKEN_TYPE",
    "MAX_RENEWAL_PAUSE",
    "MAX_URL_LENGTH",
    "NOT_AN_ACCESS_TOKEN",
    "PROTOCOL_PARAMETERS",
    "REFRESH_TOKEN_TYPE",
    "RESPONSE_MODES",
    "SAML1_TOKEN_TYPE",
    "SAML2_TOKEN_TYPE",
    "SECRET_PARAMETERS",
    "TERMINAL_STATES",
    "TOKEN_EXCHANGE_GRANT",
    "TRANSITIONS",
    "AuthorizationRequest",
    "ClientAuthMethod",
    "Credentials",
    "DeviceAuthorization",
    "Event",
    "Flow",
    "HttpRequest",
    "Introspection",
    "KeysNeeded",
    "PendingFlow",
    "ProfileRule",
    "PushNeeded",
    "PushedAuthorization",
    "Redirect",
    "RefreshRefused",
    "RenewalPace",
    "ResponseLocation",
    "ServerMetadata",
    "State",
    "Token",
    "UserStep",
    "basic_credentials",
    "check_ping",
    "check_revocation_response",
    "form_encode",
    "is_loopback_host",
    "metadata_urls",
    "new_code_verifier",
    "new_state_parameter",
    "parse_token_response",
    "pending_key",
    "s256_challenge",
    "state_diagram",
    "unverified_response_state",
    "validate_authorization_response",
]
