"""Signed beacon wire format: layout, and what verification must reject."""

import hashlib
import struct

import pytest

from meshlab import crypto
from meshlab.crypto import wire as bw

SCHEMES = ["Ed25519", "ML-DSA-44", "ML-DSA-65"]


@pytest.fixture(scope="module", params=SCHEMES)
def mesh(request):
    scheme = crypto.signature_scheme(request.param)
    keys = {nid: scheme.keygen() for nid in (1, 2)}
    return scheme, keys


def _beacon(node_id=1, seq=1, ts=1_700_000_000_000_000_000, state=b"state"):
    return bw.Beacon(node_id, seq, ts, bw.state_digest(state))


def test_layout_matches_the_documented_struct():
    b = _beacon(node_id=0xA1B2C3D4, seq=2**40 + 5, ts=-17)
    payload = bw.encode_beacon(b, "ML-DSA-44")
    assert len(payload) == bw.BEACON_PAYLOAD_BYTES == 4 + 1 + 1 + 4 + 8 + 8 + 32
    # Independent parse with the documented offsets.
    assert payload[:4] == b"MLB1" and payload[4] == 1
    assert payload[5] == bw.SCHEME_IDS["ML-DSA-44"]
    assert struct.unpack(">I", payload[6:10])[0] == 0xA1B2C3D4
    assert struct.unpack(">Q", payload[10:18])[0] == 2**40 + 5
    assert struct.unpack(">q", payload[18:26])[0] == -17
    assert payload[26:58] == hashlib.sha256(b"state").digest()


def test_round_trip_and_wire_size(mesh):
    scheme, keys = mesh
    pk, sk = keys[1]
    wire = bw.sign_beacon(scheme, sk, _beacon())
    assert len(wire) == bw.BEACON_PAYLOAD_BYTES + scheme.sizes.signature
    beacon, name, sig = bw.decode_beacon(wire)
    assert beacon == _beacon() and name == scheme.algorithm
    v = bw.BeaconVerifier(scheme, {n: k[0] for n, k in keys.items()})
    assert v.verify(wire) == (True, "ok", _beacon())
    assert v.last_seq == {1: 1}


@pytest.mark.parametrize("offset", [5, 6, 10, 18, 26, 57])
def test_tampered_payload_is_rejected(mesh, offset):
    scheme, keys = mesh
    wire = bytearray(bw.sign_beacon(scheme, keys[1][1], _beacon()))
    wire[offset] ^= 0x01
    v = bw.BeaconVerifier(scheme, {n: k[0] for n, k in keys.items()})
    res = v.verify(bytes(wire))
    assert not res.ok
    # The scheme-id byte turns into another (or an unknown) scheme; any other field
    # change leaves the format valid and must fail the signature (or name node 2/unknown).
    allowed = {"wrong_scheme", "malformed"} if offset == 5 else {"bad_signature", "unknown_node"}
    assert res.reason in allowed
    assert v.last_seq == {}


def test_wrong_key_replay_truncation_unknown_and_stale(mesh):
    scheme, keys = mesh
    pks = {n: k[0] for n, k in keys.items()}
    v = bw.BeaconVerifier(scheme, pks, max_age_ns=5_000_000_000)
    ts = 1_700_000_000_000_000_000
    # Node 2 signs a beacon claiming to be node 1: verified with node 1's key -> rejected.
    forged = bw.sign_beacon(scheme, keys[2][1], _beacon(node_id=1, seq=1, ts=ts))
    assert v.verify(forged, now_ns=ts).reason == "bad_signature"
    good = bw.sign_beacon(scheme, keys[1][1], _beacon(seq=7, ts=ts))
    assert v.verify(good, now_ns=ts).ok
    assert v.verify(good, now_ns=ts).reason == "replay"  # same beacon again
    older = bw.sign_beacon(scheme, keys[1][1], _beacon(seq=6, ts=ts))
    assert v.verify(older, now_ns=ts).reason == "replay"  # old sequence number
    newer = bw.sign_beacon(scheme, keys[1][1], _beacon(seq=8, ts=ts))
    assert v.verify(newer[:-1], now_ns=ts).reason == "truncated"
    assert v.verify(newer[: bw.BEACON_PAYLOAD_BYTES + 10], now_ns=ts).reason == "truncated"
    assert v.verify(newer[:20], now_ns=ts).reason == "truncated"
    assert v.verify(newer + b"\x00", now_ns=ts).reason == "malformed"
    assert v.verify(newer, now_ns=ts + 6_000_000_000).reason == "stale"
    assert v.verify(newer, now_ns=ts).ok  # rejections did not consume seq 8
    stranger = bw.sign_beacon(scheme, keys[1][1], _beacon(node_id=99, seq=1, ts=ts))
    assert v.verify(stranger).reason == "unknown_node"
    assert v.verify(b"XXXX" + newer[4:]).reason == "malformed"
    assert v.last_seq == {1: 8}


def test_wrong_scheme_is_rejected():
    ed = crypto.signature_scheme("Ed25519")
    ml = crypto.signature_scheme("ML-DSA-44")
    pk, sk = ed.keygen()
    wire = bw.sign_beacon(ed, sk, _beacon())
    v = bw.BeaconVerifier(ml, {1: ml.keygen()[0]})
    assert v.verify(wire).reason == "wrong_scheme"


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"node_id=4294967296 is out of range"):
        bw.encode_beacon(_beacon(node_id=2**32), "Ed25519")
    with pytest.raises(ValueError, match=r"seq=-1 is out of range"):
        bw.encode_beacon(_beacon(seq=-1), "Ed25519")
    with pytest.raises(ValueError, match=r"digest must be 32 bytes"):
        bw.encode_beacon(bw.Beacon(1, 1, 0, b"short"), "Ed25519")
    with pytest.raises(ValueError, match=r"scheme='RSA'.*valid"):
        bw.encode_beacon(_beacon(), "RSA")
    with pytest.raises(TypeError, match=r"wire must be bytes"):
        bw.decode_beacon("text")
    with pytest.raises(ValueError, match=r"shorter than the 58-byte payload"):
        bw.decode_beacon(b"MLB1")
    ed = crypto.signature_scheme("Ed25519")
    with pytest.raises(ValueError, match=r"public key of node 1 must be 32 bytes"):
        bw.BeaconVerifier(ed, {1: b"\x00" * 31})
    with pytest.raises(ValueError, match=r"max_age_ns must be a positive int"):
        bw.BeaconVerifier(ed, {}, max_age_ns=0)


def test_wire_is_a_standard_library_leaf():
    import ast
    import sys

    tree = ast.parse(open(bw.__file__).read())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    roots.discard("__future__")
    assert roots and roots <= set(sys.stdlib_module_names), roots


def test_any_signer_with_the_protocol_works():
    # The wire format needs only name, sizes, sign and verify (no import of the schemes).
    import hmac
    from typing import NamedTuple

    class Sizes(NamedTuple):
        public_key: int
        signature: int

    class MacSigner:  # a toy "scheme": HMAC-SHA256 with the key as both halves
        algorithm = "Ed25519"
        sizes = Sizes(32, 32)

        def sign(self, secret_key, message):
            return hmac.new(secret_key, message, "sha256").digest()

        def verify(self, public_key, message, signature):
            return hmac.compare_digest(self.sign(public_key, message), signature)

    signer, key = MacSigner(), b"k" * 32
    assert isinstance(signer, bw.BeaconSigner)
    w = bw.sign_beacon(signer, key, _beacon())
    v = bw.BeaconVerifier(signer, {1: key})
    assert v.verify(w[:-1] + bytes([w[-1] ^ 1])).reason == "bad_signature"
    assert v.verify(w).ok
    with pytest.raises(TypeError, match=r"BeaconSigner"):
        bw.sign_beacon(object(), key, _beacon())
