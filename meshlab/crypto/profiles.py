"""Cost profiles: per-operation latency distributions and byte sizes of crypto schemes.

A :class:`CostProfile` is either measured here (:func:`meshlab.crypto.bench.benchmark`
then :meth:`CostProfile.from_benchmark`) or read from the reference table shipped in
``meshlab/crypto/data/pqc_costs.csv`` (:func:`reference_profile`). Every report says which
profile produced a number (:attr:`CostProfile.name`, :attr:`CostProfile.source`).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import io
import math
import os
from typing import Any, NamedTuple

from meshlab.crypto._catalog import (
    CLASSICAL_KEMS,
    CLASSICAL_SIGNATURES,
    KINDS,
    OPERATIONS,
    KemSizes,
    SignatureSizes,
)

__all__ = ["CostProfile", "OpCost", "reference_profile", "reference_table"]

_Z90 = 1.2815515655446004  # standard-normal 0.9 quantile: ln(p90/p50) = sigma * z90

# The reference README's classical contrast (medians only), measured through
# `cryptography` on the reference machine. X25519 as a KEM: encaps = keygen + derive,
# decaps = derive.
_REFERENCE_CLASSICAL = (
    ("X25519", "kem", "keygen", 31.9, (32, 32, 32, None, 32)),
    ("X25519", "kem", "encaps", 31.9 + 30.3, (32, 32, 32, None, 32)),
    ("X25519", "kem", "decaps", 30.3, (32, 32, 32, None, 32)),
    ("Ed25519", "signature", "keygen", 31.3, (32, 32, None, 64, None)),
    ("Ed25519", "signature", "sign", 31.6, (32, 32, None, 64, None)),
    ("Ed25519", "signature", "verify", 102.1, (32, 32, None, 64, None)),
)
_REFERENCE_SOURCE = (
    "reference: meshlab/crypto/data/pqc_costs.csv (copy of shared/reference/pqc_costs.csv; "
    "2-vCPU x86-64 CI-class machine, Python 3.11)"
)


def reference_table() -> Any:
    """Returns the shipped reference table (``meshlab/crypto/data/pqc_costs.csv``) as polars.

    Columns as in the CSV: implementation, version, algorithm, operation, median_us,
    p10_us, p90_us, ops_per_run and the byte sizes.
    """
    import polars as pl

    data = (
        importlib.resources.files("meshlab")
        .joinpath("crypto", "data", "pqc_costs.csv")
        .read_bytes()
    )
    return pl.read_csv(io.BytesIO(data))


class OpCost(NamedTuple):
    """Latency of one operation, microseconds. ``p10_us``/``p90_us``/``p99_us`` may be NaN."""

    median_us: float
    p10_us: float
    p90_us: float
    p99_us: float = math.nan
    mean_us: float = math.nan

    def lognormal(self) -> tuple[float, float]:
        """Fits a lognormal from the median and p90.

        Returns:
            ``(mean_s, sigma)``: ``sigma = ln(p90/p50) / z_0.9`` (0 when p90 is unknown or
            not above the median) and ``mean_s = median * exp(sigma**2 / 2)`` in seconds.
        """
        med = self.median_us
        p90 = self.p90_us
        sigma = math.log(p90 / med) / _Z90 if (math.isfinite(p90) and p90 > med) else 0.0
        return med * 1e-6 * math.exp(0.5 * sigma * sigma), sigma


@dataclasses.dataclass(frozen=True, eq=False)
class CostProfile:
    """Per-operation latency distributions and byte sizes for a set of algorithms.

    Build with :meth:`from_reference` / :func:`reference_profile` (shipped table) or
    :meth:`from_benchmark` (a :func:`~meshlab.crypto.bench.benchmark` result measured here). ``source`` says
    which; every report prints it next to its numbers.

    Attributes:
        name: short label, e.g. ``"reference:pqcrypto"`` or ``"measured:pqcrypto"``.
        source: where the numbers come from (file or machine, versions).
        table: polars DataFrame, one row per (algorithm, operation) with ``median_us``,
            ``p10_us``, ``p90_us`` (and ``p99_us``/``mean_us`` when measured) and sizes.
    """

    name: str
    source: str
    table: Any

    @classmethod
    def from_reference(cls, implementation: str = "pqcrypto") -> CostProfile:
        """Profile from the shipped reference table plus its classical contrast rows.

        Args:
            implementation: ``"pqcrypto"`` or ``"liboqs"`` (rows of the reference table).
        """
        import polars as pl

        ref = reference_table()
        impls = tuple(sorted(set(ref["implementation"])))
        if implementation not in impls:
            raise ValueError(
                f"implementation={implementation!r} is not in the reference table; valid: {impls}"
            )
        pq = ref.filter(pl.col("implementation") == implementation).with_columns(
            pl.lit(None, pl.Float64).alias("p99_us"), pl.lit(None, pl.Float64).alias("mean_us")
        )
        classical = pl.DataFrame(
            [
                {
                    "implementation": "cryptography",
                    "version": "cryptography (reference README)",
                    "algorithm": a,
                    "operation": op,
                    "median_us": med,
                    "p10_us": None,
                    "p90_us": None,
                    "ops_per_run": None,
                    "public_key_bytes": sz[0],
                    "secret_key_bytes": sz[1],
                    "ciphertext_bytes": sz[2],
                    "signature_bytes": sz[3],
                    "shared_secret_bytes": sz[4],
                    "p99_us": None,
                    "mean_us": None,
                }
                for a, _, op, med, sz in _REFERENCE_CLASSICAL
            ],
            schema=pq.schema,
        )
        version = pq["version"][0]
        return cls(
            name=f"reference:{implementation}",
            source=f"{_REFERENCE_SOURCE}; {version}",
            table=pl.concat([pq, classical]),
        )

    @classmethod
    def from_benchmark(cls, df: Any, implementation: str | None = None) -> CostProfile:
        """Profile from a :func:`~meshlab.crypto.bench.benchmark` DataFrame measured on this machine.

        Args:
            df: the benchmark result.
            implementation: which backend's rows to use when ``df`` has several;
                default: the first non-``cryptography`` one. The classical X25519 /
                Ed25519 rows (``cryptography``) are always kept.
        """
        import polars as pl

        impls = [i for i in dict.fromkeys(df["implementation"].to_list()) if i != "cryptography"]
        if implementation is None:
            if not impls:
                raise ValueError("df has no post-quantum rows (only 'cryptography')")
            implementation = impls[0]
        if implementation not in impls:
            raise ValueError(f"implementation={implementation!r} not in df; it has: {impls}")
        classical = (*CLASSICAL_KEMS, *CLASSICAL_SIGNATURES)
        rows = df.filter(
            (pl.col("implementation") == implementation)
            | ((pl.col("implementation") == "cryptography") & pl.col("algorithm").is_in(classical))
        )
        version = rows.filter(pl.col("implementation") == implementation)["version"][0]
        cpu = rows["cpu_model"][0] if "cpu_model" in rows.columns else "unknown CPU"
        load = f", load avg {rows['load_avg_1m'][0]:.1f}" if "load_avg_1m" in rows.columns else ""
        return cls(
            name=f"measured:{implementation}",
            source=f"measured here: {version} on {cpu} ({os.cpu_count()} CPUs{load})",
            table=rows,
        )

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Algorithms in this profile, in table order."""
        return tuple(dict.fromkeys(self.table["algorithm"].to_list()))

    def _row(self, algorithm: str, operation: str) -> dict:
        import polars as pl

        sel = self.table.filter(
            (pl.col("algorithm") == algorithm) & (pl.col("operation") == operation)
        )
        if sel.height == 0:
            if algorithm not in self.algorithms:
                raise ValueError(
                    f"algorithm={algorithm!r} is not in profile {self.name!r}; "
                    f"it has: {self.algorithms}"
                )
            raise ValueError(
                f"operation={operation!r} is not in profile {self.name!r} for {algorithm}; "
                f"valid: {OPERATIONS[KINDS.get(algorithm, 'kem')]}"
            )
        return sel.row(0, named=True)

    def latency(self, algorithm: str, operation: str) -> OpCost:
        """Returns the latency distribution of one operation (microseconds)."""
        r = self._row(algorithm, operation)

        def f(key: str) -> float:
            v = r.get(key)
            return math.nan if v is None else float(v)

        return OpCost(f("median_us"), f("p10_us"), f("p90_us"), f("p99_us"), f("mean_us"))

    def sizes(self, algorithm: str) -> KemSizes | SignatureSizes:
        """Returns the byte sizes of ``algorithm``."""
        kind = KINDS.get(algorithm)
        r = self._row(algorithm, "keygen")
        if kind == "kem":
            return KemSizes(
                int(r["public_key_bytes"]),
                int(r["secret_key_bytes"]),
                int(r["ciphertext_bytes"]),
                int(r["shared_secret_bytes"]),
            )
        return SignatureSizes(
            int(r["public_key_bytes"]), int(r["secret_key_bytes"]), int(r["signature_bytes"])
        )

    def mean_s(self, algorithm: str, operation: str) -> float:
        """Mean latency in seconds: measured mean if present, else the lognormal fit's."""
        c = self.latency(algorithm, operation)
        return c.mean_us * 1e-6 if math.isfinite(c.mean_us) else c.lognormal()[0]


def reference_profile(implementation: str = "pqcrypto") -> CostProfile:
    """Shorthand for :meth:`CostProfile.from_reference`."""
    return CostProfile.from_reference(implementation)
