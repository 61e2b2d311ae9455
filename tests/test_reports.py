"""Report writers and calibration input checks."""

import json
import math

import jax
import numpy as np
import polars as pl
import pytest

import meshlab


def test_save_metrics_is_strict_json_with_provenance(tmp_path):
    path = meshlab.save_metrics(
        {"a": np.float32(1.5), "arr": np.arange(3), "nan": math.nan, "inf": -math.inf},
        tmp_path,
        seed=3,
    )
    body = json.loads(path.read_text())
    assert body["a"] == 1.5 and body["arr"] == [0, 1, 2]
    assert body["nan"] is None and body["inf"] == "-inf"
    assert body["provenance"]["seed"] == 3
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.csv"
    target.write_text("old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        meshlab.atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_save_table_round_trips(tmp_path):
    df = pl.DataFrame({"n": [1, 2], "p99_ms": [0.5, 1.25]})
    path = meshlab.save_table(df, tmp_path, "t", parquet=True)
    assert pl.read_csv(path).equals(df)
    assert pl.read_parquet(tmp_path / "t.parquet").equals(df)


@pytest.mark.parametrize(
    ("kw", "name"),
    [({"matmul_n": 0}, "matmul_n"), ({"repeats": -1}, "repeats"), ({"membw_mb": 1.5}, "membw_mb")],
)
def test_calibrate_rejects_bad_sizes(kw, name):
    with pytest.raises(ValueError, match=name):
        meshlab.calibrate(jax.random.key(0), **kw)


def test_calibrate_reports_one_sample_per_repeat():
    cal = meshlab.calibrate(jax.random.key(0), matmul_n=64, rng_samples=1000, membw_mb=1, repeats=4)
    assert all(len(v) == 4 for v in cal.samples.values())
    assert cal.matmul_gflops == pytest.approx(float(np.median(cal.samples["matmul_gflops"])))
