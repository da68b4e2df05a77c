"""A server for the command's DPoP tests: the emulator, keeping every DPoP proof it
receives, whose token answers to a request with a proof say ``token_type`` ``DPoP``
(``bind=True``) or ``Bearer`` (``bind=False``), whatever the emulator itself would say;
and :func:`verify_proof`, which checks a proof's signature with the key it names."""

from __future__ import annotations

import base64
import hashlib
import json
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import anyio.from_thread
import attrs
from joserfc import jws
from joserfc.jwk import JWKRegistry

from anyoauth.testing import EmulatorResponse, ProviderEmulator

from .helpers import KC_ID, KC_REALM, KC_SECRET, SVC_ID, SVC_SECRET


class _Verifier(jws.JWSRegistry):
    max_header_length = 4096


@attrs.frozen
class Proof:
    """A DPoP proof a server received, with the request it came with."""

    method: str
    url: str
    value: str


class BindingEmulator(ProviderEmulator):
    """The emulator, keeping the proofs it receives; its token answers to requests with
    a proof have the token type :attr:`bind` says."""

    def __init__(self) -> None:
        super().__init__()
        self.proofs: list[Proof] = []
        self.bind = True

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> EmulatorResponse:
        items = list(headers.items() if isinstance(headers, Mapping) else headers)
        proof = next((value for name, value in items if name.lower() == "dpop"), None)
        if proof is not None:
            self.proofs.append(Proof(method, url, proof))
        answer = super().handle(method, url, items, body)
        if proof is None or answer.status != 200 or not url.split("?")[0].endswith("/token"):
            return answer
        payload = json.loads(answer.body)
        payload["token_type"] = "DPoP" if self.bind else "Bearer"
        return attrs.evolve(answer, body=json.dumps(payload).encode())


def binding_server() -> Iterator[tuple[str, BindingEmulator]]:
    """A :class:`BindingEmulator` serving on loopback from a thread of its own (the
    command runs in-process or in a subprocess meanwhile), with the oauth client
    credentials client and the Keycloak clients of the other tests."""
    emulator = BindingEmulator()
    emulator.add_oauth_client(SVC_ID, client_secret=SVC_SECRET, grant_types=["client_credentials"])
    emulator.add_keycloak_client(KC_ID, KC_SECRET, realm=KC_REALM)
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.serve()) as base,
    ):
        yield base, emulator


def verify_proof(proof: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The proof's header and claims, its signature checked with the key its header
    names, and that key's thumbprint."""
    header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    key = JWKRegistry.import_key(header["jwk"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verified = jws.deserialize_compact(
            proof, key, registry=_Verifier(algorithms=[header["alg"]])
        )
    return header, json.loads(verified.payload), key.thumbprint()


def ath(access_token: str) -> str:
    """The ``ath`` of a proof sent with ``access_token``."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
