"""Signed beacon wire format: what a node really puts on the wire, signed with a real scheme.

Layout (big-endian), :data:`BEACON_PAYLOAD_BYTES` = 58 bytes of signed payload followed by
the scheme's fixed-length signature::

    offset  size  field
         0     4  magic  b"MLB1"
         4     1  format version (1)
         5     1  signature scheme id (see SCHEME_IDS)
         6     4  node id            (uint32)
        10     8  sequence number    (uint64, strictly increasing per node)
        18     8  timestamp          (int64 nanoseconds since the epoch)
        26    32  state digest       (e.g. SHA-256 of the node's state)
        58     *  signature over bytes [0, 58)

The signature covers the magic, version and scheme id too, so a beacon cannot be
re-labelled as another scheme or format. :class:`BeaconVerifier` rejects malformed or
truncated wire bytes, unknown senders, wrong keys, tampered payloads and replays (a
sequence number not above the last accepted one), and optionally stale timestamps; the
mesh simulation stays vectorized and uses the *sizes* and *costs* of this format, while
real signing is applied to samples and tests.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "BEACON_PAYLOAD_BYTES",
    "REJECT_REASONS",
    "SCHEME_IDS",
    "Beacon",
    "BeaconSigner",
    "BeaconVerifier",
    "VerifyResult",
    "decode_beacon",
    "encode_beacon",
    "sign_beacon",
    "state_digest",
]

_MAGIC = b"MLB1"
_VERSION = 1
_HEADER = struct.Struct(">4sBBIQq32s")
BEACON_PAYLOAD_BYTES = _HEADER.size
"""Signed payload bytes per beacon (58): everything but the signature."""

SCHEME_IDS: dict[str, int] = {
    "Ed25519": 1,
    "ML-DSA-44": 2,
    "ML-DSA-65": 3,
    "ML-DSA-87": 4,
    "Falcon-512": 5,
    "Falcon-1024": 6,
    **{
        f"SLH-DSA-{h}-{n}{v}": 7 + i
        for i, (h, n, v) in enumerate(
            (h, n, v) for h in ("SHA2", "SHAKE") for n in (128, 192, 256) for v in "sf"
        )
    },
}
"""Wire id of each signature scheme."""
_SCHEME_NAMES = {v: k for k, v in SCHEME_IDS.items()}

REJECT_REASONS = (
    "malformed",
    "truncated",
    "wrong_scheme",
    "unknown_node",
    "replay",
    "stale",
    "bad_signature",
)
"""Why :meth:`BeaconVerifier.verify` can reject a beacon."""

_U32, _U64, _I64 = 2**32, 2**64, 2**63


@runtime_checkable
class BeaconSigner(Protocol):
    """What the wire format needs from a signature scheme (e.g.
    :class:`meshlab.crypto.schemes.SignatureScheme`): its name, its sizes (``public_key``,
    ``signature`` in bytes) and ``sign`` / ``verify``. This module imports no scheme, so
    the beacon model can import it without the crypto backends.
    """

    algorithm: str
    sizes: NamedTuple

    def sign(self, secret_key: bytes, message: bytes) -> bytes: ...

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...


class Beacon(NamedTuple):
    """The signed fields of a beacon.

    Attributes:
        node_id: sender id, 0 <= id < 2**32.
        seq: sequence number, 0 <= seq < 2**64, strictly increasing per sender.
        timestamp_ns: send time, nanoseconds since the epoch (int64).
        digest: 32-byte state digest (:func:`state_digest`).
    """

    node_id: int
    seq: int
    timestamp_ns: int
    digest: bytes


class VerifyResult(NamedTuple):
    """Outcome of :meth:`BeaconVerifier.verify`: ``reason`` is ``"ok"`` or a reject reason."""

    ok: bool
    reason: str
    beacon: Beacon | None


def state_digest(state: bytes) -> bytes:
    """Returns the 32-byte SHA-256 digest carried in a beacon."""
    if not isinstance(state, bytes | bytearray | memoryview):
        raise TypeError(f"state must be bytes, got {type(state).__name__}")
    return hashlib.sha256(state).digest()


def _int_field(name: str, value: object, lo: int, hi: int) -> int:
    # A wire field's range check (half-open, stdlib only: this module is a leaf).
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not lo <= value < hi:
        raise ValueError(f"{name}={value} is out of range; allowed: {lo} <= {name} < {hi}")
    return value


def encode_beacon(beacon: Beacon, scheme: str) -> bytes:
    """Returns the 58-byte signed payload of ``beacon`` for signature scheme ``scheme``."""
    if scheme not in SCHEME_IDS:
        raise ValueError(f"scheme={scheme!r} has no wire id; valid: {tuple(SCHEME_IDS)}")
    node_id = _int_field("node_id", beacon.node_id, 0, _U32)
    seq = _int_field("seq", beacon.seq, 0, _U64)
    ts = _int_field("timestamp_ns", beacon.timestamp_ns, -_I64, _I64)
    if not isinstance(beacon.digest, bytes) or len(beacon.digest) != 32:
        raise ValueError(f"digest must be 32 bytes, got {beacon.digest!r:.40}")
    return _HEADER.pack(_MAGIC, _VERSION, SCHEME_IDS[scheme], node_id, seq, ts, beacon.digest)


def sign_beacon(scheme: BeaconSigner, secret_key: bytes, beacon: Beacon) -> bytes:
    """Returns the wire bytes: payload followed by ``scheme``'s signature over it."""
    if not isinstance(scheme, BeaconSigner):
        raise TypeError(
            f"scheme must be a signature scheme (BeaconSigner), got {type(scheme).__name__}"
        )
    payload = encode_beacon(beacon, scheme.algorithm)
    return payload + scheme.sign(secret_key, payload)


def decode_beacon(wire: bytes) -> tuple[Beacon, str, bytes]:
    """Parses wire bytes without verifying them.

    Returns:
        ``(beacon, scheme_name, signature)``.

    Raises:
        ValueError: the bytes are shorter than the payload, have a bad magic/version or
            an unknown scheme id.
    """
    if not isinstance(wire, bytes | bytearray | memoryview):
        raise TypeError(f"wire must be bytes, got {type(wire).__name__}")
    wire = bytes(wire)
    if len(wire) < BEACON_PAYLOAD_BYTES:
        raise ValueError(
            f"wire is {len(wire)} bytes, shorter than the {BEACON_PAYLOAD_BYTES}-byte payload"
        )
    magic, version, sid, node_id, seq, ts, digest = _HEADER.unpack_from(wire)
    if magic != _MAGIC or version != _VERSION:
        raise ValueError(
            f"wire has magic {magic!r} version {version}; expected {_MAGIC!r} v{_VERSION}"
        )
    if sid not in _SCHEME_NAMES:
        raise ValueError(f"wire has unknown scheme id {sid}; known: {sorted(_SCHEME_NAMES)}")
    return Beacon(node_id, seq, ts, digest), _SCHEME_NAMES[sid], wire[BEACON_PAYLOAD_BYTES:]


class BeaconVerifier:
    """Verifies beacons from known senders with one scheme and tracks replays.

    Args:
        scheme: the mesh's signature scheme.
        public_keys: sender node id -> public key.
        max_age_ns: if set, beacons whose timestamp differs from ``now_ns`` by more than
            this are rejected as ``"stale"`` (only when ``verify`` gets ``now_ns``).

    Attributes:
        last_seq: node id -> highest accepted sequence number.
    """

    def __init__(
        self,
        scheme: BeaconSigner,
        public_keys: Mapping[int, bytes],
        *,
        max_age_ns: int | None = None,
    ) -> None:
        if not isinstance(scheme, BeaconSigner):
            raise TypeError(
                f"scheme must be a signature scheme (BeaconSigner), got {type(scheme).__name__}"
            )
        for nid, pk in public_keys.items():
            _int_field("node id", nid, 0, _U32)
            if not isinstance(pk, bytes) or len(pk) != scheme.sizes.public_key:
                raise ValueError(
                    f"public key of node {nid} must be {scheme.sizes.public_key} bytes "
                    f"for {scheme.algorithm}"
                )
        if max_age_ns is not None and (not isinstance(max_age_ns, int) or max_age_ns <= 0):
            raise ValueError(f"max_age_ns must be a positive int or None, got {max_age_ns!r}")
        self.scheme = scheme
        self.public_keys = dict(public_keys)
        self.max_age_ns = max_age_ns
        self.last_seq: dict[int, int] = {}

    def verify(self, wire: bytes, now_ns: int | None = None) -> VerifyResult:
        """Checks one beacon; on success records its sequence number.

        Never raises on attacker-controlled bytes (only ``TypeError`` for non-bytes).
        Checks run cheapest first: format, length, scheme, sender, replay, age, signature.
        """
        if not isinstance(wire, bytes | bytearray | memoryview):
            raise TypeError(f"wire must be bytes, got {type(wire).__name__}")
        wire = bytes(wire)
        if len(wire) < BEACON_PAYLOAD_BYTES:
            return VerifyResult(False, "truncated", None)
        try:
            beacon, scheme, sig = decode_beacon(wire)
        except ValueError:
            return VerifyResult(False, "malformed", None)
        if scheme != self.scheme.algorithm:
            return VerifyResult(False, "wrong_scheme", beacon)
        if len(sig) < self.scheme.sizes.signature:
            return VerifyResult(False, "truncated", beacon)
        if len(sig) > self.scheme.sizes.signature:
            return VerifyResult(False, "malformed", beacon)
        pk = self.public_keys.get(beacon.node_id)
        if pk is None:
            return VerifyResult(False, "unknown_node", beacon)
        if beacon.seq <= self.last_seq.get(beacon.node_id, -1):
            return VerifyResult(False, "replay", beacon)
        if (
            self.max_age_ns is not None
            and now_ns is not None
            and abs(now_ns - beacon.timestamp_ns) > self.max_age_ns
        ):
            return VerifyResult(False, "stale", beacon)
        if not self.scheme.verify(pk, wire[:BEACON_PAYLOAD_BYTES], sig):
            return VerifyResult(False, "bad_signature", beacon)
        self.last_seq[beacon.node_id] = beacon.seq
        return VerifyResult(True, "ok", beacon)
