"""Backbones by name: ``family:name`` specs, short names for the baselines, user families.

A spec is ``<family>:<name>``, for example ``timm:convnext_tiny.fb_in1k``,
``torchvision:resnet50/IMAGENET1K_V2``, ``open_clip:ViT-L-14/openai`` or
``hf:facebook/dinov2-large``, or a short name (:data:`BASELINES` and any
:func:`register_alias`). Each family is a factory function; register yours like this::

    from torch import nn
    from aigenbench.models import CLIP_MEAN, CLIP_STD, Backbone, register_backbone

    @register_backbone("mynet")
    def make_mynet(name: str, pretrained: bool, **options) -> Backbone:
        # "mynet:wide" gives name == "wide"; options come from the config's backbone_args
        net = nn.Sequential(nn.Conv2d(3, 64, 7, stride=4), nn.ReLU(),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        return Backbone(net, feature_dim=64, mean=CLIP_MEAN, std=CLIP_STD, input_size=224)

then use ``backbone: mynet:wide`` in a model config (the module that registers must have
been imported when the model is built). ``register_backbone("mynet", make_mynet)`` does the
same without a decorator. A factory that also wants the
configured input size declares an ``input_size`` parameter. ``pretrained`` asks for the
library's own weights; a weights file named in the config (``pretrained: /path/w.safetensors``
or another run's ``.ckpt``) is loaded by the framework after the factory returns, so a
factory only has to build the architecture.

Errors are never hidden: an unknown family or short name is a :class:`ConfigError` listing
the close ones, and an exception raised inside a factory propagates unchanged (same type and
message) with a note saying which backbone was being built.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from aigenbench.errors import ConfigError
from aigenbench.models.backbone import CLIP_MEAN, CLIP_STD, Backbone

BackboneFactory = Callable[..., Backbone]
F = TypeVar("F", bound=BackboneFactory)


@dataclass(frozen=True)
class BackboneAlias:
    """A short name for a spec, with the options and normalisation that go with it."""

    spec: str
    description: str
    options: Mapping[str, Any] = field(default_factory=dict)
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    feature_dim: int | None = None
    """The documented feature size (checked against what the factory builds)."""


_FAMILIES: dict[str, BackboneFactory] = {}
_ALIASES: dict[str, BackboneAlias] = {}


@overload
def register_backbone(
    family: str, factory: None = None, *, overwrite: bool = False
) -> Callable[[F], F]: ...
@overload
def register_backbone(family: str, factory: F, *, overwrite: bool = False) -> F: ...
def register_backbone(
    family: str, factory: BackboneFactory | None = None, *, overwrite: bool = False
) -> Any:
    """Register a backbone family: ``factory(name, pretrained, **options) -> Backbone``.

    Usable as ``@register_backbone("mynet")`` or ``register_backbone("mynet", fn)``. The
    spec ``mynet:<name>`` calls ``fn(name, pretrained=..., **options)``; the bare spec
    ``mynet`` calls it with ``name=""``. Registering a taken family is an error unless
    ``overwrite`` (so two plugins cannot silently replace each other).
    """
    if not family or ":" in family or family != family.strip():
        raise ConfigError(
            f"backbone family {family!r} must be a non-empty name without ':' or spaces"
        )

    def add(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"the factory of backbone family {family!r} must be callable")
        if not overwrite and (family in _FAMILIES or family in _ALIASES):
            taken = _FAMILIES.get(family)
            raise ConfigError(
                f"backbone family {family!r} is already registered"
                + (f" (by {_qualified(taken)})" if taken is not None else " as a short name")
                + "; pick another name or pass overwrite=True"
            )
        _FAMILIES[family] = fn
        return fn

    return add if factory is None else add(factory)


def register_alias(
    name: str,
    spec: str,
    *,
    description: str = "",
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    feature_dim: int | None = None,
    overwrite: bool = False,
    **options: Any,
) -> None:
    """Give ``spec`` (with ``options`` and an optional normalisation) a short name."""
    if ":" in name:
        raise ConfigError(f"short backbone name {name!r} must not contain ':'")
    if not overwrite and (name in _ALIASES or name in _FAMILIES):
        raise ConfigError(
            f"backbone name {name!r} is already registered; pass overwrite=True to replace it"
        )
    _ALIASES[name] = BackboneAlias(spec, description, dict(options), mean, std, feature_dim)


def unregister_backbone(name: str) -> None:
    """Remove a family or short name (for tests and plugins that re-register)."""
    _FAMILIES.pop(name, None)
    _ALIASES.pop(name, None)


def available_backbones() -> dict[str, str]:
    """Every family (as ``family:<name>``) and short name, with a one-line description."""
    listing = {f"{family}:<name>": _first_doc_line(fn) for family, fn in _FAMILIES.items()}
    listing.update(
        {name: f"{alias.description} ({alias.spec})" for name, alias in _ALIASES.items()}
    )
    return listing


def resolve_spec(spec: str) -> tuple[str, str, dict[str, Any], BackboneAlias | None]:
    """``spec`` -> (family, name, alias options, alias); a ConfigError for an unknown one."""
    spec = str(spec).strip()
    alias = _ALIASES.get(spec)
    options: dict[str, Any] = {}
    if alias is not None:
        options = dict(alias.options)
        spec = alias.spec
    family, sep, name = spec.partition(":")
    if family in _FAMILIES:
        return family, name, options, alias
    raise ConfigError(_unknown_message(spec, has_colon=bool(sep)))


def check_backbone_spec(spec: str) -> None:
    """A ConfigError (with close names) for an unknown backbone, without building anything."""
    family, name, _, _ = resolve_spec(spec)
    if family == "timm":
        from aigenbench.models.timm_backbones import check_timm_name

        check_timm_name(name)


def build_backbone(
    spec: str,
    *,
    pretrained: bool | str | os.PathLike[str] = True,
    input_size: int | None = None,
    **options: Any,
) -> Backbone:
    """Build the backbone named by ``spec``.

    ``pretrained``: True for the library's weights (read from its cache; downloaded when
    online), False for random weights, or a path: a ``.safetensors`` / ``.pt`` / ``.pth`` /
    ``.bin`` file of the backbone's weights, or a ``.ckpt`` written by a training run whose
    encoder is reused. ``options`` are passed to the factory (after the short name's own).
    """
    from aigenbench.models.pretrained import load_backbone_weights, weights_path

    family, name, alias_options, alias = resolve_spec(spec)
    factory = _FAMILIES[family]
    call_options = {**alias_options, **options}
    path = weights_path(pretrained)
    if input_size is not None and _accepts(factory, "input_size"):
        call_options.setdefault("input_size", int(input_size))
    try:
        backbone = factory(name, pretrained=bool(pretrained) and path is None, **call_options)
    except Exception as error:
        # Keep the factory's own exception (type, message, traceback); only say where it came from.
        error.add_note(
            f"while building backbone {spec!r} with the {family!r} factory ({_qualified(factory)})"
        )
        raise
    if not isinstance(backbone, Backbone):
        raise ConfigError(
            f"the {family!r} backbone factory ({_qualified(factory)}) returned "
            f"{type(backbone).__name__}; it must return aigenbench.models.Backbone"
        )
    if alias is not None:
        backbone.mean = alias.mean or backbone.mean
        backbone.std = alias.std or backbone.std
        if alias.feature_dim is not None and alias.feature_dim != backbone.feature_dim:
            raise ConfigError(
                f"backbone {spec!r} gives {backbone.feature_dim}-dim features, its short name "
                f"documents {alias.feature_dim}: its options ({dict(alias.options)}) do not "
                "match the installed library version"
            )
    if input_size is not None:
        backbone.input_size = int(input_size)
    backbone.name = str(spec).strip()
    if path is not None:
        load_backbone_weights(backbone, path)
    return backbone


# ----------------------------------------------------------------------------- helpers


def _accepts(fn: Callable[..., Any], parameter: str) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == parameter or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _qualified(fn: object) -> str:
    module = getattr(fn, "__module__", "?")
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


def _first_doc_line(fn: object) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _unknown_message(spec: str, *, has_colon: bool) -> str:
    family = spec.partition(":")[0]
    known = sorted(_FAMILIES) + sorted(_ALIASES)
    close = difflib.get_close_matches(spec if not has_colon else family, known, n=5, cutoff=0.5)
    if not has_colon:
        close += [f"timm:{m}" for m in _timm_close_matches(spec)]
    what = f"backbone family {family!r}" if has_colon else f"backbone {spec!r}"
    message = f"unknown {what}"
    if close:
        message += "; did you mean: " + ", ".join(dict.fromkeys(close)) + "?"
    families = ", ".join(f"{f}:<name>" for f in sorted(_FAMILIES))
    message += (
        f"\nA backbone is a short name ({', '.join(sorted(_ALIASES)) or 'none'}) or a spec "
        f"{families}; register your own with aigenbench.models.register_backbone."
    )
    return message


def _timm_close_matches(name: str) -> list[str]:
    """Close timm model names (timm is a core dependency, but never fail a message on it)."""
    try:
        import timm
    except ImportError:  # pragma: no cover - timm is a core dependency
        return []
    if timm.is_model(name.partition(".")[0]):
        return [name]
    return difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.75)


# ----------------------------------------------------------------------------- built-ins


def _register_builtins() -> None:
    from aigenbench.models import (
        hf_backbones,
        open_clip_backbones,
        small_backbones,
        timm_backbones,
        torchvision_backbones,
    )

    register_backbone("timm", timm_backbones.make_timm_backbone)
    register_backbone("torchvision", torchvision_backbones.make_torchvision_backbone)
    register_backbone("open_clip", open_clip_backbones.make_open_clip_backbone)
    register_backbone("hf", hf_backbones.make_hf_backbone)
    register_backbone("small", small_backbones.make_small_backbone)

    # The protocol's three baselines (PROTOCOL.md §7), through timm, normalised with CLIP's
    # mean/std as the published baselines are (§6). CLIP backbones keep CLIP's own image
    # embedding (attention pool / projection), as the official models' features are.
    register_alias(
        "clip_rn50",
        "timm:resnet50_clip.openai",
        description="ResNet-50 CLIP (OpenAI), 1024-d attention-pooled image embedding",
        mean=CLIP_MEAN,
        std=CLIP_STD,
        feature_dim=1024,
        num_classes=1024,
    )
    register_alias(
        "clip_vitl14",
        "timm:vit_large_patch14_clip_224.openai",
        description="ViT-L/14 CLIP (OpenAI), 768-d projected image embedding",
        mean=CLIP_MEAN,
        std=CLIP_STD,
        feature_dim=768,
        num_classes=768,
    )
    register_alias(
        "dinov2_vitl14",
        "timm:vit_large_patch14_dinov2.lvd142m",
        description="ViT-L/14 DINOv2 (LVD-142M), 1024-d class token",
        mean=CLIP_MEAN,
        std=CLIP_STD,
        feature_dim=1024,
        num_classes=0,
    )
    # The official configs' ViT-L/14 CLIP probe (open_clip CommonPool-XL, L2-normalised
    # embedding), for exact comparisons with the published framework.
    register_alias(
        "clip_vitl14_commonpool",
        "open_clip:ViT-L-14/commonpool_xl_s13b_b90k",
        description="ViT-L/14 open_clip CommonPool-XL, L2-normalised 768-d embedding "
        "(the official framework's ViT-L/14 configs)",
        mean=CLIP_MEAN,
        std=CLIP_STD,
        feature_dim=768,
        normalize=True,
    )


BASELINES = ("clip_rn50", "clip_vitl14", "dinov2_vitl14")
"""Short names of the protocol's published baselines (ResNet-50 CLIP, ViT-L/14 CLIP/DINOv2)."""

_register_builtins()
