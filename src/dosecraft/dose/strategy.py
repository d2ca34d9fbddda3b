"""Release wish → infill strategy (density and pattern) for the tablet's core."""

from dosecraft.model.design import InfillStrategy
from dosecraft.model.enums import InfillPattern, ReleaseKind, ShapeKind
from dosecraft.model.formulation import Formulation
from dosecraft.model.prescription import Prescription
from dosecraft.model.profile import PrinterProfile


def choose_infill(rx: Prescription, formulation: Formulation, profile: PrinterProfile,
                  shape: ShapeKind) -> InfillStrategy:
    """Pick the core's infill density and pattern.

    A prescribed infill always wins. Mini-tablets are printed solid: their core is a few
    beads wide, too small for a sparse pattern to be reproducible. Otherwise the
    formulation's default for the release wish applies: an open (lower) infill exposes more
    surface and speeds release of an erodible matrix; a solid core slows it (DOMAIN.md).
    A `target_t80_min` is met by the release inverse design, which varies this density.
    """
    pattern = InfillPattern(profile.infill_pattern)
    angle = profile.infill_angle_deg
    if rx.infill is not None:
        return InfillStrategy(rx.infill, pattern, angle, "prescribed infill")
    if shape == ShapeKind.MINITABLET:
        return InfillStrategy(1.0, pattern, angle, "mini-tablets are printed solid")
    if rx.release == ReleaseKind.SUSTAINED:
        return InfillStrategy(formulation.infill_sustained, pattern, angle,
                              "formulation default for sustained release (dense core)")
    return InfillStrategy(formulation.infill_immediate, pattern, angle,
                          "formulation default for immediate release")
