"""Detection methods: the default detector, the zoo of published ones, and yours.

A method is a subclass of :class:`Method` (the LightningModule that trains a window) that
overrides the hooks it needs (docs/METHODS.md lists them: network parts, loss, optimiser,
metrics, score fusion, pixel augmentations, window start/end). Name it in a config with
``model.method``: a registered name (:func:`register_method`) or the class's import path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, overload

from aigenbench.data.pipelines import EvalAugmentation, TrainAugmentation
from aigenbench.errors import ConfigError
from aigenbench.suggest import did_you_mean
from aigenbench.training.module import DetectorModule

Method = DetectorModule
"""The base class of every method (the default method itself)."""

M = TypeVar("M", bound=type[DetectorModule])

_BUILTINS: dict[str, str] = {
    "default": "aigenbench.training.module.DetectorModule",
    "univfd": "aigenbench.models.methods.univfd.UnivFD",
    "cnndetection": "aigenbench.models.methods.cnndetection.CNNDetection",
    "npr": "aigenbench.models.methods.npr.NPR",
    "rine": "aigenbench.models.methods.rine.RINE",
    "effort": "aigenbench.models.methods.effort.Effort",
}
_METHODS: dict[str, type[DetectorModule] | str] = dict(_BUILTINS)


@overload
def register_method(name: str) -> Callable[[M], M]: ...
@overload
def register_method(name: str, cls: M, *, overwrite: bool = False) -> M: ...
def register_method(
    name: str, cls: M | None = None, *, overwrite: bool = False
) -> M | Callable[[M], M]:
    """Register a :class:`Method` subclass under ``name`` (``@register_method("mine")``)."""

    def add(method: M) -> M:
        if not (isinstance(method, type) and issubclass(method, DetectorModule)):
            raise ConfigError(
                f"register_method({name!r}): {method!r} is not a subclass of "
                "aigenbench.models.methods.Method"
            )
        known = _METHODS.get(name)
        same = known is method or _path(known) == _path(method)  # a module imported again
        if known is not None and not same and not overwrite:
            raise ConfigError(f"method {name!r} is already registered; pass overwrite=True")
        _METHODS[name] = method
        return method

    return add if cls is None else add(cls)


def _path(entry: object) -> str:
    if isinstance(entry, str):
        return entry
    return f"{getattr(entry, '__module__', '')}.{getattr(entry, '__qualname__', '')}"


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
            "(my_package.my_method.MyMethod) and list its module in experiment.imports"
        )
    path = entry if isinstance(entry, str) else None
    if entry is None:
        path = name
    if path is not None:
        from aigenbench.classpath import import_class

        entry = import_class(path, f"model.method {name!r}", base=DetectorModule)
    assert isinstance(entry, type)
    return entry


def method_name(cls: type[DetectorModule]) -> str:
    """What ``model.method`` says for ``cls``: its registered name, else its import path."""
    for name, entry in _METHODS.items():
        if entry is cls or entry == f"{cls.__module__}.{cls.__qualname__}":
            return name
    return f"{cls.__module__}.{cls.__qualname__}"


__all__ = [
    "EvalAugmentation",
    "Method",
    "TrainAugmentation",
    "available_methods",
    "method_name",
    "register_method",
    "resolve_method",
    "unregister_method",
]
