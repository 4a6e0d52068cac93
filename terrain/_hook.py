"""Run an import once another module is imported, without importing it first.

``import terrain`` registers the ``DataArray.terrain`` accessor, which needs
xarray; the command line never needs xarray, whose import costs most of a
second. So the accessor module is imported at once if xarray already is,
else right after xarray's own import completes, by a finder on
``sys.meta_path`` that wraps xarray's loader.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__all__ = ["register_when_imported"]


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds ``target`` through the other finders; imports ``then`` after it runs."""

    def __init__(self, target: str, then: str):
        self.target, self.then = target, then

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.target:
            return None
        sys.meta_path.remove(self)  # once: let the other finders find it
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module, then = spec.loader.exec_module, self.then

        def exec_then_import(module):
            exec_module(module)
            importlib.import_module(then)

        spec.loader.exec_module = exec_then_import
        return spec


def register_when_imported(target: str, then: str) -> None:
    """Import module ``then`` now if ``target`` is imported, else right after it is."""
    if target in sys.modules:
        importlib.import_module(then)
    elif not any(isinstance(f, _AfterImport) and f.then == then for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(target, then))
