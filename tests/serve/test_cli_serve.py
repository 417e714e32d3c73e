"""``aigenbench serve``'s refusals before it listens: one sentence, exit status not 0."""

from __future__ import annotations


def test_help_names_the_endpoints(run_cli):
    result = run_cli("serve", "--help")
    assert result.exit_code == 0
    assert "POST /score" in result.out and "127.0.0.1" in result.out


def test_a_missing_model_is_refused(run_cli, tmp_path):
    result = run_cli("serve", tmp_path / "nowhere")
    assert result.exit_code != 0
    assert "nowhere" in result.err and "Traceback" not in result.err


def test_an_unknown_threshold_name_is_refused(run_cli, exported):
    result = run_cli("serve", exported, "--threshold", "best_f2")
    assert result.exit_code != 0
    # An export of a run without evaluation has the 0.5 threshold only; the message lists it.
    assert "--threshold 'best_f2' is neither a number nor one of" in result.err
    assert "thresholds (0.5)" in result.err
