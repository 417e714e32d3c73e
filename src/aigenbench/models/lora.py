"""LoRA adapters on a backbone (``freezing: lora``), through ``peft``.

The backbone's weights stay as they are; each targeted projection ``W`` gains a trainable
low-rank update, ``W x + (alpha / r) B A x`` (Hu et al., 2021). ``nn.Linear`` layers (timm,
transformers, open_clip MLPs) and ``nn.MultiheadAttention`` (open_clip's attention) are both
adapted by peft. :func:`merge_lora` folds the updates into the weights and removes the adapter
modules, so a merged detector is a plain model of the backbone's own architecture.
"""

from __future__ import annotations

from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.models.config import LoraSettings

LORA_MARKER = "lora_"
"""Parameter names of the adapters contain this (peft's naming): the only trainable ones."""

DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    # timm ViTs (and DINOv2 / CLIP through timm): fused qkv, output projection, MLP
    "timm": ("qkv", "proj", "fc1", "fc2"),
    # open_clip towers: nn.MultiheadAttention (in and out projections) and the MLP
    "open_clip": ("attn", "c_fc", "c_proj"),
    # transformers ViT / DINOv2 / CLIP vision models
    "hf": (
        "query",
        "key",
        "value",
        "dense",
        "q_proj",
        "k_proj",
        "v_proj",
        "out_proj",
        "fc1",
        "fc2",
    ),
}


def default_targets(module: nn.Module) -> list[str]:
    """The attention/MLP projection names present in ``module`` (see :data:`DEFAULT_TARGETS`)."""
    leaf_names = {name.rpartition(".")[2] for name, _ in module.named_modules()}
    for names in DEFAULT_TARGETS.values():
        present = [n for n in names if n in leaf_names]
        # a family is recognised by its attention projection, not by a generic MLP name
        if present and present[0] not in ("fc1", "fc2"):
            return present
    raise ConfigError(
        "freezing: lora found no attention/MLP projection it knows in this backbone (looked for "
        + "; ".join(", ".join(v) for v in DEFAULT_TARGETS.values())
        + "); name the modules to adapt in model.lora.targets"
    )


def inject_lora(module: nn.Module, settings: LoraSettings) -> list[str]:
    """Add LoRA adapters to ``module`` in place; only the adapters stay trainable.

    Returns the targeted module names. The updates start at zero (peft's default ``B = 0``),
    so the adapted backbone first computes exactly what the pretrained one did.
    """
    from peft import LoraConfig, inject_adapter_in_model

    targets = list(settings.targets) if settings.targets else default_targets(module)
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,  # type: ignore[arg-type]  # peft takes any number
        lora_dropout=settings.dropout,
        target_modules=targets,
    )
    try:
        inject_adapter_in_model(config, module)
    except ValueError as error:  # peft: "Target modules ... not found in the base model"
        names = sorted({name.rpartition(".")[2] for name, _ in module.named_modules() if name})
        raise ConfigError(
            f"model.lora.targets {targets} do not match the backbone's modules ({error}); "
            f"module names in it: {', '.join(names[:40])}"
        ) from None
    for name, parameter in module.named_parameters():
        parameter.requires_grad_(LORA_MARKER in name)
    return targets


def has_lora(module: nn.Module) -> bool:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return any(isinstance(m, BaseTunerLayer) for m in module.modules())


def merge_lora(module: nn.Module) -> None:
    """Fold every adapter into its base weights and put the base layers back, in place."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    while True:
        found = next(
            ((n, m) for n, m in module.named_modules() if isinstance(m, BaseTunerLayer)), None
        )
        if found is None:
            return
        name, layer = found
        if not layer.merged:  # an outer layer (MultiheadAttention) also merges its inner ones
            layer.merge()
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, layer.get_base_layer())
