"""Every tolerance and physical limit in one place, so a reviewer can audit them together."""

import math

#: Relative dose tolerance that the G-code must meet (contract in DESIGN.md).
DOSE_TOLERANCE = 0.01
#: Relative dose error the closure loop aims for (well inside the tolerance).
DOSE_AIM = 0.003
#: Relative tolerance for the design-level solver (predicted vs prescribed dose).
DESIGN_SOLVER_TOLERANCE = 1e-4

#: A formulation's filament and the printer's feed diameter may differ by this much
#: (relative) at most: E is volume ÷ (π·d²/4), so a diameter off by x moves every tablet's
#: dose by about 2x (5e-4 → 0.1 %; 1.78 mm filament on a 1.75 mm setting over-doses 3.5 %).
FILAMENT_DIAMETER_REL_TOL = 5e-4

#: Patient weight range accepted for mg/kg dosing (premature neonate to bariatric adult).
WEIGHT_MIN_KG = 0.3
WEIGHT_MAX_KG = 250.0
AGE_MAX_YEARS = 125.0

#: A dose computed as mg/kg × weight is rounded to this many significant figures, a dose
#: that can be measured and labelled (DOMAIN.md: "rounded to a measurable dose"): 0.35
#: mg/kg × 7.5 kg = 2.625 mg becomes 2.63 mg, at most 0.5 % from the product.
PER_KG_DOSE_SIGNIFICANT_FIGURES = 3

#: Per-row infill range accepted from a prescription.
INFILL_MIN = 0.1
INFILL_MAX = 1.0

QUANTITY_MIN = 1
QUANTITY_MAX = 500

#: rx_id: letters, digits, underscore, hyphen, dot; never starts with a dot (no hidden files,
#: no path traversal) and is at most 64 characters.
RX_ID_PATTERN = r"^[A-Za-z0-9_\-][A-Za-z0-9_\-.]{0,63}$"

#: Mini-tablet diameter range (mm), from paediatric mini-tablet practice (DOMAIN.md).
MINITABLET_MIN_MM = 2.0
MINITABLET_MAX_MM = 3.0

#: Relative agreement required between analytic and mesh volume/area.
MESH_AGREEMENT = 0.005

#: An immediate-release wish whose predicted t80 is above this (min) gets a warning.
#: Conventional immediate-release dissolution specifications ask for Q = 75–80 % dissolved
#: within 30–60 min (USP <711> default Q at 45 min; FDA dissolution guidance, 1997); a
#: tablet predicted to need longer is not what an "immediate" prescription expects.
IMMEDIATE_RELEASE_T80_MIN = 45.0
#: Extended-release specifications reach their last stage (≥ 75–80 % dissolved) after
#: hours, typically 8 h or more (USP <711> extended-release acceptance tables); a tablet
#: predicted to reach 80 % within 2 h releases like an immediate one, whatever was asked.
SUSTAINED_RELEASE_T80_MIN = 120.0


# -- process tolerances and decision thresholds, each used by one module --------------

#: Travel longer than this (mm, 3D) stops the flow (retract / suck-back) on E-axis
#: extruders; shorter hops are not worth the stop-and-go.
RETRACT_MIN_TRAVEL_MM = 1.0

#: Retract/prime imbalance (E units) still taken as balanced: float noise of absolute E.
E_BALANCE_TOL = 1e-6
#: Pneumatic bead laid (flow ÷ feed) vs planned: the feed is written to 0.001 mm/min.
PNEUMATIC_FEED_TOL = 1e-5

#: No non-mini tablet narrower than this (mm): below it a mini-tablet is the right form.
MIN_TABLET_WIDTH_MM = 4.0

#: How close to the prescription the loop stops (well inside `DOSE_AIM`).
STOP_AT = DOSE_AIM / 3

#: A target missed by more than this (relative, on t80) is reported as a warning.
TARGET_TOLERANCE = 0.10

#: f1/f2 regulatory thresholds (EMA / FDA), explained in `release.compare`'s docstring.
F2_SIMILAR = 50.0
F1_SIMILAR = 15.0
MIN_POINTS = 3
PLATEAU_PCT = 85.0
RAPID_TIME_MIN = 15.0
CV_EARLY_MAX = 20.0
CV_LATE_MAX = 10.0

#: (designed mass below, allowed deviation) — Ph. Eur. 2.9.5, uncoated tablets: 10 % up to
#: and including 80 mg, 7.5 % above 80 and below 250 mg, 5 % from 250 mg.
MASS_LIMITS: tuple[tuple[float, float], ...] = ((80.0, 0.10), (250.0, 0.075), (math.inf, 0.05))

#: Re-read G-code volume must match the toolpath volume this closely: relative, and an
#: absolute floor for tiny parts (the writer keeps each tablet's E within 5e-6 of exact).
VOLUME_AGREEMENT = 1e-4
VOLUME_AGREEMENT_MM3 = 1e-4
