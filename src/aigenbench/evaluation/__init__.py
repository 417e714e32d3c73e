"""Everything after training: the predictions file, the protocol's metrics, the report.

Needs only predictions files, so it evaluates the official framework's files as well.
"""

from aigenbench.evaluation.binary import METRIC_KEYS, SubsetMetrics
from aigenbench.evaluation.experiment import (
    discover_predictions,
    evaluate_experiment,
    write_summary,
    write_window_metrics,
)
from aigenbench.evaluation.metrics import (
    SUBSETS,
    EvaluationOptions,
    RunEvaluation,
    WindowEvaluation,
    evaluate_files,
    evaluate_window,
)
from aigenbench.evaluation.predictions import (
    Predictions,
    build_predictions,
    find_predictions,
    load_predictions,
    predictions_file_name,
    save_predictions,
)
from aigenbench.evaluation.transfer import TransferMetrics, transfer_metrics
from aigenbench.scoring import fake_scores

__all__ = [
    "METRIC_KEYS",
    "SUBSETS",
    "EvaluationOptions",
    "Predictions",
    "RunEvaluation",
    "SubsetMetrics",
    "TransferMetrics",
    "WindowEvaluation",
    "build_predictions",
    "discover_predictions",
    "evaluate_experiment",
    "evaluate_files",
    "evaluate_window",
    "fake_scores",
    "find_predictions",
    "load_predictions",
    "predictions_file_name",
    "save_predictions",
    "transfer_metrics",
    "write_summary",
    "write_window_metrics",
]
