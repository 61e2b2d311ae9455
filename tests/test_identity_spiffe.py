"""SPIFFE ids and X.509-SVIDs minted with `cryptography`."""

import datetime as dt

import pytest
from cryptography import x509

from meshlab import crypto
from meshlab.identity import spiffe
from meshlab.identity import x509 as svid_x509

HAS_MLDSA_X509 = "ML-DSA-44" in crypto.algorithms("cryptography")["signature"]


@pytest.mark.parametrize(
    "sid,td,path",
    [
        ("spiffe://example.org", "example.org", ""),
        ("spiffe://example.org/ns/default/sa/node-1", "example.org", "/ns/default/sa/node-1"),
        ("spiffe://a_b-c.d9/X.y_z-0", "a_b-c.d9", "/X.y_z-0"),
        ("spiffe://" + "a" * 255 + "/p", "a" * 255, "/p"),
    ],
)
def test_valid_spiffe_ids(sid, td, path):
    parsed = spiffe.parse_spiffe_id(sid)
    assert (parsed.trust_domain, parsed.path) == (td, path)
    assert str(parsed) == sid


@pytest.mark.parametrize(
    "sid,why",
    [
        ("example.org/node", "scheme"),
        ("SPIFFE://example.org/node", "scheme"),
        ("https://example.org/node", "scheme"),
        ("spiffe://example.org/node?x=1", "query"),
        ("spiffe://example.org/node#frag", "fragment"),
        ("spiffe://" + "a" * 256 + "/p", "at most 255"),
        ("spiffe:///node", "trust domain is empty"),
        ("spiffe://Example.org/node", "lowercase"),
        ("spiffe://example.org:8443/node", "port"),
        ("spiffe://user@example.org/node", "userinfo"),
        ("spiffe://example.org/", "empty"),
        ("spiffe://example.org//node", "empty"),
        ("spiffe://example.org/a/../b", r"'\.' or '\.\.'"),
        ("spiffe://example.org/a/./b", r"'\.' or '\.\.'"),
        ("spiffe://example.org/n%20de", "letters, digits"),
        ("spiffe://example.org/" + "a" * 2100, "2048"),
    ],
)
def test_malformed_spiffe_ids(sid, why):
    with pytest.raises(ValueError, match=why):
        spiffe.parse_spiffe_id(sid)


def test_spiffe_id_type_error():
    with pytest.raises(TypeError, match="spiffe_id must be a str"):
        spiffe.parse_spiffe_id(b"spiffe://example.org")


@pytest.mark.parametrize(
    "alg",
    ["Ed25519"] + (["ML-DSA-44"] if HAS_MLDSA_X509 else []),
)
def test_minted_svid_follows_the_x509_svid_rules(alg):
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ca = svid_x509.make_svid_ca("example.org", key_algorithm=alg, now=now)
    svid = svid_x509.mint_x509_svid(ca, "spiffe://example.org/node/7", now=now)
    cert = x509.load_der_x509_certificate(svid.der)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://example.org/node/7"
    ]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign and not ku.crl_sign
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(hours=1)
    sid = svid_x509.validate_x509_svid(svid.der, ca.certificate, at=now + dt.timedelta(minutes=59))
    assert str(sid) == "spiffe://example.org/node/7"
    with pytest.raises(ValueError, match="not valid at"):
        svid_x509.validate_x509_svid(svid.der, ca.certificate, at=now + dt.timedelta(minutes=61))
    other = svid_x509.make_svid_ca("example.org", key_algorithm=alg, now=now)
    with pytest.raises(ValueError, match="not signed by the given CA"):
        svid_x509.validate_x509_svid(svid.der, other.certificate)
    # The size model reproduces the real DER size (random serials vary by one byte).
    sizes = crypto.signature_scheme(alg, "cryptography").sizes
    assert abs(svid_x509.svid_certificate_bytes(sizes) - len(svid.der)) <= 2


def test_ca_lifetime_caps_the_svid():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ca = svid_x509.make_svid_ca("example.org", ttl_s=1800, now=now)
    svid = svid_x509.mint_x509_svid(ca, "spiffe://example.org/node/1", ttl_s=3600, now=now)
    assert svid.certificate.not_valid_after_utc == now + dt.timedelta(seconds=1800)
    with pytest.raises(ValueError, match="the CA expired"):
        svid_x509.mint_x509_svid(
            ca, "spiffe://example.org/node/1", now=now + dt.timedelta(seconds=1801)
        )


def test_leaf_with_ca_flag_or_two_uris_is_rejected():
    from cryptography.hazmat.primitives.serialization import Encoding

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ca = svid_x509.make_svid_ca("example.org", now=now)
    leaf = svid_x509.mint_x509_svid(ca, "spiffe://example.org/node/1", now=now).certificate

    def rebuild(extensions):
        b = (
            x509.CertificateBuilder()
            .subject_name(leaf.subject)
            .issuer_name(leaf.issuer)
            .public_key(leaf.public_key())
            .serial_number(leaf.serial_number)
            .not_valid_before(leaf.not_valid_before_utc)
            .not_valid_after(leaf.not_valid_after_utc)
        )
        for ext, critical in extensions:
            b = b.add_extension(ext, critical=critical)
        return b.sign(ca.private_key, None).public_bytes(Encoding.DER)

    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier("spiffe://example.org/a")])
    two = x509.SubjectAlternativeName(
        [
            x509.UniformResourceIdentifier("spiffe://example.org/a"),
            x509.UniformResourceIdentifier("spiffe://example.org/b"),
        ]
    )
    no_ca = x509.BasicConstraints(ca=False, path_length=None)
    with pytest.raises(ValueError, match="exactly one URI SAN"):
        svid_x509.validate_x509_svid(
            rebuild([(no_ca, True), (ku, True), (two, True)]), ca.certificate
        )
    is_ca = x509.BasicConstraints(ca=True, path_length=None)
    with pytest.raises(ValueError, match="CA:false"):
        svid_x509.validate_x509_svid(
            rebuild([(is_ca, True), (ku, True), (san, True)]), ca.certificate
        )


def test_bad_input_errors():
    ca = svid_x509.make_svid_ca("example.org")
    with pytest.raises(ValueError, match="outside the CA's trust domain"):
        svid_x509.mint_x509_svid(ca, "spiffe://other.org/node")
    with pytest.raises(ValueError, match=r"ttl_s must be in \(0, inf\), got 0"):
        svid_x509.mint_x509_svid(ca, "spiffe://example.org/node", ttl_s=0)
    with pytest.raises(ValueError, match=r"ttl_s must be in \(0, inf\), got -1"):
        svid_x509.make_svid_ca("example.org", ttl_s=-1)
    with pytest.raises(TypeError, match=r"ttl_s must be a real number, got '1h'"):
        svid_x509.mint_x509_svid(ca, "spiffe://example.org/node", ttl_s="1h")
    with pytest.raises(ValueError, match=r"key_algorithm='RSA'.*valid"):
        svid_x509.make_svid_ca("example.org", key_algorithm="RSA")
