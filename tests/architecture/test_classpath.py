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


def test_a_moved_module_is_read_at_its_new_place():
    """Class paths recorded before the method zoo moved (models/methods/ -> methods/) load."""
    import aigenbench.methods.npr
    from aigenbench.classpath import current_module_path, import_modules
    from aigenbench.methods.univfd import UnivFD
    from aigenbench.models.method_registry import resolve_method

    assert import_class("aigenbench.models.methods.univfd.UnivFD", "model.method") is UnivFD
    assert resolve_method("aigenbench.models.methods.univfd.UnivFD") is UnivFD
    import_modules(["aigenbench.models.methods.npr"])  # experiment.imports of an older run
    assert aigenbench.methods.npr.NPR.__name__ == "NPR"
    # only whole module names move: a lookalike prefix is left alone, and still refused
    assert current_module_path("aigenbench.models.methodsX.A") == "aigenbench.models.methodsX.A"
    with pytest.raises(ConfigError, match=r"cannot import 'aigenbench\.models\.methodsX'"):
        import_object("aigenbench.models.methodsX.A", "model.method")


@pytest.mark.slow
def test_an_experiment_recorded_with_the_old_method_path_still_predicts(tmp_path, run_cli):
    """A run folder whose checkpoint and config.yaml name the zoo by its old module path
    (method and experiment.imports): the ``aigenbench`` console script, run from a fresh
    folder, scores with it exactly as with the same weights recorded under the new path."""
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np
    import yaml
    from PIL import Image

    from tests.export.conftest import zoo_checkpoint
    from tests.methods.conftest import ZOO

    image = tmp_path / "image.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), np.uint8)).save(image)
    runs = {}
    for module in ("aigenbench.models.methods.univfd", "aigenbench.methods.univfd"):
        root = tmp_path / module
        zoo_checkpoint(root, "univfd", method=f"{module}.UnivFD")  # same seed: same weights
        recorded = {
            "model": {**ZOO["univfd"], "method": f"{module}.UnivFD"},
            "experiment": {"imports": [module]},
        }
        (root / "run" / "config.yaml").write_text(yaml.safe_dump(recorded))
        runs[module] = root / "run"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    old = subprocess.run(
        [
            str(Path(sys.executable).parent / "aigenbench"),
            "predict",
            str(runs["aigenbench.models.methods.univfd"]),
            str(image),
            "--no_progress",
        ],
        cwd=fresh,
        capture_output=True,
        text=True,
        check=False,
    )
    assert old.returncode == 0, old.stderr
    new = run_cli("predict", runs["aigenbench.methods.univfd"], image, "--no_progress")
    assert new.exit_code == 0, new.err

    def score(out: str) -> float:
        return float(out.strip().splitlines()[-1].split(",")[1])

    assert score(old.stdout) == pytest.approx(score(new.out), abs=1e-6)


def test_user_code_importing_the_old_module_gets_the_moved_one(tmp_path):
    """A method module written before the move (``from aigenbench.models.methods import
    Method``) still registers its method; the zoo is not loaded twice; the warning names the
    new import. A fresh interpreter: the test session has imported the zoo already."""
    import subprocess
    import sys

    (tmp_path / "old_style.py").write_text(
        "from aigenbench.models.methods import Method, register_method\n\n\n"
        '@register_method("old_style")\n'
        "class OldStyle(Method):\n"
        "    pass\n"
    )
    check = (
        "import old_style\n"
        "import aigenbench.methods, aigenbench.methods.univfd as new\n"
        "import aigenbench.models.methods.univfd as old\n"
        "from aigenbench.models.method_registry import resolve_method\n"
        "assert resolve_method('old_style') is old_style.OldStyle\n"
        "assert issubclass(old_style.OldStyle, aigenbench.methods.Method)\n"
        "assert old is new and new.__spec__.name == 'aigenbench.methods.univfd'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert (
        "FutureWarning: aigenbench.models.methods has moved to aigenbench.methods: import that "
        "instead" in result.stderr
    )
