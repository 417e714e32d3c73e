"""One way from an import path in a config to the code: ``aigenbench.classpath``."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch

from aigenbench.classpath import import_class, import_object, instantiate
from aigenbench.errors import ConfigError


def test_import_object_and_its_errors():
    assert import_object("collections.OrderedDict", "x") is OrderedDict
    assert import_object("AdamW", "x", default_module="torch.optim") is torch.optim.AdamW
    with pytest.raises(ConfigError, match=r"model.fusion: cannot import 'no_such_mod'"):
        import_object("no_such_mod.fn", "model.fusion")
    with pytest.raises(ConfigError, match=r"collections has no 'Nope'"):
        import_object("collections.Nope", "x")
    with pytest.raises(ConfigError, match="not an import path"):
        import_object("Nope", "x")


def test_import_class_checks_the_base():
    assert import_class("torch.optim.SGD", "opt", base=torch.optim.Optimizer) is torch.optim.SGD
    with pytest.raises(
        ConfigError, match=r"is not a subclass of torch\.optim\.optimizer\.Optimizer"
    ):
        import_class("collections.OrderedDict", "opt", base=torch.optim.Optimizer)
    with pytest.raises(ConfigError, match="is not a class"):
        import_class("os.getcwd", "thing")


def test_instantiate_mapping_path_and_class_with_defaults():
    built = instantiate(
        {"class_path": "collections.Counter", "init_args": {"b": 2}}, "counter", a=1, b=0
    )
    assert built == {"a": 1, "b": 2}  # init_args override the defaults
    assert instantiate("collections.Counter", "counter", a=3) == {"a": 3}
    assert instantiate(OrderedDict, "d") == OrderedDict()
    with pytest.raises(ConfigError, match="got keys"):
        instantiate({"init_args": {}}, "data.train_pipeline")
    with pytest.raises(ConfigError, match=r"data\.train_pipeline: cannot build"):
        instantiate(
            {"class_path": "fractions.Fraction", "init_args": {"x": 1}}, "data.train_pipeline"
        )


def test_every_config_path_goes_through_it():
    """Optimiser, fusion and method names by path use the helper (its messages show)."""
    from aigenbench.methods import resolve_method
    from aigenbench.models.fusion import resolve_fusion
    from aigenbench.training.schedules import optimizer_class

    assert optimizer_class("AdamW") is torch.optim.AdamW
    with pytest.raises(ConfigError, match=r"model.optimizer.class_path .*is not a subclass"):
        optimizer_class("collections.OrderedDict")
    assert resolve_fusion("torch.amax") is torch.amax
    with pytest.raises(ConfigError, match=r"model\.fusion: cannot import"):
        resolve_fusion("no_such_mod.fuse")
    with pytest.raises(
        ConfigError, match=r"model\.method .collections\.OrderedDict..*not a subclass"
    ):
        resolve_method("collections.OrderedDict")
