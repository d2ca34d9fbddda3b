"""Dose → tablet design: choose shape, dimensions and infill that hold the exact dose.

The deposited volume of a printed tablet is not its mesh volume: walls and top/bottom
layers are solid while the core is at the infill density. The solver therefore sizes the
tablet against a *volume predictor* that models the real toolpath (by default the slicer's
own `predict_deposited_volume_mm3`), not against the envelope.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import trimesh

from dosecraft import constants as C
from dosecraft.constants import MIN_TABLET_WIDTH_MM
from dosecraft.dose.checks import check_prescription
from dosecraft.dose.geometry import family_for, mesh_for_dimensions
from dosecraft.dose.limits import SizeBand, band_for_age
from dosecraft.dose.shapes import ShapeFamily
from dosecraft.dose.strategy import choose_infill
from dosecraft.errors import InfeasibleDose, InvalidPrescription
from dosecraft.model.design import InfillStrategy, TabletDesign
from dosecraft.model.enums import ReleaseKind, ShapeKind, Technology
from dosecraft.model.formulation import Formulation
from dosecraft.model.prescription import Prescription
from dosecraft.model.profile import PrinterProfile

#: (mesh, profile, infill density) → deposited volume in mm³.
VolumePredictor = Callable[[trimesh.Trimesh, PrinterProfile, float], float]


def default_predictor(mesh: trimesh.Trimesh, profile: PrinterProfile, density: float) -> float:
    """The slicer's layer model of the deposited volume (imported lazily: slicer is heavy)."""
    from dosecraft.slicer import predict_deposited_volume_mm3

    return predict_deposited_volume_mm3(mesh, profile, density)


def layer_heights(profile: PrinterProfile, layers: int) -> float:
    """Total height of `layers` layers."""
    return profile.first_layer_height_mm + (layers - 1) * profile.layer_height_mm


def layers_for_height(profile: PrinterProfile, height_mm: float) -> int:
    """Nearest whole number of layers (≥ 1) for a height."""
    return max(1, round((height_mm - profile.first_layer_height_mm)
                        / profile.layer_height_mm) + 1)


@dataclass(frozen=True)
class _Fit:
    """Outcome of sizing one shape family: a size and layer count, or the dose range.

    `min_volume_mm3` and `max_volume_mm3` are the family's capacity when it does not fit;
    when it fits they are the volumes of the smallest and largest size at the chosen layer
    count, which bracket the target (the capacity itself is then never computed).
    """

    family: ShapeFamily
    size_mm: float | None
    layers: int | None
    volume_mm3: float | None
    min_volume_mm3: float
    max_volume_mm3: float


class _Sizer:
    """Sizes one family at one density against the volume predictor."""

    def __init__(self, fam: ShapeFamily, profile: PrinterProfile, band: SizeBand,
                 density: float, predictor: VolumePredictor) -> None:
        self.fam, self.profile, self.band = fam, profile, band
        self.density, self.predictor = density, predictor
        self.s_lo, self.s_hi = self._size_bounds()
        self.n_lo, self.n_hi = self._layer_bounds()
        # the layer search and the bracket check ask for the same corner tablets
        self._volumes: dict[tuple[float, int], float] = {}

    def _size_bounds(self) -> tuple[float, float]:
        unit = self.fam.dimensions(1.0, 1.0)
        length_per_size, width_per_size = self.fam.extent_mm(unit)
        max_extent = self.band.max_extent_mm(self.fam.kind)
        s_hi = max_extent / length_per_size
        feature = max(self.profile.min_feature_mm, 2 * self.profile.line_width_mm)
        s_lo = feature / self.fam.min_feature_mm(unit)
        if self.fam.kind == ShapeKind.MINITABLET:
            s_lo = max(s_lo, C.MINITABLET_MIN_MM)
            s_hi = min(s_hi, C.MINITABLET_MAX_MM)
        else:
            s_lo = max(s_lo, MIN_TABLET_WIDTH_MM / width_per_size)
        return s_lo, s_hi

    def _layer_bounds(self) -> tuple[int, int]:
        p = self.profile
        h_max = min(self.band.max_height_mm, p.max_z_mm)
        n_hi = int(math.floor((h_max - p.first_layer_height_mm) / p.layer_height_mm + 1e-9)) + 1
        # the core needs room for its solid skins, and a tablet thinner than 1 mm breaks
        n_lo = max(p.bottom_layers + p.top_layers, layers_for_height(p, 1.0))
        if self.fam.kind == ShapeKind.MINITABLET:
            n_lo = max(n_lo, layers_for_height(p, C.MINITABLET_MIN_MM * 0.8))
        return n_lo, n_hi

    def volume(self, size_mm: float, layers: int) -> float:
        key = (size_mm, layers)
        if key not in self._volumes:
            dims = self.fam.dimensions(size_mm, layer_heights(self.profile, layers))
            self._volumes[key] = self.predictor(mesh_for_dimensions(self.fam, dims),
                                                self.profile, self.density)
        return self._volumes[key]

    def capacity(self) -> tuple[float, float]:
        """(smallest, largest) deposited volume this family can take (mm³)."""
        if self.s_lo > self.s_hi or self.n_lo > self.n_hi:
            return math.inf, 0.0
        return self.volume(self.s_lo, self.n_lo), self.volume(self.s_hi, self.n_hi)

    def initial_size(self, volume_mm3: float) -> float:
        """Size whose envelope at the family's usual height holds the volume (V ∝ s³)."""
        ref = 10.0
        dims = self.fam.dimensions(ref, self.fam.default_height(ref))
        effective = min(1.0, self.density + 0.3)  # solid shells raise the mean density
        return ref * (volume_mm3 / (self.fam.volume_mm3(dims) * effective)) ** (1 / 3)

    def fit(self, volume_mm3: float) -> _Fit:
        if self.s_lo > self.s_hi or self.n_lo > self.n_hi:
            return _Fit(self.fam, None, None, None, math.inf, 0.0)
        s0 = min(max(self.initial_size(volume_mm3), self.s_lo), self.s_hi)
        n = min(max(layers_for_height(self.profile, self.fam.default_height(s0)), self.n_lo),
                self.n_hi)
        # Volume grows with size and with layers: a target bracketed by the smallest and
        # largest size at n lies inside the capacity, so the capacity's two extreme tablets
        # (a third of the solver's slicing) are only built when a layer search is needed,
        # before walking there (a target outside it would walk every layer).
        if self.volume(self.s_hi, n) < volume_mm3:
            if self.volume(self.s_hi, self.n_hi) < volume_mm3:
                return _Fit(self.fam, None, None, None, *self.capacity())
            while n < self.n_hi and self.volume(self.s_hi, n) < volume_mm3:
                n += 1
        if n > self.n_lo and self.volume(self.s_lo, n) > volume_mm3:
            if self.volume(self.s_lo, self.n_lo) > volume_mm3:
                return _Fit(self.fam, None, None, None, *self.capacity())
            while n > self.n_lo and self.volume(self.s_lo, n) > volume_mm3:
                n -= 1
        lo_v, hi_v = self.volume(self.s_lo, n), self.volume(self.s_hi, n)
        if not lo_v <= volume_mm3 <= hi_v:  # only where volume is not monotonic
            lo_v, hi_v = self.capacity()
            if not lo_v <= volume_mm3 <= hi_v:
                return _Fit(self.fam, None, None, None, lo_v, hi_v)
        size, vol = self._solve_size(volume_mm3, n, s0)
        return _Fit(self.fam, size, n, vol, lo_v, hi_v)

    def _solve_size(self, target: float, layers: int, s0: float) -> tuple[float, float]:
        """Secant iteration in log–log space (V ≈ a·sᵖ), bracketed by the size bounds."""
        lo, hi = self.s_lo, self.s_hi
        s = min(max(s0, lo), hi)
        v = self.volume(s, layers)
        exponent = 2.0
        for _ in range(40):
            if abs(v / target - 1) <= C.DESIGN_SOLVER_TOLERANCE:
                return s, v
            if v < target:
                lo = s
            else:
                hi = s
            s_new = s * (target / v) ** (1 / exponent)
            if not lo < s_new < hi:
                s_new = math.sqrt(lo * hi)  # secant left the bracket: bisect in log space
            v_new = self.volume(s_new, layers)
            if v_new != v and abs(math.log(s_new / s)) > 1e-12:
                exponent = min(max(math.log(v_new / v) / math.log(s_new / s), 0.5), 4.0)
            s, v = s_new, v_new
        if abs(v / target - 1) <= C.DESIGN_SOLVER_TOLERANCE * 10:
            return s, v
        raise InfeasibleDose(f"the size solver did not converge for {self.fam.kind.value} "
                             f"(last volume {v:.4g} mm³ for target {target:.4g} mm³)")


def _patient(rx: Prescription) -> str:
    """'a patient aged 7 years', or 'a patient of unstated age' (the adult band applies)."""
    if rx.age_years is None:
        return "a patient of unstated age"
    return f"a patient aged {rx.age_years:g} years"


def candidate_shapes(rx: Prescription, formulation: Formulation, band: SizeBand) -> list[ShapeKind]:
    """Shapes to try, best first: the prescribed one, or the age band's preferences.

    Children's bands list the caplet first (children prefer caplets). A sustained release
    prefers the lowest SA/V (cylinder); SSE gels slump, so domed faces are not offered.
    """
    if rx.shape is not None:
        if rx.shape not in band.shapes:
            allowed = ", ".join(s.value for s in band.shapes)
            raise InvalidPrescription(
                f"shape = {rx.shape.value}: not suitable for {_patient(rx)} ({band.name}); "
                f"suitable shapes: {allowed}", field="shape",
                value=rx.shape.value)
        return [rx.shape]
    shapes = [s for s in band.shapes if s != ShapeKind.MESH]
    if formulation.technology == Technology.SSE:
        shapes = [s for s in shapes if s != ShapeKind.BICONVEX]
    if rx.release == ReleaseKind.SUSTAINED and ShapeKind.CYLINDER in shapes:
        shapes.remove(ShapeKind.CYLINDER)
        shapes.insert(0, ShapeKind.CYLINDER)
    return shapes


def design_tablet(rx: Prescription, formulation: Formulation, profile: PrinterProfile, *,
                  predictor: VolumePredictor | None = None,
                  infill: InfillStrategy | None = None) -> TabletDesign:
    """Design a tablet that holds `rx`'s unit dose of `formulation` on `profile`.

    Parameters
    ----------
    rx, formulation, profile : the prescription and what it is printed from and on.
    predictor : deposited-volume model; defaults to the slicer's layer model.
    infill : force an infill strategy (used by the release inverse design).

    Raises
    ------
    InvalidPrescription
        The prescription does not match the formulation or printer, or breaks a dose limit.
    InfeasibleDose
        No allowed tablet holds the dose; the message gives the dose range that fits and how
        many units the dose needs.
    """
    check_prescription(rx, formulation, profile)
    predictor = predictor or default_predictor
    band = band_for_age(rx.age_years)
    target_mg = rx.unit_dose_mg
    required_mm3 = target_mg / formulation.drug_mg_per_mm3
    fits: list[_Fit] = []
    for kind in candidate_shapes(rx, formulation, band):
        fam = family_for(kind, rx.mesh_path)
        strategy = infill or choose_infill(rx, formulation, profile, kind)
        for density, reason in _densities(rx, strategy, infill is not None):
            fit = _Sizer(fam, profile, band, density, predictor).fit(required_mm3)
            fits.append(fit)
            if fit.size_mm is not None:
                chosen = InfillStrategy(density, strategy.pattern, strategy.angle_deg,
                                        reason or strategy.reason)
                return _make_design(rx, formulation, profile, fit, chosen, target_mg)
    raise InfeasibleDose(_infeasible_message(rx, formulation, band, fits, required_mm3))


def _densities(rx: Prescription, strategy: InfillStrategy,
               forced: bool) -> list[tuple[float, str]]:
    """The strategy's density, then (when the engine chose it) denser or sparser fallbacks."""
    options = [(strategy.density, "")]
    if rx.infill is None and not forced:
        if strategy.density < 1.0:
            options.append((1.0, "solid core: the dose does not fit at the default infill"))
        if rx.release == ReleaseKind.IMMEDIATE and strategy.density > 0.25:
            options.append((0.25, "open core: the dose is too small for the default infill"))
    return options


def _make_design(rx: Prescription, formulation: Formulation, profile: PrinterProfile,
                 fit: _Fit, infill: InfillStrategy, target_mg: float) -> TabletDesign:
    assert fit.size_mm is not None and fit.layers is not None and fit.volume_mm3 is not None
    dims = {k: float(v) for k, v in
            fit.family.dimensions(fit.size_mm, layer_heights(profile, fit.layers)).items()}
    mass = fit.volume_mm3 * formulation.density_mg_mm3 * formulation.mass_factor
    return TabletDesign(
        rx_id=rx.rx_id, formulation_id=formulation.id, printer_id=profile.id,
        shape=fit.family.kind, dimensions_mm=dims, infill=infill,
        layer_height_mm=profile.layer_height_mm,
        first_layer_height_mm=profile.first_layer_height_mm,
        line_width_mm=profile.line_width_mm, wall_count=profile.wall_count,
        top_layers=profile.top_layers, bottom_layers=profile.bottom_layers,
        volume_mm3=fit.family.volume_mm3(dims), surface_area_mm2=fit.family.area_mm2(dims),
        deposited_volume_mm3=fit.volume_mm3, mass_mg=mass, target_dose_mg=target_mg,
        predicted_dose_mg=mass * formulation.drug_loading, mesh_path=rx.mesh_path,
        size_mm=float(fit.size_mm),
    )


def _prescribed_limits(rx: Prescription) -> str:
    """' with the prescribed infill 0.3 (leave … empty to let dosecraft choose)', naming the
    prescription's own choices that cap the tablet, or ''."""
    fixed = [f"{name} {value}" for name, value in (
        ("infill", None if rx.infill is None or rx.infill >= 1 else f"{rx.infill:g}"),
        ("shape", None if rx.shape is None else rx.shape.value)) if value is not None]
    if not fixed:
        return ""
    names = " and ".join(f.split()[0] for f in fixed)
    return (f" with the prescribed {' and '.join(fixed)} (leave {names} empty to let "
            "dosecraft choose)")


def _infeasible_message(rx: Prescription, formulation: Formulation, band: SizeBand,
                        fits: list[_Fit], required_mm3: float) -> str:
    per_mm3 = formulation.drug_mg_per_mm3
    target = rx.unit_dose_mg
    largest = max(fits, key=lambda f: f.max_volume_mm3)
    smallest = min(fits, key=lambda f: f.min_volume_mm3)
    where = (f"for the {band.name} band (≤ {band.max_round_mm:g} mm round, ≤ "
             f"{band.max_length_mm:g} mm long, ≤ {band.max_height_mm:g} mm thick)")
    if required_mm3 > largest.max_volume_mm3:
        max_dose = largest.max_volume_mm3 * per_mm3
        if max_dose <= 0:
            return (f"no {', '.join(f.family.kind.value for f in fits)} tablet of "
                    f"'{formulation.id}' is printable {where}")
        units = math.ceil(target / max_dose)
        head = (f"dose {target:g} mg does not fit one tablet of '{formulation.id}' {where}: "
                f"the largest fitting tablet ({largest.family.kind.value}) holds "
                f"{max_dose:.4g} mg{_prescribed_limits(rx)}. ")
        # a split is only advice when each unit is itself printable
        min_unit = max(formulation.min_dose_per_unit_mg, smallest.min_volume_mm3 * per_mm3)
        if target / units >= min_unit:
            return (head + f"Give {units} units of {target / units:.4g} mg, or use a "
                    "formulation with a higher drug loading")
        return (head + f"Splitting does not help: {units} units of {target / units:.4g} mg "
                f"would each be below the smallest printable dose of {min_unit:.4g} mg. Use "
                "a formulation with a higher drug loading")
    min_dose = smallest.min_volume_mm3 * per_mm3
    return (f"dose {target:g} mg is below the smallest printable tablet of "
            f"'{formulation.id}' ({smallest.family.kind.value}, {min_dose:.4g} mg); use a "
            "formulation with a lower drug loading")
