"""The configs shipped with aigenbench, reachable by name: ``--config protocol/sliding_windows``.

Every command's ``--config`` resolves these names (a file that exists wins), so it lives below
both the config sections and the command-line layer.
"""

from __future__ import annotations

from pathlib import Path

from aigenbench.errors import ConfigError

PACKAGED_CONFIGS = Path(__file__).parent / "configs"


def packaged_configs() -> list[str]:
    """The configs shipped with aigenbench, as names ``--config`` accepts (``protocol/...``)."""
    return sorted(
        str(path.relative_to(PACKAGED_CONFIGS).with_suffix(""))
        for path in PACKAGED_CONFIGS.rglob("*.yaml")
    )


def resolve_config_file(name: str) -> str:
    """A path that exists, or a shipped config named like ``protocol/sliding_windows(.yaml)``
    (also ``configs/...``). Anything else is a ConfigError listing the shipped ones."""
    if Path(name).exists():
        return name
    stem = name.removeprefix("configs/").removesuffix(".yaml").removesuffix(".yml")
    candidate = PACKAGED_CONFIGS / f"{stem}.yaml"
    if candidate.is_file():
        return str(candidate)
    from aigenbench.suggest import did_you_mean

    shipped = packaged_configs()
    hint = did_you_mean(stem, shipped, cutoff=0.5)
    raise ConfigError(
        f"config file {name} does not exist.{hint} Shipped configs: {', '.join(shipped)}"
    )
