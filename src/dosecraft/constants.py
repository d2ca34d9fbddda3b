"""Every tolerance and physical limit in one place, so a reviewer can audit them together."""

#: Relative dose tolerance that the G-code must meet (contract in DESIGN.md).
DOSE_TOLERANCE = 0.01
#: Relative dose error the closure loop aims for (well inside the tolerance).
DOSE_AIM = 0.003
#: Relative tolerance for the design-level solver (predicted vs prescribed dose).
DESIGN_SOLVER_TOLERANCE = 1e-4

#: A formulation's filament and the printer's feed diameter may differ by this much
#: (relative) at most: E is volume ÷ (π·d²/4), so a diameter off by x moves every tablet's
#: dose by about 2x (5e-4 → 0.1 %; 1.78 mm filament on a 1.75 mm setting would be 3.4 %).
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
