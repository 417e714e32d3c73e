"""The AI-GenBench protocol as pure rules (no torch): timeline, windows, training and eval rows."""

from aigenbench.protocol.plan import BenchmarkPlan, ProtocolConfig, make_plan, windows_with_dates
from aigenbench.protocol.selection import (
    EvaluationSet,
    SplitIndex,
    evaluation_set,
    index_split,
    training_subset,
    training_windows,
)
from aigenbench.protocol.timeline import REAL_GENERATOR, Timeline, load_timeline
from aigenbench.protocol.windows import (
    BENCHMARK_TYPES,
    BenchmarkType,
    generator_id_to_name,
    make_windows,
)

__all__ = [
    "BENCHMARK_TYPES",
    "REAL_GENERATOR",
    "BenchmarkPlan",
    "BenchmarkType",
    "EvaluationSet",
    "ProtocolConfig",
    "SplitIndex",
    "Timeline",
    "evaluation_set",
    "generator_id_to_name",
    "index_split",
    "load_timeline",
    "make_plan",
    "make_windows",
    "training_subset",
    "training_windows",
    "windows_with_dates",
]
