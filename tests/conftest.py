"""Shared test configuration: strict dtype promotion as in equinox's test suite."""

import jax
import pytest


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
