"""Submodules that load on first attribute access (PEP 562), for subpackage ``__init__``\\ s.

A subpackage whose ``experiments`` module needs polars (the report stack) keeps its core
importable without it::

    __getattr__ = lazy_attributes(__name__, modules=("experiments",))

``attributes`` maps a public name to the submodule that defines it, and ``exports`` names
submodules whose whole ``__all__`` resolves through the package, so ``meshlab.fl.X`` can be
``meshlab.fl.experiments.X``, imported only when asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str,
    modules: Iterable[str] = (),
    attributes: Mapping[str, str] | None = None,
    exports: Iterable[str] = (),
) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that imports ``package.<module>`` on first use.

    Args:
        package: the subpackage's ``__name__``.
        modules: submodule names returned as modules.
        attributes: ``{name: submodule}``: names returned from that submodule.
        exports: submodules whose ``__all__`` names are returned from them (the submodule
            is imported on the first name that is not found otherwise).

    Returns:
        The ``__getattr__`` function (raises ``AttributeError`` for anything else).
    """
    modules = frozenset(modules)
    attributes = dict(attributes or {})
    exports = tuple(exports)

    def __getattr__(name: str) -> Any:
        if name in modules:
            return importlib.import_module(f"{package}.{name}")
        if name in attributes:
            return getattr(importlib.import_module(f"{package}.{attributes[name]}"), name)
        if not name.startswith("__"):
            for sub in exports:
                module = importlib.import_module(f"{package}.{sub}")
                if name in getattr(module, "__all__", ()):
                    return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
