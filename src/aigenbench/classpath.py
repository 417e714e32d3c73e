"""Objects named by an import path (``package.module.Name``): the one way configs reach code.

A config names a class or a function by its import path, or as LightningCLI does with
``{class_path: package.module.Class, init_args: {...}}``. Every failure is a ConfigError that
names the setting (``what``), the path and why it cannot be used. A path into a module of
aigenbench that has moved since it was recorded is read at its new place (``MOVED_MODULES``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import os
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

from aigenbench.errors import ConfigError

MOVED_MODULES: dict[str, str] = {
    "aigenbench.models.methods": "aigenbench.methods",
}
"""Modules of aigenbench that moved (old import path -> new one, submodules included): a class
path recorded before the move (a user's config, a run's ``config.yaml``, a checkpoint) still
loads, and so does Python code that imports the old name (:class:`MovedModuleFinder`). Add a
line here when a module that configs or users' code can name moves; never remove one."""


def current_module_path(path: str) -> str:
    """``path`` (a module or ``module.Name``) with a moved module's old prefix replaced."""
    for old, new in MOVED_MODULES.items():
        if path == old or path.startswith(old + "."):
            return new + path[len(old) :]
    return path


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import aigenbench.models.methods`` in code written before the move (a user's method
    module) gives the module at its new place, the same object, with a FutureWarning that names
    the new import. First on ``sys.meta_path``: the old package's folder is gone, but Python
    would otherwise find a submodule in the moved package's folder and load it twice."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if current_module_path(fullname) == fullname:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = current_module_path(spec.name)
        warnings.warn(
            f"{spec.name} has moved to {new}: import that instead", FutureWarning, stacklevel=2
        )
        module = importlib.import_module(new)
        # Python sets the alias's spec on the module next: exec_module puts its own back.
        self._specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._specs.pop(module.__name__)


def find_moved_modules() -> None:
    """Install :class:`MovedModuleFinder` once (``import aigenbench`` does)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())


def import_object(path: str, what: str, *, default_module: str | None = None) -> Any:
    """The attribute ``Name`` of module ``package.module`` (a bare ``Name`` is looked up in
    ``default_module`` when one is given, e.g. ``AdamW`` in ``torch.optim``)."""
    if "." not in path and default_module:
        path = f"{default_module}.{path}"
    module_name, _, name = current_module_path(path).rpartition(".")
    if not module_name:
        raise ConfigError(f"{what}: {path!r} is not an import path (expected module.Name)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"{what}: cannot import {module_name!r} ({error})") from None
    if not hasattr(module, name):
        raise ConfigError(f"{what}: cannot import {path!r} ({module_name} has no {name!r})")
    return getattr(module, name)


def working_directory_on_path() -> None:
    """Put the current directory first on ``sys.path``, as ``python -m`` does, so that the
    ``aigenbench`` console script imports the user's ``my_method.py`` from where it runs."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def import_modules(modules: Iterable[str], option: str = "experiment.imports") -> None:
    """Import user modules (ones registering a backbone family or a method), named in
    ``option`` (the setting or flag the error names)."""
    for module in modules:
        try:
            importlib.import_module(current_module_path(module))
        except ImportError as error:
            raise ConfigError(
                f"{option}: cannot import {module!r} ({error}); put {module.replace('.', '/')}.py "
                "in the folder you run aigenbench from, or its folder on PYTHONPATH"
            ) from None


def import_class(
    path: str, what: str, *, base: type | None = None, default_module: str | None = None
) -> type:
    """The class at ``path``, checked to be a subclass of ``base`` when one is given."""
    found = import_object(path, what, default_module=default_module)
    if not inspect.isclass(found) or (base is not None and not issubclass(found, base)):
        kind = f"a subclass of {base.__module__}.{base.__qualname__}" if base else "a class"
        raise ConfigError(f"{what}: {path!r} is not {kind}")
    return found


def instantiate(spec: Mapping[str, Any] | str | type, what: str = "object", **defaults: Any) -> Any:
    """Build ``{class_path: ..., init_args: {...}}``, a bare class path or a class, with
    ``defaults`` as keyword arguments that ``init_args`` override."""
    init_args: dict[str, Any] = {}
    if isinstance(spec, type):
        cls = spec
    elif isinstance(spec, str):
        cls = import_class(spec, what)
    elif isinstance(spec, Mapping):
        unknown = set(spec) - {"class_path", "init_args"}
        if "class_path" not in spec or unknown:
            raise ConfigError(
                f"{what}: expected {{class_path: module.Class, init_args: {{...}}}}, got keys "
                f"{sorted(spec)}"
            )
        cls = import_class(str(spec["class_path"]), what)
        init_args = dict(spec.get("init_args") or {})
    else:
        raise ConfigError(
            f"{what}: expected a class path or {{class_path, init_args}}, got {spec!r}"
        )
    try:
        return cls(**{**defaults, **init_args})
    except TypeError as error:
        raise ConfigError(
            f"{what}: cannot build {cls.__module__}.{cls.__qualname__}: {error}"
        ) from None
