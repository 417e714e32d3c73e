"""Help that helps: every option described, descriptions as written, no formatting debris;
``fit --help`` leads with what users set; ``validate``/``test --help`` without torch."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from aigenbench.cli import COMMANDS

# "--flag METAVAR" then, on the same line or the next, a help that starts with "(type:" or
# "(default:": an option with no words of its own.
UNDESCRIBED = re.compile(r"^  (--[\w.]+)(?: \S+)*(?:\s{2,}|\n\s+)\((?:type|default):", re.M)


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"validate", "test"}))
def test_help_describes_every_option_without_debris(run_cli, command):
    result = run_cli(command, "--help")
    assert result.exit_code == 0
    assert "%%" not in result.out
    assert "<function" not in result.out and "<lambda>" not in result.out
    assert UNDESCRIBED.findall(result.out) == []


def test_descriptions_keep_their_line_breaks(run_cli):
    evaluate = run_cli("evaluate", "--help").out
    assert "\n  next     window k+1" in evaluate and "\n  past     windows 0..k-1" in evaluate
    assert "95% intervals" in evaluate and "1/5/10%," in evaluate
    robustness = run_cli("robustness", "--help").out
    words = " ".join(robustness.split())
    assert "\n  jpeg    Pillow re-encoding" in robustness
    assert "\n  noise   Gaussian noise" in robustness
    assert "one or more of jpeg, resize, blur, noise" in words


def test_fit_help_leads_with_what_users_set(run_cli):
    short = run_cli("fit", "--help").out
    head = short.splitlines()[:30]
    for flag in ("--config", "--dataset", "--backbone", "--model.method", "--model.freezing"):
        assert any(line.startswith(f"  {flag} ") for line in head), flag
    assert "protocol/sliding_windows" in short  # the shipped configs are named
    assert "fast_dev_run" not in short and "min_epochs" not in short
    # backbone: required in the config, which a --config file can give; not on the command line
    backbone = short[short.index("  --model.backbone BACKBONE") :].split("\n  --")[0]
    backbone = " ".join(backbone.split())
    assert "(required" not in backbone and "Required: in a --config, or --backbone" in backbone
    full = run_cli("fit", "--help", "full").out
    assert "--trainer.fast_dev_run" in full and "--trainer.max_time" in full
    assert len(full.splitlines()) > len(short.splitlines())
    for refused in ("limit_val_batches", "limit_test_batches", "num_sanity_val_steps"):
        assert f"--trainer.{refused}" not in full and f"--trainer.{refused}" not in short
    # hidden from help, still refused with the fix
    refused = run_cli("fit", "--backbone", "small:cnn", "--trainer.limit_val_batches", "2")
    assert refused.exit_code == 2 and "protocol.validation_subset_size" in refused.err


@pytest.mark.parametrize("command", ["validate", "test"])
def test_rescore_help_does_not_import_torch(command):
    code = (
        "import sys\nfrom aigenbench.cli import main\n"
        f"assert main([{command!r}, '--help']) == 0\n"
        "print('torch loaded' if 'torch' in sys.modules else 'no torch')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("no torch")
    assert f"usage: aigenbench {command} RUN_DIR" in result.stdout
