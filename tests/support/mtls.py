"""Certificates for mutual TLS tests (RFC 8705), made with trustme and cryptography.

:class:`Pki` holds one certificate authority (trustme) that issues the emulator's
server certificate and the ``tls_client_auth`` clients' certificates, and makes
self-signed certificates for ``self_signed_tls_client_auth`` clients; it writes each
certificate and key to files (what :func:`anyoauth.client_tls_context` loads) and builds
the emulator's server context, which asks for client certificates without requiring
them and trusts the authority and the self-signed certificates it was given.
"""

from __future__ import annotations

import base64
import datetime
import ssl
from pathlib import Path

import attrs
import trustme

import anyoauth

__all__ = ["ClientCertificate", "Pki"]


@attrs.frozen
class ClientCertificate:
    """A client certificate and its private key, as PEM files."""

    certificate: Path
    """The certificate (PEM)."""
    key: Path = attrs.field(repr=False)
    """Its private key (PEM)."""
    pem: bytes = attrs.field(repr=False)
    """The certificate's PEM text."""
    subject_dn: str
    """Its subject DN, RFC 4514 text."""

    @property
    def der(self) -> bytes:
        """The certificate's DER bytes."""
        return ssl.PEM_cert_to_DER_cert(self.pem.decode())

    @property
    def thumbprint(self) -> str:
        """Its ``x5t#S256``."""
        return anyoauth.certificate_thumbprint(self.pem)

    def jwks(self) -> dict[str, object]:
        """A JWK Set with this certificate as ``x5c`` (a self-signed client's
        registration)."""
        from cryptography import x509
        from joserfc.jwk import ECKey

        public = x509.load_pem_x509_certificate(self.pem).public_key()
        key = ECKey.import_key(public)  # type: ignore[arg-type]
        jwk = dict(key.as_dict(private=False))
        jwk["x5c"] = [base64.b64encode(self.der).decode()]
        return {"keys": [jwk]}


def _subject_dn(pem: bytes) -> str:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem).subject.rfc4514_string()


class Pki:
    """A certificate authority and the files of the certificates it issued, under
    ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = trustme.CA()
        self.ca_file = directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._trusted_self_signed: list[bytes] = []
        self._count = 0

    def _files(self, name: str, cert: bytes, key: bytes) -> ClientCertificate:
        self._count += 1
        certificate = self.directory / f"{name}-{self._count}.pem"
        private = self.directory / f"{name}-{self._count}.key"
        certificate.write_bytes(cert)
        private.write_bytes(key)
        return ClientCertificate(certificate, private, cert, _subject_dn(cert))

    def client(self, name: str) -> ClientCertificate:
        """A client certificate issued by the authority, for ``name`` (its common name
        and DNS subject alternative name)."""
        issued = self.ca.issue_cert(name, common_name=name, organization_name="Example Clients")
        cert = b"".join(blob.bytes() for blob in issued.cert_chain_pems)
        return self._files(name, cert, issued.private_key_pem.bytes())

    def self_signed(self, name: str, *, trusted: bool = True) -> ClientCertificate:
        """A self-signed client certificate (EC P-256) for ``name``; the server context
        trusts it unless ``trusted`` is false."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        if trusted:
            self._trusted_self_signed.append(pem)
        return self._files(name, pem, key_pem)

    def server_context(self, *, tls12: bool = False) -> ssl.SSLContext:
        """The emulator's TLS context: a certificate for 127.0.0.1 and localhost, client
        certificates asked for (not required) and verified against the authority and
        the trusted self-signed certificates. With ``tls12`` it speaks TLS 1.2 at most:
        an untrusted client certificate then fails the handshake itself, where with
        TLS 1.3 the client learns it only when it reads the answer."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if tls12:
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        context.verify_mode = ssl.CERT_OPTIONAL
        self.ca.configure_trust(context)
        for pem in self._trusted_self_signed:
            context.load_verify_locations(cadata=pem.decode())
        return context

    def client_context(self, certificate: ClientCertificate | None) -> ssl.SSLContext:
        """A client context trusting the authority and presenting ``certificate`` (none
        for ``None``)."""
        if certificate is None:
            return ssl.create_default_context(cafile=str(self.ca_file))
        return anyoauth.client_tls_context(
            certificate.certificate, certificate.key, cafile=self.ca_file
        )
