"""Swallowability limits per age band, read from `size_limits.toml` (site-configurable)."""

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dosecraft.errors import DosecraftError
from dosecraft.model.enums import ShapeKind

DEFAULT_LIMITS_FILE = Path(__file__).with_name("size_limits.toml")
#: Environment variable naming a site's own limits file.
LIMITS_ENV = "DOSECRAFT_SIZE_LIMITS"


@dataclass(frozen=True)
class SizeBand:
    """Largest tablet accepted for an age band; `shapes` in order of preference."""

    name: str
    min_age_years: float
    max_round_mm: float
    max_length_mm: float
    max_height_mm: float
    shapes: tuple[ShapeKind, ...]

    def max_extent_mm(self, shape: ShapeKind) -> float:
        """Largest lateral extent for a shape: round shapes use the round limit."""
        elongated = shape in (ShapeKind.CAPLET, ShapeKind.OVAL, ShapeKind.MESH)
        return self.max_length_mm if elongated else self.max_round_mm


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[SizeBand, ...]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        bands = tuple(
            SizeBand(
                name=str(b["name"]), min_age_years=float(b["min_age_years"]),
                max_round_mm=float(b["max_round_mm"]), max_length_mm=float(b["max_length_mm"]),
                max_height_mm=float(b["max_height_mm"]),
                shapes=tuple(ShapeKind(s) for s in b["shapes"]),
            )
            for b in data["band"]
        )
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise DosecraftError(f"size limits file {path} is invalid: {exc}") from exc
    return tuple(sorted(bands, key=lambda b: b.min_age_years))


def size_bands(path: str | os.PathLike | None = None) -> tuple[SizeBand, ...]:
    """All bands, youngest first (from `path`, $DOSECRAFT_SIZE_LIMITS, or the default)."""
    chosen = path or os.environ.get(LIMITS_ENV) or DEFAULT_LIMITS_FILE
    return _load(str(chosen))


def band_for_age(age_years: float | None, path: str | os.PathLike | None = None) -> SizeBand:
    """The band for an age; no age given means an adult."""
    bands = size_bands(path)
    if age_years is None:
        return bands[-1]
    chosen = bands[0]
    for band in bands:
        if age_years >= band.min_age_years:
            chosen = band
    return chosen
