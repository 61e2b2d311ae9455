"""Cost profiles (reference table and measured), the benchmark, and the mapping of a profile
onto the beacon model's parameters."""

import csv
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from meshlab import crypto
from meshlab.identity import x509
from meshlab.mesh import beacons

PACKAGE_CSV = Path(crypto.__file__).parent / "data" / "pqc_costs.csv"
SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pqc_costs.csv"
CSV_SHA256 = "3f51d1960e30c18ea374c9e98f72b6d05f41bef86a0ec0e91bd51e91051751dd"


def _csv_rows():
    with PACKAGE_CSV.open() as f:
        return list(csv.DictReader(f))


def test_shipped_table_is_the_reference_copy():
    assert hashlib.sha256(PACKAGE_CSV.read_bytes()).hexdigest() == CSV_SHA256
    if SHARED_CSV.exists():
        assert SHARED_CSV.read_bytes() == PACKAGE_CSV.read_bytes()


@pytest.mark.parametrize("implementation", ["pqcrypto", "liboqs"])
def test_reference_profile_reproduces_the_table(implementation):
    prof = crypto.reference_profile(implementation)
    assert prof.name == f"reference:{implementation}"
    assert "pqc_costs.csv" in prof.source
    rows = [r for r in _csv_rows() if r["implementation"] == implementation]
    assert len(rows) == 18
    for r in rows:
        c = prof.latency(r["algorithm"], r["operation"])
        assert (c.median_us, c.p10_us, c.p90_us) == (
            float(r["median_us"]),
            float(r["p10_us"]),
            float(r["p90_us"]),
        )
        sizes = prof.sizes(r["algorithm"])
        assert sizes.public_key == int(r["public_key_bytes"])
        if r["signature_bytes"]:
            assert sizes.signature == int(r["signature_bytes"])
        else:
            assert sizes.ciphertext == int(r["ciphertext_bytes"])


def test_reference_profile_published_numbers_and_classical_rows():
    # Numbers quoted in shared/reference/README.md.
    ref = crypto.reference_profile("pqcrypto")
    assert ref.latency("ML-DSA-44", "sign").median_us == 9157.3
    assert crypto.reference_profile("liboqs").latency("ML-KEM-768", "encaps").median_us == 14.9
    assert ref.latency("Ed25519", "verify").median_us == 102.1
    assert ref.latency("X25519", "encaps").median_us == pytest.approx(31.9 + 30.3)
    assert math.isnan(ref.latency("Ed25519", "verify").p90_us)
    assert tuple(ref.sizes("Ed25519")) == (32, 32, 64)


def test_lognormal_fit_matches_scipy():
    c = crypto.reference_profile("liboqs").latency("ML-DSA-65", "sign")  # 86.3 / 185.3 us
    mean_s, sigma = c.lognormal()
    dist = stats.lognorm(s=sigma, scale=c.median_us * 1e-6)
    assert dist.ppf(0.5) == pytest.approx(86.3e-6, rel=1e-12)
    assert dist.ppf(0.9) == pytest.approx(185.3e-6, rel=1e-9)
    assert mean_s == pytest.approx(dist.mean(), rel=1e-12)
    # No p90 (classical rows): a point mass at the median.
    assert crypto.OpCost(100.0, math.nan, math.nan).lognormal() == pytest.approx((100e-6, 0.0))


def _lognormal_mean_s(prof, alg, op):
    c = prof.latency(alg, op)
    if math.isnan(c.p90_us):
        return c.median_us * 1e-6
    s = math.log(c.p90_us / c.median_us) / stats.norm.ppf(0.9)
    return stats.lognorm(s=s, scale=c.median_us * 1e-6).mean()


@pytest.mark.parametrize("sig,kem", [("ML-DSA-44", "ML-KEM-768"), ("Ed25519", "X25519")])
def test_beacon_crypto_params_arithmetic(sig, kem):
    prof = crypto.reference_profile("pqcrypto")
    sig_bytes = {"ML-DSA-44": 2420, "Ed25519": 64}[sig]
    pk_bytes = {"ML-DSA-44": 1312, "Ed25519": 32}[sig]
    p = crypto.beacon_crypto_params(prof, sig, kem, authenticated_handshake=False)
    assert p.beacon_bytes == 58 + sig_bytes
    assert p.verify_mean_s == pytest.approx(_lognormal_mean_s(prof, sig, "verify"), rel=1e-9)
    hs = sum(_lognormal_mean_s(prof, kem, op) for op in ("keygen", "encaps", "decaps"))
    assert p.handshake_s == pytest.approx(hs, rel=1e-9)
    kem_pk, kem_ct = {"ML-KEM-768": (1184, 1088), "X25519": (32, 32)}[kem]
    assert p.handshake_bytes == kem_pk + kem_ct
    auth = crypto.beacon_crypto_params(prof, sig, kem)
    extra = 2 * (_lognormal_mean_s(prof, sig, "sign") + _lognormal_mean_s(prof, sig, "verify"))
    assert auth.handshake_s == pytest.approx(hs + extra, rel=1e-9)
    assert auth.handshake_bytes == kem_pk + kem_ct + 2 * sig_bytes
    with_pk = crypto.beacon_crypto_params(prof, sig, kem, carry="public_key")
    assert with_pk.beacon_bytes == 58 + sig_bytes + pk_bytes
    assert p.profile == "reference:pqcrypto"


def test_certificate_carry_uses_a_real_svid_size():
    prof = crypto.reference_profile("liboqs")
    cert = x509.svid_certificate_bytes(prof.sizes("ML-DSA-44"))
    p = crypto.beacon_crypto_params(prof, "ML-DSA-44", carry="certificate", certificate_bytes=cert)
    assert p.beacon_bytes == 58 + 2420 + cert
    if "ML-DSA-44" in crypto.algorithms("cryptography")["signature"]:
        ca = x509.make_svid_ca("example.org", key_algorithm="ML-DSA-44")
        der = x509.mint_x509_svid(ca, "spiffe://example.org/node/0").der
        # Random serial numbers are 20 or 21 DER bytes: the estimate is within 2 bytes.
        assert abs(p.beacon_bytes - (58 + 2420 + len(der))) <= 2
    p2 = crypto.beacon_crypto_params(prof, "ML-DSA-44", carry="certificate", certificate_bytes=5000)
    assert p2.beacon_bytes == 58 + 2420 + 5000
    with pytest.raises(ValueError, match=r"certificate_bytes is required with carry='certificate'"):
        crypto.beacon_crypto_params(prof, "ML-DSA-44", carry="certificate")


def test_beacon_size_has_one_source_of_truth():
    # The wire format's signed payload is what both the beacon model's default size and the
    # PQC mapping use: the default beacon is ML-DSA-44 carrying its public key.
    assert crypto.wire.BEACON_PAYLOAD_BYTES == crypto.BEACON_PAYLOAD_BYTES == 58
    for name in ("pqcrypto", "liboqs"):
        p = crypto.beacon_crypto_params(
            crypto.reference_profile(name), "ML-DSA-44", carry="public_key"
        )
        assert p.beacon_bytes == 58 + 2420 + 1312 == 3790
        assert float(beacons.params().beacon_bytes) == p.beacon_bytes
    assert p.service_dist == "lognormal"


def test_apply_to_beacon_params():
    params = beacons.params()
    crypto_p = crypto.beacon_crypto_params(crypto.reference_profile("liboqs"), "ML-DSA-65")
    new = crypto.apply_beacon_crypto(params, crypto_p)
    assert type(new) is type(params)
    for f in ("beacon_bytes", "verify_mean_s", "verify_sigma", "handshake_s"):
        got = getattr(new, f)
        assert got.dtype == np.float32
        assert float(got) == pytest.approx(getattr(crypto_p, f), rel=1e-6)
        assert float(got) != pytest.approx(float(getattr(params, f)), rel=1e-3)  # replaced
    assert float(new.interval_s) == float(params.interval_s)  # other fields untouched
    d = crypto.apply_beacon_crypto(dict(params._asdict()), crypto_p)
    assert float(d["beacon_bytes"]) == 58 + 3309
    with pytest.raises(ValueError, match=r"lacks the beacon crypto fields"):
        crypto.apply_beacon_crypto({"interval_s": 1.0}, crypto_p)


def test_benchmark_frame_and_profile_from_it():
    df = crypto.benchmark(["ML-KEM-512", "Ed25519"], n_ops=12, warmup=1, repeats=2)
    assert set(df["implementation"]) <= set(crypto.available_backends())
    assert {"pqcrypto", "cryptography"} <= set(df["implementation"])
    for col in ("version", "cpu_model", "source", "load_avg_1m"):
        assert df[col].null_count() == 0
    assert set(df["source"]) == {"measured"}
    assert (df["ops_per_run"] == 12).all()
    q = df.select("p10_us", "median_us", "p90_us", "p99_us", "max_us").to_numpy()
    # Quantiles are ordered (per run, hence also their medians over runs).
    assert (q > 0).all() and (np.diff(q, axis=1) >= 0).all()
    ml = df.filter((df["implementation"] == "pqcrypto") & (df["algorithm"] == "ML-KEM-512"))
    assert ml["operation"].to_list() == ["keygen", "encaps", "decaps"]
    assert ml["ciphertext_bytes"].to_list() == [768] * 3
    # The default profile is the preferred post-quantum backend here (liboqs when present).
    default = crypto.CostProfile.from_benchmark(df)
    assert default.name == f"measured:{crypto.default_backend()}"
    prof = crypto.CostProfile.from_benchmark(df, "pqcrypto")
    assert prof.name == "measured:pqcrypto" and prof.source.startswith("measured here")
    row = ml.filter(ml["operation"] == "decaps").row(0, named=True)
    c = prof.latency("ML-KEM-512", "decaps")
    assert (c.median_us, c.p90_us, c.mean_us) == (row["median_us"], row["p90_us"], row["mean_us"])
    assert prof.mean_s("ML-KEM-512", "decaps") == pytest.approx(row["mean_us"] * 1e-6)
    assert prof.latency("Ed25519", "verify").median_us > 0  # classical rows kept


def test_benchmark_time_budget_caps_the_run():
    # 1000 ML-DSA-65 signatures take seconds; a 0.05 s budget stops after the 10-op minimum.
    df = crypto.benchmark(["ML-DSA-65"], backends=["pqcrypto"], n_ops=1000, time_budget_s=0.05)
    sign = df.filter(df["operation"] == "sign")
    assert 10 <= sign["ops_per_run"][0] < 1000


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"n_ops must be >= 10, got 5"):
        crypto.benchmark(["ML-KEM-512"], n_ops=5)
    with pytest.raises(TypeError, match=r"n_ops must be an integer, got 12.5"):
        crypto.benchmark(["ML-KEM-512"], n_ops=12.5)
    with pytest.raises(ValueError, match=r"repeats must be >= 1, got 0"):
        crypto.benchmark(["ML-KEM-512"], repeats=0)
    with pytest.raises(ValueError, match=r"algorithms contains 'Kyber512'.*valid"):
        crypto.benchmark(["Kyber512"])
    with pytest.raises(TypeError, match=r"sequence of names"):
        crypto.benchmark("ML-KEM-512")
    with pytest.raises(ValueError, match=r"backend='wolfssl'"):
        crypto.benchmark(["ML-KEM-512"], backends=["wolfssl"])
    with pytest.raises(ValueError, match=r"implementation='openssl'.*valid"):
        crypto.reference_profile("openssl")
    prof = crypto.reference_profile()
    with pytest.raises(ValueError, match=r"algorithm='Falcon-512' is not in profile"):
        prof.latency("Falcon-512", "sign")
    with pytest.raises(ValueError, match=r"operation='encaps'"):
        prof.latency("ML-DSA-44", "encaps")
    with pytest.raises(ValueError, match=r"payload_bytes must be >= 0, got -1"):
        crypto.beacon_crypto_params(prof, "ML-DSA-44", payload_bytes=-1)
    with pytest.raises(ValueError, match=r"carry must be one of .*'public_key'.*got 'everything'"):
        crypto.beacon_crypto_params(prof, "ML-DSA-44", carry="everything")
    with pytest.raises(ValueError, match=r"signature='ML-KEM-512' is not a signature scheme"):
        crypto.beacon_crypto_params(prof, "ML-KEM-512")
    with pytest.raises(ValueError, match=r"kem='Ed25519' is not a KEM"):
        crypto.beacon_crypto_params(prof, "ML-DSA-44", kem="Ed25519")
    with pytest.raises(TypeError, match=r"profile must be a CostProfile"):
        crypto.beacon_crypto_params({}, "ML-DSA-44")
