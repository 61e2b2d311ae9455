"""Writes notebooks/environment.ipynb (kept as code so the notebook is reviewable)."""

import nbformat as nbf

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
code("""import altair as alt
import jax
import polars as pl

import meshlab

alt.renderers.enable("svg")
out = meshlab.report_dir(out_dir)
prov = meshlab.provenance(seed)""")
md("## Software and hardware")
code("""pl.DataFrame(
    {"item": list(prov), "value": [str(v) for v in prov.values()]}
)""")
md("""## Post-quantum implementations

`liboqs` counts only when its shared library is found (meshlab never imports
liboqs-python otherwise, since that import would try to download and build liboqs).""")
code("""pqc = pl.DataFrame(
    {
        "implementation": ["liboqs (liboqs-python)", "pqcrypto wheel"],
        "available": [
            meshlab.liboqs_library_path() is not None,
            prov["pqc_backend"].startswith(("pqcrypto", "liboqs")),
        ],
    }
)
pqc""")
md("## Micro-calibration")
code("""cal = meshlab.calibrate(
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
meshlab.save_table(calib, out, "calibration")
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
        row=alt.Row(
            "unit:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")
        ),
        tooltip=["metric", "repeat", "value"],
    )
    .properties(width=420, height=30, title="Per-repeat calibration rates")
    .resolve_scale(x="independent")
)
meshlab.save_chart(chart, out, "calibration")
chart""")
code("""metrics = {
    "matmul_gflops": round(cal.matmul_gflops, 3),
    "rng_msamples_per_s": round(cal.rng_msamples_per_s, 3),
    "membw_gb_per_s": round(cal.membw_gb_per_s, 3),
    "jax_backend": prov["jax_backend"],
    "n_jax_devices": len(prov["jax_devices"]),
    "liboqs_available": bool(pqc["available"][0]),
    "pqcrypto_available": bool(pqc["available"][1]),
    "calibration_sizes": {"matmul_n": matmul_n, "rng_samples": rng_samples, "membw_mb": membw_mb},
}
meshlab.save_metrics(metrics, out, seed=seed)
print(f"saved report to {out}")""")
md("## Sanity checks")
code("""# NBVAL_CHECK_OUTPUT
assert cal.matmul_gflops > 0.1, cal.matmul_gflops
assert cal.rng_msamples_per_s > 0.1, cal.rng_msamples_per_s
assert cal.membw_gb_per_s > 0.1, cal.membw_gb_per_s
assert prov["python"].startswith("3."), prov["python"]
assert (out / "metrics.json").exists() and (out / "calibration.csv").exists()
print("environment report: sane")""")

nb = nbf.v4.new_notebook(cells=cells)
nb.metadata = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}
nbf.write(nb, "notebooks/environment.ipynb")
