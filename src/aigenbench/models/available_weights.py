"""Finding a model config's pretrained weights before anything runs (no model is built).

Kept apart from ``pretrained.py``: it asks each backbone family where its weights live, and the
families themselves use ``pretrained.py`` (so this module is imported only by the runner).
"""

from __future__ import annotations

from aigenbench.models.pretrained import torch_hub_file, weights_path
from aigenbench.models.registry import resolve_spec


def check_pretrained_weights(spec: str, pretrained: bool | str | None) -> None:
    """Find the pretrained weights a model config needs, before anything else runs.

    A path must exist; library weights (timm, open_clip, torchvision) must be in their cache or
    be downloadable now (then they are cached for the build). Transformers models are checked by
    transformers itself when built. A ConfigError names the file and where to put it.
    """
    if pretrained is None or pretrained is False:
        return
    if not isinstance(pretrained, bool):
        weights_path(pretrained)
        return
    family, name, _, _ = resolve_spec(spec)
    if family == "timm":
        import timm

        from aigenbench.models.timm_backbones import library_weights_file

        cfg = timm.models.get_pretrained_cfg(name)
        if cfg is not None:
            library_weights_file(name, cfg.to_dict())
    elif family == "torchvision":
        from aigenbench.models.torchvision_backbones import _weights

        arch, _, weights_name = name.partition("/")
        weights = _weights(arch, weights_name)
        torch_hub_file(weights.url, f"torchvision:{arch}/{weights.name}")
    elif family == "open_clip":
        from aigenbench.models.open_clip_backbones import _weights_file, import_open_clip

        open_clip = import_open_clip()
        arch, _, tag = name.partition("/")
        cfg = open_clip.get_pretrained_cfg(arch, tag) if tag else None
        if cfg:
            _weights_file(arch, tag, cfg)
