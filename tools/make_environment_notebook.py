"""Writes notebooks/environment.ipynb (kept as code so the notebook is reviewable).

Then run ``uv run python tools/refresh_checked_outputs.py notebooks/environment.ipynb`` to
record the expected output of its ``# NBVAL_CHECK_OUTPUT`` cell.
"""

from pathlib import Path

import nbformat as nbf

OUT = Path(__file__).resolve().parent.parent / "notebooks" / "environment.ipynb"

cells = []
md = lambda s: cells.append(nbf.v4.new_markdown_cell(s))
code = lambda s, **meta: cells.append(nbf.v4.new_code_cell(s, metadata=meta))

md("""# Environment report

What machine and software produced the reports next to this one: versions, CPU, JAX
devices, which post-quantum implementations are importable, and a micro-calibration
(matmul GFLOP/s, random-number throughput, memory bandwidth) so later figures can be read
relative to this machine.""")
code(
    """# Smoke-size defaults; `dvc repro` injects the `environment` section of params.yaml.
out_dir = None
seed = 0
matmul_n = 256
rng_samples = 200_000
membw_mb = 16
repeats = 3""",
    tags=["parameters"],
)
code(
    """# Every parameter checked up front (errors name the params.yaml key, e.g. environment.repeats)
import meshlab

v = meshlab.core.validation
v.check_section("environment", globals(), {
    "seed": v.seed(), "matmul_n": v.integer(2), "rng_samples": v.integer(1000),
    "membw_mb": v.integer(1), "repeats": v.integer(2),
})  # fmt: skip"""
)
code("""import importlib.util

import altair as alt
import jax
import polars as pl

import meshlab

out = meshlab.reporting.report_dir(out_dir, "environment")
# Touching meshlab.crypto loads it; it registers the provenance field `pqc_backend`.
pqc_backend = meshlab.crypto.backend_description()
prov = meshlab.reporting.provenance(seed)""")
md("## Software and hardware")
code("""with pl.Config(tbl_rows=-1, fmt_str_lengths=120):  # the whole provenance, not 10 rows
    display(pl.DataFrame({"item": list(prov), "value": [str(v) for v in prov.values()]}))""")
md("""## Post-quantum implementations

For each backend: is its Python package importable (`importlib.util.find_spec`, which
imports nothing), and does an ML-KEM-768 round trip (keygen, encapsulate, decapsulate)
through `meshlab.crypto` agree on the shared secret? liboqs is only tried when its shared
library is found (importing liboqs-python without it would try to download and build it).""")
code("""MODULES = {"liboqs": "oqs", "pqcrypto": "pqcrypto", "cryptography": "cryptography"}


def kem_round_trip(backend):
    try:
        k = meshlab.crypto.kem("ML-KEM-768", backend=backend)
        pk, sk = k.keygen()
        ct, secret = k.encaps(pk)
        return k.decaps(sk, ct) == secret, meshlab.crypto.backend_version(backend)
    except Exception as e:  # an unavailable backend is a finding, not a failure
        return False, f"{type(e).__name__}: {e}"


rows = []
for backend in meshlab.crypto.BACKENDS:
    importable = importlib.util.find_spec(MODULES.get(backend, backend)) is not None
    if backend == "liboqs":
        importable = importable and meshlab.crypto.liboqs_library_path() is not None
    works, detail = kem_round_trip(backend) if importable else (False, "not installed")
    rows.append(
        {"backend": backend, "importable": importable, "ml_kem_768_works": works, "detail": detail}
    )
pqc = pl.DataFrame(rows)
available = {r["backend"]: r["importable"] and r["ml_kem_768_works"] for r in rows}
pqc""")
md("## Micro-calibration")
code("""cal = meshlab.reporting.calibrate(
    jax.random.key(seed),
    matmul_n=matmul_n,
    rng_samples=rng_samples,
    membw_mb=membw_mb,
    repeats=repeats,
)
units = {
    "matmul_gflops": "GFLOP/s (float32 matmul)",
    "rng_msamples_per_s": "M normals/s (jax.random)",
    "membw_gb_per_s": "GB/s (array copy, read+write)",
}
calib = pl.DataFrame(
    [
        {"metric": name, "unit": units[name], "repeat": i, "value": v}
        for name, values in cal.samples.items()
        for i, v in enumerate(values)
    ]
)
meshlab.reporting.save_table(calib, out, "calibration")
summary = calib.group_by("metric", "unit", maintain_order=True).agg(
    pl.col("value").median().alias("median"),
    pl.col("value").min().alias("min"),
    pl.col("value").max().alias("max"),
)
summary""")
code("""chart = (
    alt.Chart(calib)
    .mark_tick(thickness=2, size=20)
    .encode(
        x=alt.X("value:Q", title=None, scale=alt.Scale(zero=False)),
        row=alt.Row("unit:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
        tooltip=["metric", "repeat", "value"],
    )
    .properties(width=420, height=30, title="Per-repeat calibration rates")
    .resolve_scale(x="independent")
)
meshlab.reporting.save_chart(chart, out, "calibration")
chart""")
code("""metrics = {
    "matmul_gflops": round(cal.matmul_gflops, 3),
    "rng_msamples_per_s": round(cal.rng_msamples_per_s, 3),
    "membw_gb_per_s": round(cal.membw_gb_per_s, 3),
    "jax_backend": prov["jax_backend"],
    "n_jax_devices": len(prov["jax_devices"]),
    "liboqs_available": available.get("liboqs", False),
    "pqcrypto_available": available.get("pqcrypto", False),
    "cryptography_ml_kem_available": available.get("cryptography", False),
    "calibration_sizes": {"matmul_n": matmul_n, "rng_samples": rng_samples, "membw_mb": membw_mb},
}
meshlab.reporting.save_metrics(metrics, out, seed=seed)
print(f"saved report to {out}")""")
md("## Sanity checks")
code("""assert cal.matmul_gflops > 0.1, cal.matmul_gflops
assert cal.rng_msamples_per_s > 0.1, cal.rng_msamples_per_s
assert cal.membw_gb_per_s > 0.1, cal.membw_gb_per_s
assert all(len(v) == repeats for v in cal.samples.values()), cal.samples
assert prov["python"].startswith("3."), prov["python"]
assert prov["pqc_backend"] == pqc_backend, prov
assert set(pqc["backend"]) == set(meshlab.crypto.BACKENDS)
assert (out / "metrics.json").exists() and (out / "calibration.csv").exists()""")
code("""# NBVAL_CHECK_OUTPUT
print(
    meshlab.reporting.summary_text(
        {
            "calibrated_rates": sorted(cal.samples),
            "calibration_rows": calib.height // repeats,
            "pqcrypto_available": metrics["pqcrypto_available"],
        }
    )
)""")

nb = nbf.v4.new_notebook(cells=cells)
nb.metadata = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}
nbf.write(nb, OUT)
