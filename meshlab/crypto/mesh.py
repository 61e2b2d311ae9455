"""What a signature scheme and a KEM cost a beacon: a cost profile mapped onto beacon params.

:func:`beacon_crypto_params` turns a :class:`~meshlab.crypto.profiles.CostProfile` and a
scheme into the beacon model's crypto parameters (``beacon_bytes``, ``verify_mean_s``,
``verify_sigma`` for a lognormal verification time, ``handshake_s``);
:func:`apply_beacon_crypto` writes them into a beacon params pytree. The beacon payload
size is the wire format's (:data:`meshlab.crypto.wire.BEACON_PAYLOAD_BYTES`, 58 B), the
same constant the beacon model's default size is built from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

from meshlab.core.validation import check_choice, check_int
from meshlab.crypto._catalog import names_of_kind
from meshlab.crypto.profiles import CostProfile
from meshlab.crypto.schemes import kind
from meshlab.crypto.wire import BEACON_PAYLOAD_BYTES

__all__ = ["CARRY_MODES", "BeaconCryptoParams", "apply_beacon_crypto", "beacon_crypto_params"]


class BeaconCryptoParams(NamedTuple):
    """What a signature scheme (+ KEM) costs a beacon, in the beacon model's units.

    The first four fields are the beacon model's crypto parameters (what
    :func:`apply_beacon_crypto` writes); the rest is context for reports.

    Attributes:
        beacon_bytes: bytes on the wire per beacon (payload + signature [+ key/cert]).
        verify_mean_s: mean receiver verification time, seconds (lognormal mean).
        verify_sigma: lognormal log-sd of the verification time.
        handshake_s: KEM handshake time added when a link comes (back) up, seconds.
        sign_mean_s: mean signing time (sender CPU per beacon), seconds.
        handshake_bytes: bytes exchanged by one handshake.
        profile: the profile's name (which numbers produced this).
        service_dist: the beacon model's ``service_dist`` these parameters are fitted for
            (``"lognormal"``): set it in the beacon config.
    """

    beacon_bytes: float
    verify_mean_s: float
    verify_sigma: float
    handshake_s: float
    sign_mean_s: float
    handshake_bytes: float
    profile: str
    service_dist: str = "lognormal"


CARRY_MODES = ("none", "public_key", "certificate")
"""What a beacon carries besides payload and signature."""


def beacon_crypto_params(
    profile: CostProfile,
    signature: str,
    kem: str = "ML-KEM-768",
    *,
    payload_bytes: int = BEACON_PAYLOAD_BYTES,
    carry: str = "none",
    certificate_bytes: int | None = None,
    authenticated_handshake: bool = True,
) -> BeaconCryptoParams:
    """Maps a cost profile and a scheme onto the beacon model's crypto parameters.

    - ``beacon_bytes = payload + signature`` (+ the signer's public key if
      ``carry="public_key"``, + an X.509-SVID of ``certificate_bytes`` if
      ``carry="certificate"``).
    - ``verify_mean_s``, ``verify_sigma``: lognormal fitted to the profile's verify median
      and p90 (``sigma = ln(p90/p50)/1.2816``, ``mean = median*exp(sigma**2/2)``); use the
      result's ``service_dist`` (``"lognormal"``) in the beacon config.
    - ``handshake_s``: one KEM handshake on the critical path, keygen + encaps + decaps
      (means), plus, if ``authenticated_handshake``, each side signing its handshake
      message and the other verifying it (2 x (sign + verify)).

    Args:
        profile: where the numbers come from.
        signature: beacon signature scheme, e.g. ``"ML-DSA-44"`` or ``"Ed25519"``.
        kem: link-establishment KEM, e.g. ``"ML-KEM-768"`` or ``"X25519"``.
        payload_bytes: signed beacon payload, bytes; default the wire format's 58
            (:data:`meshlab.crypto.wire.BEACON_PAYLOAD_BYTES`).
        carry: one of :data:`CARRY_MODES`.
        certificate_bytes: certificate size, required when ``carry="certificate"``, e.g.
            ``meshlab.identity.x509.svid_certificate_bytes(profile.sizes(signature))``.
        authenticated_handshake: add the handshake's signatures (see above).

    Returns:
        A :class:`BeaconCryptoParams`.
    """
    if not isinstance(profile, CostProfile):
        raise TypeError(f"profile must be a CostProfile, got {type(profile).__name__}")
    if kind(signature) != "signature":
        raise ValueError(
            f"signature={signature!r} is not a signature scheme; valid: "
            f"{names_of_kind('signature')}"
        )
    if kind(kem) != "kem":
        raise ValueError(f"kem={kem!r} is not a KEM; valid: {names_of_kind('kem')}")
    check_choice("carry", carry, CARRY_MODES)
    payload_bytes = check_int("payload_bytes", payload_bytes, low=0)
    sig_sizes = profile.sizes(signature)
    kem_sizes = profile.sizes(kem)
    extra = 0
    if carry == "public_key":
        extra = sig_sizes.public_key
    elif carry == "certificate":
        if certificate_bytes is None:
            raise ValueError(
                "certificate_bytes is required with carry='certificate'; e.g. "
                "meshlab.identity.x509.svid_certificate_bytes(profile.sizes(signature))"
            )
        extra = check_int("certificate_bytes", certificate_bytes, low=1)
    verify_mean_s, verify_sigma = profile.latency(signature, "verify").lognormal()
    sign_mean_s = profile.latency(signature, "sign").lognormal()[0]
    hs = sum(profile.latency(kem, op).lognormal()[0] for op in ("keygen", "encaps", "decaps"))
    hs_bytes = kem_sizes.public_key + kem_sizes.ciphertext
    if authenticated_handshake:
        hs += 2 * (sign_mean_s + verify_mean_s)
        hs_bytes += 2 * sig_sizes.signature
    return BeaconCryptoParams(
        beacon_bytes=float(payload_bytes + sig_sizes.signature + extra),
        verify_mean_s=float(verify_mean_s),
        verify_sigma=float(verify_sigma),
        handshake_s=float(hs),
        sign_mean_s=float(sign_mean_s),
        handshake_bytes=float(hs_bytes),
        profile=profile.name,
    )


_MESH_FIELDS = ("beacon_bytes", "verify_mean_s", "verify_sigma", "handshake_s")


def apply_beacon_crypto(params: Any, crypto: BeaconCryptoParams) -> Any:
    """Returns the beacon model's params with the four crypto fields replaced.

    Works for a NamedTuple / dataclass params pytree (``_replace`` /
    ``dataclasses.replace``) or a mapping. Values keep each field's dtype when the field
    is an array (float32 in the beacon model).
    """
    values = {f: getattr(crypto, f) for f in _MESH_FIELDS}

    def cast(old: Any, new: float) -> Any:
        dtype = getattr(old, "dtype", None)
        if dtype is None:
            return new
        import jax.numpy as jnp

        return jnp.full(jnp.shape(old), new, dtype=dtype)

    if isinstance(params, Mapping):
        missing = [f for f in _MESH_FIELDS if f not in params]
        if missing:
            raise ValueError(f"params lacks the beacon crypto fields {missing}")
        return {**params, **{k: cast(params[k], v) for k, v in values.items()}}
    missing = [f for f in _MESH_FIELDS if not hasattr(params, f)]
    if missing:
        raise ValueError(
            f"params ({type(params).__name__}) lacks the beacon crypto fields {missing}"
        )
    new = {k: cast(getattr(params, k), v) for k, v in values.items()}
    if hasattr(params, "_replace"):
        return params._replace(**new)
    if dataclasses.is_dataclass(params):
        return dataclasses.replace(params, **new)
    raise TypeError(
        f"params must be a NamedTuple, dataclass or mapping, got {type(params).__name__}"
    )
