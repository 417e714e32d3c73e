"""Quiet by default: no library banners, tips or deprecation warnings in a command's output.

Lightning's start-up lines ("GPU available: ...", tips) and the deprecation warnings that the
libraries raise about each other are not the user's business; the user's own warnings, and any
other warning a library raises, still show. Importing nothing heavy: set before any command.
"""

from __future__ import annotations

import logging
import warnings

# Libraries whose deprecation notices are about their own internals or each other's.
THIRD_PARTY = (
    "lightning|lightning_fabric|pytorch_lightning|torch|torchvision|torchmetrics|timm|"
    "transformers|open_clip|peft|huggingface_hub|datasets|jsonargparse|numpy|PIL|sklearn|"
    "matplotlib|tensorboard|tensorboardX|wandb|pydantic|google|pkg_resources|setuptools"
)
LIGHTNING_BANNERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
    "lightning.fabric.utilities.rank_zero",
)


def quiet_third_party() -> None:
    for name in LIGHTNING_BANNERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=rf"({THIRD_PARTY})(\.|$)")
    # Lightning reports torch's pytree deprecation through its own warning helper
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
