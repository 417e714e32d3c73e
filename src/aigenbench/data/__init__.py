"""Rows to tensors: dataset sources, robust decoding, pixel pipelines, the window DataModule, and
the built-in synthetic benchmark.

Names are imported lazily (``from aigenbench.data import open_source`` does not import Lightning).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DataConfig": "aigenbench.data.config",
    "ImageSource": "aigenbench.data.sources",
    "open_source": "aigenbench.data.sources",
    "UnreadableImage": "aigenbench.data.decode",
    "decode_image": "aigenbench.data.decode",
    "decode_file": "aigenbench.data.decode",
    "TrainPipeline": "aigenbench.data.pipelines",
    "EvalPipeline": "aigenbench.data.pipelines",
    "EvaluationDegradations": "aigenbench.data.pipelines",
    "BaselineTrainAugmentation": "aigenbench.data.pipelines",
    "TrainingDataset": "aigenbench.data.loading",
    "EvaluationDataset": "aigenbench.data.loading",
    "WindowSampler": "aigenbench.data.sampler",
    "WindowDataModule": "aigenbench.data.datamodule",
    "make_train_pipeline": "aigenbench.data.datamodule",
    "make_eval_pipeline": "aigenbench.data.datamodule",
    "collate_training": "aigenbench.data.batch",
    "collate_evaluation": "aigenbench.data.batch",
    "SynthConfig": "aigenbench.data.synth",
    "build_synthetic": "aigenbench.data.synth",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'aigenbench.data' has no attribute {name!r}")
