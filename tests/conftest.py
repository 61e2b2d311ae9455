"""Shared test configuration: strict dtype promotion as in equinox's test suite."""

import jax
import pytest


@pytest.fixture(autouse=True)
def _strict_dtype_promotion():
    with jax.numpy_dtype_promotion("strict"):
        yield
