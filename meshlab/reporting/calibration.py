"""Machine micro-calibration: how fast is the machine that produced a report?

Later figures (events/s, rounds/s) are only comparable across machines when read relative
to a few basic rates of the machine that produced them. :func:`calibrate` measures three:
dense float32 matmul throughput (GFLOP/s), JAX normal random-number throughput (samples/s)
and memory bandwidth for a large array copy (GB/s).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["CalibrationResult", "calibrate"]


class CalibrationResult(NamedTuple):
    """Median and spread (min, max) of each calibrated rate.

    Attributes:
        matmul_gflops: float32 ``[n, n] @ [n, n]`` rate, 2·n³ flops per product.
        rng_msamples_per_s: millions of standard normals per second (``jax.random.normal``).
        membw_gb_per_s: bytes read + written per second by a float32 array copy (numpy).
        samples: dict name -> list of per-repeat values, for tables and plots.
    """

    matmul_gflops: float
    rng_msamples_per_s: float
    membw_gb_per_s: float
    samples: dict[str, list[float]]


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _time_repeats(fn, repeats: int) -> list[float]:
    fn()  # warm-up: compile and touch memory
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def calibrate(
    key: jax.Array,
    *,
    matmul_n: int = 1024,
    rng_samples: int = 4_000_000,
    membw_mb: int = 256,
    repeats: int = 7,
) -> CalibrationResult:
    """Measures matmul, RNG and memory-bandwidth rates of this machine.

    Args:
        key: a typed ``jax.random`` key (inputs and RNG draws derive from it).
        matmul_n: side of the square float32 matrices.
        rng_samples: normals drawn per RNG repeat.
        membw_mb: size of the copied array in MiB.
        repeats: timed repeats after one warm-up; the median is reported.

    Returns:
        A :class:`CalibrationResult`.

    Raises:
        ValueError: if any size or ``repeats`` is not a positive integer.
    """
    for name, v in [
        ("matmul_n", matmul_n),
        ("rng_samples", rng_samples),
        ("membw_mb", membw_mb),
        ("repeats", repeats),
    ]:
        _check_positive_int(name, v)
    k_a, k_b, k_rng = jax.random.split(key, 3)
    a = jax.random.normal(k_a, (matmul_n, matmul_n), jnp.float32)
    b = jax.random.normal(k_b, (matmul_n, matmul_n), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    t_mm = _time_repeats(lambda: matmul(a, b).block_until_ready(), repeats)
    gflops = [2.0 * matmul_n**3 / t / 1e9 for t in t_mm]

    draw = jax.jit(lambda k: jax.random.normal(k, (rng_samples,), jnp.float32))
    t_rng = _time_repeats(lambda: draw(k_rng).block_until_ready(), repeats)
    msps = [rng_samples / t / 1e6 for t in t_rng]

    n_elem = membw_mb * (1 << 20) // 4
    src = np.ones(n_elem, np.float32)
    dst = np.empty_like(src)
    t_bw = _time_repeats(lambda: np.copyto(dst, src), repeats)
    gbps = [2.0 * src.nbytes / t / 1e9 for t in t_bw]

    return CalibrationResult(
        matmul_gflops=float(np.median(gflops)),
        rng_msamples_per_s=float(np.median(msps)),
        membw_gb_per_s=float(np.median(gbps)),
        samples={"matmul_gflops": gflops, "rng_msamples_per_s": msps, "membw_gb_per_s": gbps},
    )
