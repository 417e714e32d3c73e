"""Method names: ``model.method`` (a registered name or an import path) <-> the method's class.

The registry holds classes, or import paths of classes not imported yet (the built-in zoo), so
it imports no method: ``models.build`` (which builds a checkpoint's network by its method's
name), ``training.module`` (whose subclasses record their own name) and a bundle's rescore
read it, and the methods (``aigenbench.methods``, a layer above training) import
``training.module`` — the imports flow one way (tests/architecture/test_layering.py). A method is a
subclass of ``aigenbench.training.module.DetectorModule``; that is checked on the class's
MRO by import path, for the same reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, overload

from aigenbench.classpath import import_class
from aigenbench.errors import ConfigError
from aigenbench.suggest import did_you_mean

if TYPE_CHECKING:
    from aigenbench.training.module import DetectorModule

M = TypeVar("M", bound="type[DetectorModule]")

BASE_CLASS = "aigenbench.training.module.DetectorModule"
"""Every method subclasses it (the default method itself, ``aigenbench.methods.Method``)."""

_BUILTINS: dict[str, str] = {
    "default": BASE_CLASS,
    "univfd": "aigenbench.methods.univfd.UnivFD",
    "cnndetection": "aigenbench.methods.cnndetection.CNNDetection",
    "npr": "aigenbench.methods.npr.NPR",
    "rine": "aigenbench.methods.rine.RINE",
    "effort": "aigenbench.methods.effort.Effort",
}
_METHODS: dict[str, type[DetectorModule] | str] = dict(_BUILTINS)


def _path(entry: object) -> str:
    if isinstance(entry, str):
        return entry
    return f"{getattr(entry, '__module__', '')}.{getattr(entry, '__qualname__', '')}"


def is_method(candidate: object) -> bool:
    """True for a class that subclasses DetectorModule (the base class included)."""
    return inspect.isclass(candidate) and any(
        _path(cls) == BASE_CLASS for cls in inspect.getmro(candidate)
    )


@overload
def register_method(name: str) -> Callable[[M], M]: ...
@overload
def register_method(name: str, cls: M, *, overwrite: bool = False) -> M: ...
def register_method(
    name: str, cls: M | None = None, *, overwrite: bool = False
) -> M | Callable[[M], M]:
    """Register a :class:`Method` subclass under ``name`` (``@register_method("mine")``)."""

    def add(method: M) -> M:
        if not is_method(method):
            raise ConfigError(
                f"register_method({name!r}): {method!r} is not a subclass of "
                "aigenbench.methods.Method"
            )
        known = _METHODS.get(name)
        same = known is method or _path(known) == _path(method)  # a module imported again
        if known is not None and not same and not overwrite:
            raise ConfigError(f"method {name!r} is already registered; pass overwrite=True")
        _METHODS[name] = method
        return method

    return add if cls is None else add(cls)


def unregister_method(name: str) -> None:
    _METHODS.pop(name, None)
    if name in _BUILTINS:
        _METHODS[name] = _BUILTINS[name]


def available_methods() -> list[str]:
    return sorted(_METHODS)


def resolve_method(name: str) -> type[DetectorModule]:
    """The Method class a config's ``model.method`` names (registered name or import path)."""
    entry = _METHODS.get(name)
    if entry is None and "." not in name:
        raise ConfigError(
            f"unknown method {name!r}."
            + did_you_mean(name, _METHODS)
            + f" Registered: {', '.join(sorted(_METHODS))}; or give a class's import path "
            "(my_package.my_method.MyMethod); the module that registers it must be imported: "
            "experiment.imports in a config, `aigenbench predict --import MODULE`"
        )
    if entry is None or isinstance(entry, str):
        path = name if entry is None else entry
        found = import_class(path, f"model.method {name!r}")
        if not is_method(found):
            raise ConfigError(
                f"model.method {name!r}: {path!r} is not a subclass of aigenbench.methods.Method"
            )
        entry = found
    return entry


def method_name(cls: type[DetectorModule]) -> str:
    """What ``model.method`` says for ``cls``: its registered name, else its import path."""
    for name, entry in _METHODS.items():
        if entry is cls or entry == _path(cls):
            return name
    return _path(cls)
