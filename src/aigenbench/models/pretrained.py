"""Pretrained weights: library caches, local weight files, another run's encoder.

Every checkpoint is read with ``torch.load(..., weights_only=True)`` (no code runs while
loading) or with safetensors. Loading checks that every tensor of the backbone is present
with the right shape; extra tensors in the file (a classifier the backbone dropped) are
reported and skipped.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.models.backbone import Backbone, StateDict

logger = logging.getLogger(__name__)

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
WEIGHT_SUFFIXES = (".safetensors", *TORCH_SUFFIXES)

DETECTOR_BACKBONE_PREFIX = "detector.backbone."
"""Where DetectorModule checkpoints keep the backbone's tensors (``state_dict`` keys)."""
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "module", "state_dict_ema")


def weights_path(pretrained: bool | str | os.PathLike[str] | None) -> Path | None:
    """The weights file a ``pretrained`` value names, or None for True/False."""
    if pretrained is None or isinstance(pretrained, bool):
        return None
    text = str(pretrained).strip()
    if text.lower() in ("true", "false", "yes", "no", ""):
        raise ConfigError(
            f"pretrained: {pretrained!r} is a string; write true/false without quotes or a "
            "path to a weights file"
        )
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"pretrained weights file {path} does not exist; give a .safetensors/.pt/.pth/.bin "
            "file of the backbone's weights or a training run's .ckpt (e.g. "
            "runs/<experiment>/window_<k>/checkpoints/final.ckpt)"
        )
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ConfigError(
            f"pretrained weights file {path} has suffix {path.suffix!r}; supported: "
            + ", ".join(WEIGHT_SUFFIXES)
        )
    return path


def read_weights_file(path: str | os.PathLike[str]) -> object:
    """The raw content of a weights file (safetensors, or torch.load with weights_only)."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        error.add_note(
            f"while reading {path} with torch.load(weights_only=True): only tensors and plain "
            "containers can be read; re-save the weights with safetensors or "
            "torch.save(model.state_dict())"
        )
        raise


def backbone_state_from(content: object, source: str) -> StateDict:
    """The backbone's tensors from a weights file's content.

    Accepts a plain state dict, a checkpoint wrapping one (``state_dict``, ``model``, ...),
    a Lightning checkpoint of :class:`~aigenbench.training.module.DetectorModule` (its
    ``detector.backbone.*`` tensors: reuse of another run's encoder) or a
    :class:`~aigenbench.models.detector.Detector` state dict (``backbone.*``).
    """
    state = _unwrap(content, source)
    for prefix in (DETECTOR_BACKBONE_PREFIX, "backbone."):
        picked = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        # A Detector state has exactly backbone.*, head.* and the mean/std buffers.
        if picked and (
            prefix == DETECTOR_BACKBONE_PREFIX
            or all(k.startswith(("backbone.", "head.")) or k in ("mean", "std") for k in state)
        ):
            return picked
    if state and all(k.startswith("module.") for k in state):  # saved from a DDP wrapper
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _unwrap(content: object, source: str) -> StateDict:
    for _ in range(3):
        if not isinstance(content, Mapping):
            break
        if content and all(isinstance(v, torch.Tensor) for v in content.values()):
            return dict(content)
        inner = next(
            (content[k] for k in _CONTAINER_KEYS if isinstance(content.get(k), Mapping)), None
        )
        if inner is None:
            break
        content = inner
    raise ConfigError(
        f"{source} holds no state dict of tensors (top-level type "
        f"{type(content).__name__}); save the weights with torch.save(model.state_dict()) or "
        "safetensors.torch.save_file"
    )


def load_backbone_weights(backbone: Backbone, path: str | os.PathLike[str]) -> None:
    """Load a weights file (or a run's checkpoint) into ``backbone.module``."""
    path = Path(path)
    state = backbone_state_from(read_weights_file(path), str(path))
    if backbone.adapt_state_dict is not None:
        state = backbone.adapt_state_dict(state)
    load_matching_state_dict(backbone.module, state, source=f"{path} (backbone {backbone.name!r})")


def load_matching_state_dict(
    module: nn.Module, state: Mapping[str, torch.Tensor], source: str
) -> list[str]:
    """Load ``state`` into ``module``: every module tensor must be there with its shape.

    Returns the keys of ``state`` the module has no place for (logged and skipped).
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or mismatched:
        lines = []
        if missing:
            lines.append(f"{len(missing)} tensors missing, e.g. {_few(missing)}")
        if mismatched:
            lines.append(f"{len(mismatched)} with another shape, e.g. {_few(mismatched)}")
        raise ConfigError(
            f"the weights in {source} do not fit the backbone: " + "; ".join(lines) + ". "
            f"The file's keys look like {_few(list(state))}. Check that the file belongs to "
            "this architecture (same backbone name and backbone_args)."
        )
    unexpected = [k for k in state if k not in own]
    if unexpected:
        logger.warning(
            "%s: %d tensors not used by the backbone (e.g. %s)",
            source,
            len(unexpected),
            _few(unexpected),
        )
    module.load_state_dict({k: state[k] for k in own}, strict=True)
    return unexpected


def _few(items: Iterable[str], n: int = 3) -> str:
    items = list(items)
    shown = ", ".join(items[:n])
    return shown + (f" (+{len(items) - n} more)" if len(items) > n else "")


# ----------------------------------------------------------------------------- library caches


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps downloaded files (``HF_HUB_CACHE`` / ``HF_HOME``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (read now, so a variable set after start-up counts too): no network
    attempt at all, for the hub and for weight URLs alike."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.strip().upper() in ("1", "ON", "YES", "TRUE")
    return bool(constants.HF_HUB_OFFLINE)


def cached_hub_file(repo_id: str, filenames: Iterable[str]) -> Path | None:
    """The first of ``filenames`` of ``repo_id`` present in the HF hub cache, without network."""
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str) and os.path.isfile(found):
            return Path(found)
    return None


def fetch_hub_file(repo_id: str, filenames: Iterable[str], what: str) -> Path:
    """A weights file of a hub repo: from the cache, else downloaded (when online)."""
    filenames = list(filenames)
    cached = cached_hub_file(repo_id, filenames)
    if cached is not None:
        return cached
    if hub_offline():
        raise missing_hub_weights(what, repo_id, filenames, reason="HF_HUB_OFFLINE is set")
    from huggingface_hub import hf_hub_download

    errors: list[BaseException] = []
    for filename in filenames:
        try:
            return Path(hf_hub_download(repo_id, filename))
        except Exception as error:  # one missing alternative is normal; report all if none
            errors.append(error)
            if _is_network_error(error):
                break
    raise missing_hub_weights(what, repo_id, filenames, reason=str(errors[-1])) from errors[-1]


def _is_network_error(error: BaseException) -> bool:
    from huggingface_hub.errors import LocalEntryNotFoundError

    return isinstance(error, (LocalEntryNotFoundError, ConnectionError, TimeoutError))


def missing_hub_weights(what: str, repo_id: str, filenames: list[str], reason: str) -> ConfigError:
    cache = hub_cache_dir()
    return ConfigError(
        f"the pretrained weights of {what} are not available ({reason}). They are the file "
        f"{' or '.join(filenames)} of the Hugging Face repository {repo_id!r}, expected in the "
        f"hub cache {cache} (HF_HUB_CACHE). Either download them on a machine with internet "
        f"(`hf download {repo_id} {filenames[0]}`) and copy the cache folder "
        f"{cache / ('models--' + repo_id.replace('/', '--'))} here, or give the file directly: "
        "`pretrained: /path/to/weights.safetensors` in the model config."
    )


def torch_hub_file(url: str, what: str) -> Path:
    """A weights URL's file in torch's hub cache (``TORCH_HOME``), downloaded when online."""
    target = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url.split("?")[0])
    if target.is_file():
        return target
    if hub_offline():
        raise ConfigError(
            f"the pretrained weights of {what} are not available (HF_HUB_OFFLINE is set, so "
            f"nothing is downloaded). Download {url} on a machine with internet and put it at "
            f"{target} (torch hub cache, TORCH_HOME), or give the file directly: "
            "`pretrained: /path/to/weights.pth` in the model config."
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(target), progress=False)
    except Exception as error:
        raise ConfigError(
            f"the pretrained weights of {what} are not available ({error}). Download {url} and "
            f"put it at {target} (torch hub cache, TORCH_HOME), or give the file directly: "
            "`pretrained: /path/to/weights.pth` in the model config."
        ) from error
    return target


# ----------------------------------------------------------------------------- fingerprints


def state_hash(module: nn.Module) -> str:
    """SHA-256 of a module's tensors (names, dtypes, shapes, values): equal weights, equal hash."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy())  # a view: no copy
    return digest.hexdigest()
