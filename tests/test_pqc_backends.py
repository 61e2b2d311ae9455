"""meshlab.crypto backends: round trips, standard sizes, tampering, cross-implementation checks,
the never-download guarantee for liboqs, and bad input."""

import os
import subprocess
import sys
import textwrap

import pytest

from meshlab import crypto

# FIPS 203 (ML-KEM) Table 3 and FIPS 204 (ML-DSA) Table 2 sizes in bytes, typed in from
# the standards: (encapsulation key, decapsulation key, ciphertext, shared secret) and
# (public key, private key, signature).
FIPS203 = {
    "ML-KEM-512": (800, 1632, 768, 32),
    "ML-KEM-768": (1184, 2400, 1088, 32),
    "ML-KEM-1024": (1568, 3168, 1568, 32),
}
FIPS204 = {
    "ML-DSA-44": (1312, 2560, 2420),
    "ML-DSA-65": (1952, 4032, 3309),
    "ML-DSA-87": (2592, 4896, 4627),
}
# FIPS 205 Table 2: n -> pk = 2n, sk = 4n; signature bytes per parameter set.
FIPS205_SIG = {
    "128s": 7856,
    "128f": 17088,
    "192s": 16224,
    "192f": 35664,
    "256s": 29792,
    "256f": 49856,
}
# Seed forms (FIPS 203 keygen seed d||z, FIPS 204 keygen seed xi) used by OpenSSL keys.
SEED_BYTES = {"kem": 64, "signature": 32}

BACKENDS = crypto.available_backends()
HAS_LIBOQS = "liboqs" in BACKENDS
NO_LIBOQS = "liboqs shared library not found (set OQS_INSTALL_PATH; `uv sync --extra liboqs`)"
SLOW_SIGNERS = {f"SLH-DSA-{h}-{n}s" for h in ("SHA2", "SHAKE") for n in (128, 192, 256)}
SLOW_SIGNERS.discard("SLH-DSA-SHA2-128s")


def _cases(kind):
    for b in BACKENDS:
        for a in crypto.algorithms(b)[kind]:
            marks = [pytest.mark.slow] if a in SLOW_SIGNERS else []
            yield pytest.param(b, a, marks=marks, id=f"{b}-{a}")


def test_pqcrypto_offers_every_fips_parameter_set():
    listed = crypto.algorithms("pqcrypto")
    assert set(FIPS203) <= set(listed["kem"])
    assert set(FIPS204) <= set(listed["signature"])
    assert "SLH-DSA-SHA2-128f" in listed["signature"]


@pytest.mark.parametrize("backend,algorithm", list(_cases("kem")))
def test_kem_round_trip_and_implicit_rejection(backend, algorithm):
    k = crypto.kem(algorithm, backend)
    pk, sk = k.keygen()
    assert (len(pk), len(sk)) == (k.sizes.public_key, k.sizes.secret_key)
    ct, ss = k.encaps(pk)
    assert len(ct) == k.sizes.ciphertext and len(ss) == k.sizes.shared_secret
    assert k.decaps(sk, ct) == ss
    ct2, ss2 = k.encaps(pk)
    assert ss2 != ss  # fresh randomness per encapsulation
    # ML-KEM / HQC reject implicitly (a pseudo-random secret, never the real one); for
    # X25519 the "ciphertext" is the peer's public key, so a flipped bit is another point.
    tampered = bytes([ct[0] ^ 0x01]) + ct[1:]
    assert k.decaps(sk, tampered) != ss
    _, sk_other = k.keygen()
    assert k.decaps(sk_other, ct) != ss


@pytest.mark.parametrize("backend,algorithm", list(_cases("signature")))
def test_signature_round_trip_and_rejections(backend, algorithm):
    d = crypto.signature_scheme(algorithm, backend)
    pk, sk = d.keygen()
    msg = b"node 7 seq 42 digest"
    sig = d.sign(sk, msg)
    if d.variable_length:  # Falcon: compressed, at most sizes.signature bytes
        assert 0 < len(sig) <= d.sizes.signature
    else:  # ML-DSA, SLH-DSA, Ed25519: exactly one length
        assert len(sig) == d.sizes.signature
    assert d.verify(pk, msg, sig)
    assert d.verify(pk, b"", d.sign(sk, b""))  # empty messages are allowed by the standards
    assert not d.verify(pk, msg + b"!", sig)  # tampered message
    assert not d.verify(pk, msg, bytes([sig[0] ^ 0x80]) + sig[1:])  # tampered signature
    assert not d.verify(pk, msg, sig[:-1])  # truncated signature
    assert not d.verify(pk, msg, sig + b"\x00")  # extended signature
    pk_other, _ = d.keygen()
    assert not d.verify(pk_other, msg, sig)  # wrong key
    if algorithm in ("Falcon-512", "Falcon-1024"):  # no context string: a clear error
        with pytest.raises(ValueError, match="context must be empty"):
            d.sign(sk, msg, context=b"meshlab-beacon")
    elif algorithm not in crypto.CLASSICAL_SIGNATURES:
        ctx_sig = d.sign(sk, msg, context=b"meshlab-beacon")
        assert d.verify(pk, msg, ctx_sig, context=b"meshlab-beacon")
        assert not d.verify(pk, msg, ctx_sig)  # FIPS 204/205 context separates domains


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "cryptography"] or ["pqcrypto"])
def test_sizes_equal_fips_203_204_205(backend):
    for alg, (ek, dk, ct, ss) in FIPS203.items():
        assert tuple(crypto.kem(alg, backend).sizes) == (ek, dk, ct, ss), alg
    for alg, (pk, sk, sig) in FIPS204.items():
        assert tuple(crypto.signature_scheme(alg, backend).sizes) == (pk, sk, sig), alg
    for alg in crypto.algorithms(backend)["signature"]:
        if alg.startswith("SLH-DSA-"):
            n = int(alg[-4:-1]) // 8
            assert tuple(crypto.signature_scheme(alg, backend).sizes) == (
                2 * n,
                4 * n,
                FIPS205_SIG[alg[-4:]],
            ), alg


def test_openssl_sizes_equal_fips_with_seed_secret_keys():
    listed = crypto.algorithms("cryptography")
    for alg in (a for a in FIPS203 if a in listed["kem"]):
        ek, _, ct, ss = FIPS203[alg]
        assert tuple(crypto.kem(alg, "cryptography").sizes) == (ek, SEED_BYTES["kem"], ct, ss)
    for alg in (a for a in FIPS204 if a in listed["signature"]):
        pk, _, sig = FIPS204[alg]
        assert tuple(crypto.signature_scheme(alg, "cryptography").sizes) == (
            pk,
            SEED_BYTES["signature"],
            sig,
        )
    assert tuple(crypto.kem("X25519").sizes) == (32, 32, 32, 32)  # RFC 7748
    assert tuple(crypto.signature_scheme("Ed25519").sizes) == (32, 32, 64)  # RFC 8032


def _cross(backend_a, backend_b, rounds=5):
    """Keys/ciphertexts/signatures made by one implementation are accepted by the other."""
    kems = set(crypto.algorithms(backend_a)["kem"]) & set(crypto.algorithms(backend_b)["kem"])
    sigs = set(crypto.algorithms(backend_a)["signature"]) & set(
        crypto.algorithms(backend_b)["signature"]
    )
    kems &= set(FIPS203)
    sigs &= set(FIPS204)
    assert kems and sigs
    for alg in sorted(kems):
        ka, kb = crypto.kem(alg, backend_a), crypto.kem(alg, backend_b)
        for _ in range(rounds):
            pk, sk = ka.keygen()
            ct, ss = kb.encaps(pk)  # b encapsulates to a's key, a decapsulates
            assert ka.decaps(sk, ct) == ss, alg
            pk, sk = kb.keygen()
            ct, ss = ka.encaps(pk)
            assert kb.decaps(sk, ct) == ss, alg
    for alg in sorted(sigs):
        da, db = crypto.signature_scheme(alg, backend_a), crypto.signature_scheme(alg, backend_b)
        for i in range(rounds):
            msg = f"cross {alg} {i}".encode()
            pk, sk = da.keygen()
            sig = da.sign(sk, msg)
            assert db.verify(pk, msg, sig), alg
            assert not db.verify(pk, msg + b"x", sig), alg
            pk, sk = db.keygen()
            assert da.verify(pk, msg, db.sign(sk, msg, context=b"ctx"), context=b"ctx"), alg


@pytest.mark.skipif(
    not {"pqcrypto", "cryptography"} <= set(BACKENDS)
    or not crypto.algorithms("cryptography")["signature"][1:],
    reason="cryptography's OpenSSL has no ML-KEM/ML-DSA (needs OpenSSL >= 3.5)",
)
def test_cross_implementation_pqcrypto_openssl():
    _cross("pqcrypto", "cryptography")


@pytest.mark.skipif(not HAS_LIBOQS, reason=NO_LIBOQS)
def test_cross_implementation_liboqs_pqcrypto():
    _cross("liboqs", "pqcrypto")


@pytest.mark.skipif(not HAS_LIBOQS, reason=NO_LIBOQS)
def test_liboqs_backend_round_trip_and_sizes():
    for alg, sizes in FIPS203.items():
        k = crypto.kem(alg, "liboqs")
        assert tuple(k.sizes) == sizes
        pk, sk = k.keygen()
        ct, ss = k.encaps(pk)
        assert k.decaps(sk, ct) == ss
    for alg, sizes in FIPS204.items():
        d = crypto.signature_scheme(alg, "liboqs")
        assert tuple(d.sizes) == sizes
        pk, sk = d.keygen()
        assert d.verify(pk, b"m", d.sign(sk, b"m"))
        assert not d.verify(pk, b"n", d.sign(sk, b"m"))
    assert crypto.default_backend() == "liboqs"


_NO_DOWNLOAD_SCRIPT = textwrap.dedent(
    """
    import sys
    from meshlab import crypto
    from meshlab.reporting.provenance import provenance
    assert crypto.liboqs_library_path() is None
    assert "liboqs" not in crypto.available_backends()
    assert crypto.default_backend() == "pqcrypto"
    assert provenance(0)["pqc_backend"].startswith("pqcrypto")
    k = crypto.kem("ML-KEM-512")
    pk, sk = k.keygen(); ct, ss = k.encaps(pk); assert k.decaps(sk, ct) == ss
    try:
        crypto.kem("ML-KEM-512", backend="liboqs")
    except crypto.BackendUnavailableError as e:
        msg = str(e)
        assert "OQS_INSTALL_PATH" in msg and "--extra liboqs" in msg, msg
    else:
        raise AssertionError("asking for liboqs without the library must fail")
    assert "oqs" not in sys.modules
    print("NO-DOWNLOAD-OK")
    """
)


def test_absent_liboqs_never_imports_oqs_nor_downloads(tmp_path):
    # A fake `oqs` package that records any import and refuses to go on: if meshlab ever
    # imported `oqs` here, liboqs-python would start its git-clone-and-build.
    fake = tmp_path / "fake" / "oqs"
    fake.mkdir(parents=True)
    marker = tmp_path / "oqs-was-imported"
    (fake / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n"
        "raise SystemExit('meshlab imported oqs although liboqs is absent')\n"
    )
    empty = tmp_path / "empty-oqs-install"
    empty.mkdir()
    env = {
        **os.environ,
        "OQS_INSTALL_PATH": str(empty),
        "PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")]),
        "JAX_PLATFORMS": "cpu",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _NO_DOWNLOAD_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NO-DOWNLOAD-OK" in proc.stdout
    assert not marker.exists()
    # The fake module is importable in that environment, so the guard (not luck) kept it out.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util; print(importlib.util.find_spec('oqs').origin)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert str(fake) in probe.stdout


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"algorithm='ML-KEM-999'.*valid:.*ML-KEM-768"):
        crypto.kem("ML-KEM-999")
    with pytest.raises(ValueError, match=r"algorithm='ML-DSA-44' is not a known kem"):
        crypto.kem("ML-DSA-44")
    with pytest.raises(ValueError, match=r"algorithm='Dilithium2'.*ML-DSA-44"):
        crypto.signature_scheme("Dilithium2")
    with pytest.raises(ValueError, match=r"backend='openssl'.*valid"):
        crypto.kem("ML-KEM-768", backend="openssl")
    with pytest.raises(ValueError, match=r"not offered by backend='cryptography'"):
        crypto.signature_scheme("SLH-DSA-SHA2-128f", backend="cryptography")
    if not HAS_LIBOQS:
        with pytest.raises(crypto.BackendUnavailableError, match="liboqs"):
            crypto.signature_scheme("ML-DSA-44", backend="liboqs")
    k = crypto.kem("ML-KEM-512")
    pk, sk = k.keygen()
    with pytest.raises(ValueError, match=r"public_key must be 800 bytes, got 799"):
        k.encaps(pk[:-1])
    with pytest.raises(ValueError, match=r"ciphertext must be 768 bytes, got 10"):
        k.decaps(sk, b"\x00" * 10)
    with pytest.raises(TypeError, match=r"public_key must be bytes, got str"):
        k.encaps("not bytes")
    d = crypto.signature_scheme("ML-DSA-44")
    pk, sk = d.keygen()
    with pytest.raises(ValueError, match=r"context must be at most 255 bytes.*got 256"):
        d.sign(sk, b"m", context=b"c" * 256)
    with pytest.raises(TypeError, match=r"message must be bytes, got int"):
        d.sign(sk, 5)
    with pytest.raises(ValueError, match=r"secret_key must be 2560 bytes"):
        d.sign(sk[:100], b"m")
    e = crypto.signature_scheme("Ed25519")
    epk, esk = e.keygen()
    with pytest.raises(ValueError, match=r"context must be empty for Ed25519"):
        e.sign(esk, b"m", context=b"x")
