"""X.509-SVIDs on the host: a CA, minted SVIDs, validation and DER size model.

Real certificates through ``cryptography`` (Ed25519 or ML-DSA keys), for samples and to
measure certificate sizes (:func:`svid_certificate_bytes`).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, NamedTuple

from meshlab.core.validation import check_real
from meshlab.identity.spiffe import SpiffeId, parse_spiffe_id

__all__ = [
    "SvidCa",
    "X509Svid",
    "make_svid_ca",
    "mint_x509_svid",
    "svid_certificate_bytes",
    "validate_x509_svid",
]

_KEY_ALGORITHMS = ("Ed25519", "ML-DSA-44", "ML-DSA-65", "ML-DSA-87")


def _generate_key(algorithm: str) -> Any:
    if algorithm == "Ed25519":
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return ed25519.Ed25519PrivateKey.generate()
    if algorithm in _KEY_ALGORITHMS:
        from cryptography.hazmat.primitives.asymmetric import mldsa

        return getattr(mldsa, f"MLDSA{algorithm[-2:]}PrivateKey").generate()
    raise ValueError(f"key_algorithm={algorithm!r} is not supported; valid: {_KEY_ALGORITHMS}")


class SvidCa(NamedTuple):
    """A trust domain's signing CA: certificate, private key, SPIFFE id, key algorithm."""

    certificate: Any
    private_key: Any
    spiffe_id: SpiffeId
    key_algorithm: str


class X509Svid(NamedTuple):
    """A minted X.509-SVID: DER bytes, parsed certificate, private key, SPIFFE id."""

    der: bytes
    certificate: Any
    private_key: Any
    spiffe_id: SpiffeId


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0)


def make_svid_ca(
    trust_domain: str,
    *,
    key_algorithm: str = "Ed25519",
    ttl_s: float = 86400.0,
    now: _dt.datetime | None = None,
) -> SvidCa:
    """Creates a self-signed SPIFFE signing CA for ``trust_domain``.

    Args:
        trust_domain: e.g. ``"example.org"``.
        key_algorithm: ``"Ed25519"`` or ``"ML-DSA-44/65/87"`` (ML-DSA needs cryptography
            on OpenSSL >= 3.5).
        ttl_s: CA lifetime in seconds (> 0); SVIDs it signs are capped at its not-after.
        now: issuance time (UTC); default now.
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    sid = parse_spiffe_id(f"spiffe://{trust_domain}")
    ttl_s = check_real("ttl_s", ttl_s, low=0.0, low_open=True)
    key = _generate_key(key_algorithm)
    now = now or _now()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "meshlab"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{trust_domain} signing CA"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _dt.timedelta(seconds=float(ttl_s)))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(str(sid))]),
            critical=False,
        )
        .sign(key, None)
    )
    return SvidCa(cert, key, sid, key_algorithm)


def _key_usage(*, ca: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def mint_x509_svid(
    ca: SvidCa,
    spiffe_id: str,
    *,
    ttl_s: float = 3600.0,
    key_algorithm: str | None = None,
    now: _dt.datetime | None = None,
) -> X509Svid:
    """Mints a leaf X.509-SVID signed by ``ca``.

    The leaf has exactly one URI SAN (the SPIFFE id), ``CA:false``, key usage
    ``digitalSignature`` only, EKU server+client auth, and a not-after of
    ``min(now + ttl_s, CA not-after)`` (the CA lifetime cap).

    Raises:
        ValueError: malformed SPIFFE id, an id outside the CA's trust domain, ``ttl_s <=
            0``, or a CA that has already expired at ``now``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import ExtendedKeyUsageOID

    sid = parse_spiffe_id(spiffe_id)
    if sid.trust_domain != ca.spiffe_id.trust_domain:
        raise ValueError(
            f"spiffe_id={spiffe_id!r} is outside the CA's trust domain "
            f"{ca.spiffe_id.trust_domain!r}"
        )
    ttl_s = check_real("ttl_s", ttl_s, low=0.0, low_open=True)
    now = now or _now()
    ca_end = ca.certificate.not_valid_after_utc
    not_after = min(now + _dt.timedelta(seconds=float(ttl_s)), ca_end)
    if not_after <= now:
        raise ValueError(
            f"the CA expired at {ca_end.isoformat()}; cannot issue at {now.isoformat()}"
        )
    key = _generate_key(key_algorithm or ca.key_algorithm)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(str(sid))]), critical=True
        )
        .sign(ca.private_key, None)
    )
    return X509Svid(cert.public_bytes(Encoding.DER), cert, key, sid)


def validate_x509_svid(
    der: bytes, ca_certificate: Any, *, at: _dt.datetime | None = None
) -> SpiffeId:
    """Checks a leaf X.509-SVID against the SPIFFE X509-SVID rules and its CA.

    Rules checked: exactly one URI SAN holding a valid SPIFFE id in the CA's trust domain;
    ``CA:false``; key usage with ``digitalSignature`` and without ``keyCertSign``/
    ``cRLSign``; signature by ``ca_certificate``; not-after within the CA's; and, when
    ``at`` is given, validity at that instant.

    Returns:
        The SVID's SPIFFE id.

    Raises:
        ValueError: naming the rule broken.
    """
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as e:
        raise ValueError(f"X.509-SVID lacks a required extension: {e}") from e
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise ValueError(f"an X.509-SVID must have exactly one URI SAN, found {len(uris)}")
    sid = parse_spiffe_id(uris[0])
    ca_san = ca_certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ca_uris = ca_san.get_values_for_type(x509.UniformResourceIdentifier)
    if ca_uris and parse_spiffe_id(ca_uris[0]).trust_domain != sid.trust_domain:
        raise ValueError(f"SVID trust domain {sid.trust_domain!r} differs from the CA's")
    if bc.ca:
        raise ValueError("a leaf X.509-SVID must have CA:false")
    if not ku.digital_signature or ku.key_cert_sign or ku.crl_sign:
        raise ValueError("a leaf X.509-SVID needs digitalSignature and no keyCertSign/cRLSign")
    try:
        cert.verify_directly_issued_by(ca_certificate)
    except Exception as e:  # InvalidSignature, ValueError, TypeError from cryptography
        raise ValueError(f"the X.509-SVID is not signed by the given CA: {e!r}") from e
    if cert.not_valid_after_utc > ca_certificate.not_valid_after_utc:
        raise ValueError("the X.509-SVID outlives its CA")
    if at is not None and not (cert.not_valid_before_utc <= at <= cert.not_valid_after_utc):
        raise ValueError(f"the X.509-SVID is not valid at {at.isoformat()}")
    return sid


def _der_len(n: int) -> int:
    """Bytes of a DER length field for content length ``n``."""
    return 1 if n < 128 else 1 + (n.bit_length() + 7) // 8


def _der_content(total: int) -> int:
    """Content length of a DER TLV (one-byte tag) of ``total`` bytes."""
    for k in range(1, 6):
        if _der_len(total - 1 - k) == k:
            return total - 1 - k
    raise ValueError(f"not a DER length: {total}")


_ED25519_ALG_ID = 7  # SEQUENCE { OID 1.3.101.112 }
_NIST_ALG_ID = 13  # SEQUENCE { OID 2.16.840.1.101.3.4.3.x } (ML-DSA, SLH-DSA)


def svid_certificate_bytes(
    sizes: Any,
    *,
    algorithm_id_bytes: int | None = None,
    spiffe_id: str = "spiffe://example.org/node/0",
) -> int:
    """Size in bytes of a leaf X.509-SVID for a signature scheme's key and signature sizes.

    Mints a real Ed25519-signed Ed25519 X.509-SVID to get the fixed part (names,
    validity, extensions), then swaps in the scheme's public key, signature and algorithm
    identifiers, including the DER length fields that grow with them. For ML-DSA this
    matches the DER size of a certificate minted by ``cryptography`` to within the
    one-byte variation of random serial numbers (checked in the tests).

    Args:
        sizes: a :class:`meshlab.crypto.schemes.SignatureSizes` (``public_key``, ``signature``).
        algorithm_id_bytes: DER size of the AlgorithmIdentifier; default 7 for Ed25519
            sizes (32-byte key, 64-byte signature), else 13 (NIST OIDs: ML-DSA, SLH-DSA).
        spiffe_id: the SAN to size for.
    """
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pk, sig = int(sizes.public_key), int(sizes.signature)
    if pk <= 0 or sig <= 0:
        raise ValueError(f"sizes must be positive, got public_key={pk}, signature={sig}")
    if algorithm_id_bytes is None:
        algorithm_id_bytes = _ED25519_ALG_ID if (pk, sig) == (32, 64) else _NIST_ALG_ID
    ca = make_svid_ca(parse_spiffe_id(spiffe_id).trust_domain)
    ref = mint_x509_svid(ca, spiffe_id)
    spki_ref = len(
        ref.certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    rest = _der_content(len(ref.certificate.tbs_certificate_bytes)) - spki_ref - _ED25519_ALG_ID

    def tlv(content: int) -> int:
        return 1 + _der_len(content) + content

    def total(pk_len: int, sig_len: int, aid: int) -> int:
        spki = tlv(aid + tlv(pk_len + 1))
        tbs = tlv(rest + aid + spki)
        return tlv(tbs + aid + tlv(sig_len + 1))

    assert total(32, 64, _ED25519_ALG_ID) == len(ref.der), "DER size model out of sync"
    return total(pk, sig, algorithm_id_bytes)
