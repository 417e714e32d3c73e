"""Detection methods: the default detector, the zoo of published ones, and yours.

A method is a subclass of :class:`Method` (the LightningModule that trains a window) that
overrides the hooks it needs (docs/METHODS.md lists them: network parts, loss, optimiser,
metrics, score fusion, pixel augmentations, window start/end). Name it in a config with
``model.method``: a registered name (:func:`register_method`) or the class's import path.
The names live in :mod:`aigenbench.models.method_registry`, which imports no method: this
package sits above ``training`` (its base class) in the layers of docs/DESIGN.md, and nothing
below it imports a method; they look one up by name.
"""

from __future__ import annotations

from aigenbench.data.pipelines import EvalAugmentation, TrainAugmentation
from aigenbench.models.method_registry import (
    available_methods,
    method_name,
    register_method,
    resolve_method,
    unregister_method,
)
from aigenbench.training.module import DetectorModule

Method = DetectorModule
"""The base class of every method (the default method itself)."""


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
