"""String options as enums: an invalid value's error lists the valid choices."""

from enum import StrEnum


class Technology(StrEnum):
    FDM = "fdm"
    SSE = "sse"


class ShapeKind(StrEnum):
    CYLINDER = "cylinder"
    BICONVEX = "biconvex"
    CAPLET = "caplet"
    OVAL = "oval"
    TORUS = "torus"
    MINITABLET = "minitablet"
    MESH = "mesh"


class ReleaseKind(StrEnum):
    IMMEDIATE = "immediate"
    SUSTAINED = "sustained"


class Firmware(StrEnum):
    MARLIN2 = "marlin2"
    KLIPPER = "klipper"
    REPRAPFIRMWARE = "reprapfirmware"


class ExtruderKind(StrEnum):
    """How the E axis (or its absence) maps to deposited volume."""

    FILAMENT = "filament"
    SYRINGE = "syringe"
    VOLUMETRIC = "volumetric"
    PNEUMATIC = "pneumatic"


class ToolRole(StrEnum):
    OUTER_WALL = "outer_wall"
    INNER_WALL = "inner_wall"
    GAP_FILL = "gap_fill"
    INFILL = "infill"
    SOLID = "solid"
    TRAVEL = "travel"


class InfillPattern(StrEnum):
    RECTILINEAR = "rectilinear"
    GRID = "grid"
    TRIANGLES = "triangles"
    HONEYCOMB = "honeycomb"
    GYROID = "gyroid"
    CONCENTRIC = "concentric"


class ReleaseModelKind(StrEnum):
    """Which geometry-aware release estimator a formulation uses."""

    DIFFUSION = "diffusion"
    EROSION = "erosion"
    SAV_MDT = "sav_mdt"
