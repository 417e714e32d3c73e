"""A backbone family registered by the user's own module, through fit and predict."""

from __future__ import annotations

import sys
import textwrap

from aigenbench.data.sources import open_source
from tests.training.conftest import fit_args

MODULE = textwrap.dedent(
    """
    from torch import nn
    from aigenbench.models import CLIP_MEAN, CLIP_STD, Backbone, register_backbone

    @register_backbone("usernet", overwrite=True)
    def make_usernet(name: str, pretrained: bool, width: int = 8, **options) -> Backbone:
        net = nn.Sequential(nn.Conv2d(3, width, 3, stride=2), nn.ReLU(),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        return Backbone(net, feature_dim=width, mean=CLIP_MEAN, std=CLIP_STD, input_size=32)
    """
)


def test_registered_family_trains_and_predicts(
    run_cli, tiny_benchmark, tiny_config, tmp_path, monkeypatch
):
    (tmp_path / "user_nets.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = fit_args(tiny_config, tiny_benchmark, tmp_path / "runs", "user")
    result = run_cli(
        *args,
        "--experiment.imports",
        "[user_nets]",
        "--model.backbone",
        "usernet:x",
        "--model.backbone_args",
        "{width: 4}",
        "--window",
        "0",
    )
    assert result.exit_code == 0, result.err
    image = tmp_path / "one.img"
    image.write_bytes(open_source(tiny_benchmark).read("validation", 0))
    scored = run_cli(
        "predict", tmp_path / "runs" / "user", image, "--import", "user_nets", "--no_progress"
    )
    assert scored.exit_code == 0, scored.err
    assert scored.out.splitlines()[1].split(",")[2] in ("fake", "real")
    sys.modules.pop("user_nets", None)


def test_a_module_that_does_not_import_is_a_clear_error(
    run_cli, tiny_benchmark, tiny_config, tmp_path
):
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "x"),
        "--experiment.imports",
        "[no_such_mod]",
    )
    assert result.exit_code == 2
    assert "cannot import 'no_such_mod'" in result.err
