"""PQC you can trust: Wycheproof conformance, interoperability, FIPS sizes, implicit
rejection, liboqs specifics (Falcon lengths, HQC names, object reuse, cached discovery),
bad input, and SLA verdicts that background load cannot flip."""

import subprocess
import sys
import threading

import polars as pl
import pytest

from meshlab import crypto
from meshlab.crypto import audit, backend_liboqs, conformance, sla

BACKENDS = crypto.available_backends()
HAS_LIBOQS = "liboqs" in BACKENDS
NO_LIBOQS = "liboqs shared library not found (tools/build_liboqs.sh; OQS_INSTALL_PATH)"

# Genuine findings in a backend (not meshlab's wrapper): (family, backend) -> failing tcIds.
# pqcrypto 1.0.0 refuses ML-DSA contexts of 254 and 255 bytes (FIPS 204 allows up to 255),
# so Wycheproof's "longest context" valid signature (tcId 4) does not verify there.
KNOWN_FINDINGS = {("mldsa_verify", "pqcrypto"): {4}}


@pytest.fixture(scope="module")
def table():
    return conformance.run()


def test_conformance_has_no_unexplained_failure(table):
    assert table.height > 0
    assert (table["tests"] == table["passed"] + table["failed"] + table["not_supported"]).all()
    for r in table.iter_rows(named=True):
        failed = {int(x) for x in r["failed_ids"].split(",") if x}
        assert failed <= KNOWN_FINDINGS.get((r["family"], r["backend"]), set()), r


def test_conformance_runs_every_expressible_family(table):
    # Verification and decapsulation of expanded keys run on every backend that has them.
    for backend in BACKENDS:
        rows = table.filter(pl.col("backend") == backend)
        if backend != "cryptography" or "ML-DSA-44" in crypto.algorithms(backend)["signature"]:
            v = rows.filter(pl.col("family") == "mldsa_verify")
            assert v.height == 3 and (v["not_supported"] == 0).all(), v
    pq = table.filter(pl.col("backend") == "pqcrypto")
    # pqcrypto cannot derive keys from seeds: reported not supported, never passed.
    seed = pq.filter(pl.col("family") == "mlkem_keygen_seed")
    assert (seed["passed"] == 0).all() and (seed["not_supported"] == seed["tests"]).all()
    # Deterministic encapsulation is expressible nowhere; the malformed-key cases everywhere.
    enc = table.filter(pl.col("family") == "mlkem_encaps")
    assert (enc["not_supported"] > 0).all() and (enc["passed"] > 0).all()
    x = table.filter(pl.col("family") == "x25519")
    assert x["passed"].to_list() == x["tests"].to_list()


def test_conformance_counts_a_wrong_backend_as_failed(monkeypatch):
    # The check must be able to fail: a decapsulation that ignores the ciphertext.
    k = crypto.kem("ML-KEM-512", "pqcrypto")
    broken = k._impl._replace(op2=lambda sk, ct: bytes(32))
    monkeypatch.setattr(
        conformance, "kem", lambda alg, backend: type(k)(k.algorithm, k.backend, k.sizes, broken)
    )
    t = conformance.run(["mlkem_semi_expanded_decaps"], ["pqcrypto"])
    assert t["failed"].sum() > 0


def test_interoperability_every_ordered_pair():
    m = audit.interoperability(rounds=2)
    pairs = set(zip(m["producer"], m["consumer"], strict=True))
    pq = [b for b in BACKENDS if crypto.algorithms(b)["signature"][1:]]
    assert {(a, b) for a in pq for b in pq if a != b} <= pairs
    assert (m["agreed"] == m["trials"]).all(), m.filter(pl.col("agreed") != pl.col("trials"))


def test_standard_sizes_and_implicit_rejection():
    s = audit.standard_sizes()
    assert s["matches"].all(), s.filter(~pl.col("matches"))
    assert set(s["category"]) <= {1, 2, 3, 5}
    r = audit.implicit_rejection()
    assert r.height >= 3 and r["correct"].all(), r


def test_bad_input_is_rejected_clearly():
    d = crypto.signature_scheme("ML-DSA-44", "pqcrypto")
    pk, sk = d.keygen()
    with pytest.raises(ValueError, match="at most 255 bytes"):
        d.sign(sk, b"m", context=bytes(256))
    with pytest.raises(ValueError, match="at most 255 bytes"):
        d.verify(pk, b"m", d.sign(sk, b"m"), context=bytes(256))
    bad_sk = sk[:128] + b"\xff" * 96 + sk[224:]  # s1 coefficients out of [-eta, eta]
    with pytest.raises(ValueError, match="outside"):
        d.sign(bad_sk, b"m")
    k = crypto.kem("ML-KEM-512", "pqcrypto")
    ek, dk = k.keygen()
    with pytest.raises(ValueError, match="modulus check"):
        k.encaps(b"\xff" * 3 + ek[3:])  # a 12-bit coefficient of 4095 >= q
    with pytest.raises(ValueError, match="hash check"):
        k.decaps(dk[:-64] + bytes(32) + dk[-32:], k.encaps(ek)[0])
    with pytest.raises(ValueError, match="must be 768 bytes"):
        k.decaps(dk, bytes(767))


def test_library_discovery_is_cached(monkeypatch):
    monkeypatch.delenv("OQS_INSTALL_PATH", raising=False)
    backend_liboqs.library_path.cache_clear()
    calls = []
    real = backend_liboqs.ctypes.util.find_library
    monkeypatch.setattr(
        backend_liboqs.ctypes.util, "find_library", lambda n: calls.append(n) or real(n)
    )
    for _ in range(5):
        backend_liboqs.library_path()
    assert calls == ["oqs"]
    backend_liboqs.library_path.cache_clear()


@pytest.mark.skipif(not HAS_LIBOQS, reason=NO_LIBOQS)
def test_liboqs_falcon_variable_length_signatures_verify():
    for alg, lo, hi in (("Falcon-512", 600, 752), ("Falcon-1024", 1200, 1462)):
        d = crypto.signature_scheme(alg, "liboqs")
        assert d.variable_length and d.sizes.signature == hi
        pk, sk = d.keygen()
        lengths = set()
        for i in range(30):
            msg = f"beacon {i}".encode()
            sig = d.sign(sk, msg)
            lengths.add(len(sig))
            assert lo <= len(sig) <= hi and d.verify(pk, msg, sig), (alg, len(sig))
        assert len(lengths) > 1  # variable length indeed
    df = crypto.benchmark(["Falcon-512"], backends=["liboqs"], n_ops=10, warmup=0)
    assert df.height == 3


@pytest.mark.skipif(not HAS_LIBOQS, reason=NO_LIBOQS)
def test_liboqs_hqc_under_either_name():
    assert backend_liboqs.mechanism("HQC-128") in ("HQC-1", "HQC-128")
    k, ref = crypto.kem("HQC-128", "liboqs"), crypto.kem("HQC-128", "pqcrypto")
    assert k.sizes == ref.sizes
    pk, sk = k.keygen()
    ct, ss = k.encaps(pk)
    assert k.decaps(sk, ct) == ss
    # Same sizes, but not necessarily the same HQC revision: liboqs 0.16's HQC-1 and
    # pqcrypto 1.0.0's HQC-128 do not agree on a shared secret (an audit finding), so no
    # cross-backend assertion here.


@pytest.mark.skipif(not HAS_LIBOQS, reason=NO_LIBOQS)
def test_liboqs_objects_reused_per_thread():
    d = crypto.signature_scheme("ML-DSA-44", "liboqs")
    pk, sk = d.keygen()
    made = []
    oqs = backend_liboqs._import_oqs()
    real = oqs.Signature.__init__

    def counting(self, *a, **kw):
        made.append(threading.get_ident())
        real(self, *a, **kw)

    oqs.Signature.__init__ = counting
    try:
        for _ in range(10):
            assert d.verify(pk, b"m", d.sign(sk, b"m"))
        t = threading.Thread(target=lambda: d.verify(pk, b"m", d.sign(sk, b"m")))
        t.start()
        t.join()
    finally:
        oqs.Signature.__init__ = real
    # One secret-key object per thread (the main thread's public one existed already).
    assert len(made) <= 3 and len(set(made)) == 2, made


def _ops():
    k = crypto.kem("ML-KEM-512", "pqcrypto")
    pk, sk = k.keygen()
    ct, _ = k.encaps(pk)
    return {"ML-KEM-512/decaps": lambda: k.decaps(sk, ct)}


def test_sla_verdict_logic_and_errors():
    t = pl.DataFrame(
        {
            "operation": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
            "cpu_p90_us": [100.0, 110, 120, 9000, 9500, 9900, 4000, 6000, 5000],
            "wall_p90_us": [100.0, 110, 120, 9000, 9500, 9900, 4000, 6000, 5000],
            "load_avg_1m": [1.0] * 9,
        }
    )
    v = sla.verdicts(t, objective_ms=5.0)
    assert v["verdict"].to_list() == ["pass", "fail", "inconclusive"]
    with pytest.raises(ValueError, match="objective_ms"):
        sla.verdicts(t, objective_ms=0.0)
    with pytest.raises(ValueError, match="repeats must be >= 3"):
        sla.measure(_ops(), repeats=2)


_BURN = "import time\nt = time.time() + 60\nwhile time.time() < t: pass\n"


def test_sla_verdict_survives_a_busy_neighbour():
    ops = _ops()
    objectives = {"clear pass": 5.0, "clear fail": 0.001}
    quiet = {
        k: sla.verdicts(sla.measure(ops, n_ops=30, repeats=3), o) for k, o in objectives.items()
    }
    assert quiet["clear pass"]["verdict"][0] == "pass"
    assert quiet["clear fail"]["verdict"][0] == "fail"
    burners = [subprocess.Popen([sys.executable, "-c", _BURN]) for _ in range(4)]
    try:
        busy = sla.measure(ops, n_ops=30, repeats=3)
    finally:
        for p in burners:
            p.kill()
            p.wait()
    for k, o in objectives.items():
        v = sla.verdicts(busy, o)["verdict"][0]
        assert v in (quiet[k]["verdict"][0], "inconclusive"), (k, v)
