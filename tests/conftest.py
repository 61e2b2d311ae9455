"""Shared test configuration: strict dtype promotion as in equinox's test suite, quiet and
static output, and a persistent JAX compilation cache.

* ``MESHLAB_PROGRESS=0`` and ``MESHLAB_RENDERER=svg``: no progress bars and deterministic SVG
  charts, here and in the notebook kernels nbval starts (they inherit the environment).
* Notebooks are committed without outputs; nbval compares each notebook's
  ``# NBVAL_CHECK_OUTPUT`` cell with ``tests/notebook_outputs/<notebook>.txt``, handed to it
  by :func:`pytest_collection_modifyitems` whenever the run includes ``tests/`` (the README's
  command does). ``MESHLAB_NOTEBOOK_OUTPUTS`` points at another folder of such files.
* ``.cache/jax`` (git-ignored): compiled XLA programs persist across runs, so a second run of
  the suite skips most compiles. ``MESHLAB_JAX_CACHE=0`` turns it off.
* XLA's CPU backend compiles at optimisation level 0 (``--xla_backend_optimization_level=0``
  appended to ``XLA_FLAGS``): compiling is most of the suite's time and level 0 compiles about
  a third faster (it is LLVM's optimisation level; XLA's own graph passes still run). Results
  agree to float32 rounding: the bit-exact comparisons with the numpy twins and the notebooks'
  checked outputs hold at both levels; one comparison of a vmapped with an unbatched program,
  exact at the default level, differs by ~1e-6 (relative) at level 0 and is compared with that
  tolerance. ``MESHLAB_TEST_XLA_OPT=default`` keeps XLA's default level; CI's slow job runs
  that way, and so do ``dvc repro`` and the benchmarks, which never read this file.
"""

import os
from pathlib import Path

os.environ.setdefault("MESHLAB_PROGRESS", "0")
os.environ.setdefault("MESHLAB_RENDERER", "svg")
if os.environ.get("MESHLAB_JAX_CACHE", "1") != "0":
    _cache = Path(__file__).resolve().parent.parent / ".cache" / "jax"
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_cache))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

_xla_opt = os.environ.get("MESHLAB_TEST_XLA_OPT", "0")
if _xla_opt not in ("0", "default"):
    raise ValueError(
        f"MESHLAB_TEST_XLA_OPT={_xla_opt!r}: allowed are '0' (the default: XLA's CPU backend "
        "at optimisation level 0) and 'default' (XLA's own default level)"
    )
if _xla_opt == "0":
    _flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in _flags:
        os.environ["XLA_FLAGS"] = f"{_flags} --xla_backend_optimization_level=0".strip()

import jax  # noqa: E402
import pytest  # noqa: E402

if os.environ.get("JAX_COMPILATION_CACHE_DIR"):  # jax may have been imported by a plugin
    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update(
        "jax_persistent_cache_min_compile_time_secs",
        float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
    )


def _output_tool():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "tools" / "refresh_checked_outputs.py"
    spec = importlib.util.spec_from_file_location("refresh_checked_outputs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pytest_collection_modifyitems(items):
    """Gives nbval the expected output of every notebook's checked cell.

    nbval compares a cell only when the notebook holds its output and an execution count;
    our notebooks hold neither. The expected text comes from
    ``tests/notebook_outputs/<notebook>.txt`` (written by ``tools/refresh_checked_outputs.py``);
    a missing file is compared as a line naming it, so the cell fails with that name.
    """
    import nbformat

    tool = None
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None or item.path.suffix != ".ipynb":
            continue
        tool = tool or _output_tool()
        if not tool.is_checked(cell):
            continue
        folder = os.environ.get("MESHLAB_NOTEBOOK_OUTPUTS")
        expected = tool.expected_path(item.path, Path(folder) if folder else None)
        text = (
            expected.read_text()
            if expected.exists()
            else f"missing {expected}: run tools/refresh_checked_outputs.py {item.path.name}\n"
        )
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        cell.execution_count = 1


MAX_MAPPINGS = 20_000  # under a third of Linux's default vm.max_map_count (65,530)


def _n_mappings() -> int:
    try:
        with open("/proc/self/maps", "rb") as maps:
            return maps.read().count(b"\n")
    except OSError:  # not Linux
        return 0


def pytest_runtest_teardown(item, nextitem):
    """Drops every compiled program (``jax.clear_caches``) after each test file, and after
    any test that leaves the process above :data:`MAX_MAPPINGS` memory mappings.

    Each XLA:CPU executable holds its JIT-compiled code in its own memory mappings (about 60
    for a small program, ~350 for a beacon rollout), and jit caches keep executables alive
    for the life of the process. One xdist worker running half the suite reached 54,000
    mappings, near Linux's default ``vm.max_map_count`` of 65,530, past which the JIT's
    mmap fails and the worker dies with a segmentation fault inside XLA (in
    ``backend_compile_and_load`` or ``executable.serialize``). Programs needed again come
    back from the persistent compilation cache.
    """
    if nextitem is None or nextitem.path != item.path or _n_mappings() > MAX_MAPPINGS:
        jax.clear_caches()


@pytest.fixture(autouse=True)
def _strict_dtype_promotion():
    with jax.numpy_dtype_promotion("strict"):
        yield


def monitoring_tool(name: str) -> str:
    """Path of a Prometheus / Alertmanager binary (Debian's packages).

    Skips the calling test when it is absent, unless ``MESHLAB_REQUIRE_MONITORING_TOOLS=1``
    (set by CI), where a missing tool is a failure.
    """
    import os
    import shutil

    path = shutil.which(name)
    if path is None:
        if os.environ.get("MESHLAB_REQUIRE_MONITORING_TOOLS") == "1":
            pytest.fail(f"{name} is required here (MESHLAB_REQUIRE_MONITORING_TOOLS=1)")
        pytest.skip(f"{name} not installed (apt-get install prometheus prometheus-alertmanager)")
    return path
