"""Empirical release models, as DDSolver fits them (Zhang et al., AAPS J 2010;12:263).

Every model maps time (min) to cumulative % released. The registry `MODELS` holds, per
model, its function, parameter names, bounds and a data-driven initial guess, so the fitter
stays generic. Korsmeyer–Peppas is only meaningful on the first 60 % of release, so it
carries `fit_max_pct = 60`.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dosecraft.errors import ReleaseModelError

ModelFunction = Callable[..., np.ndarray]
GuessFunction = Callable[[np.ndarray, np.ndarray], tuple[float, ...]]

INF = np.inf


def _power(base: np.ndarray, exponent: float) -> np.ndarray:
    """base**exponent with 0**e = 0 for base ≤ 0 (no NaN from negative bases)."""
    b = np.clip(base, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(b > 0, b ** exponent, 0.0)
    return out


def zero_order(t: np.ndarray, k0: float) -> np.ndarray:
    return k0 * t


def first_order(t: np.ndarray, k1: float) -> np.ndarray:
    return 100.0 * (1.0 - np.exp(-k1 * t))


def higuchi(t: np.ndarray, kH: float) -> np.ndarray:
    return kH * np.sqrt(np.clip(t, 0.0, None))


def korsmeyer_peppas(t: np.ndarray, kKP: float, n: float) -> np.ndarray:
    return kKP * _power(t, n)


def korsmeyer_peppas_lag(t: np.ndarray, kKP: float, n: float, Tlag: float) -> np.ndarray:
    return kKP * _power(t - Tlag, n)


def hixson_crowell(t: np.ndarray, kHC: float) -> np.ndarray:
    # The cube-root law ends when the particle is gone: release stays at 100 % after 1/kHC.
    return 100.0 * (1.0 - np.clip(1.0 - kHC * t, 0.0, 1.0) ** 3)


def weibull(t: np.ndarray, Td: float, beta: float) -> np.ndarray:
    return 100.0 * (1.0 - np.exp(-_power(t / Td, beta)))


def weibull_lag(t: np.ndarray, Td: float, beta: float, Ti: float) -> np.ndarray:
    return 100.0 * (1.0 - np.exp(-_power((t - Ti) / Td, beta)))


def peppas_sahlin(t: np.ndarray, k1: float, k2: float, m: float) -> np.ndarray:
    tm = _power(t, m)
    return k1 * tm + k2 * tm * tm


# --- initial guesses: cheap closed forms so least squares starts in the right basin ------

def _positive(t: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = (t > 0) & (f > 0)
    if keep.sum() == 0:
        return np.array([max(float(t.max()), 1.0)]), np.array([1.0])
    return t[keep], f[keep]


def _t_at(t: np.ndarray, f: np.ndarray, level: float) -> float:
    order = np.argsort(t)
    t, f = t[order], np.maximum.accumulate(f[order])
    if f[-1] < level:  # not reached: extrapolate proportionally
        return float(t[-1] * level / max(f[-1], 1.0))
    return float(np.interp(level, f, t))


def _guess_zero(t: np.ndarray, f: np.ndarray) -> tuple[float, ...]:
    return (float(np.dot(t, f) / max(np.dot(t, t), 1e-12)),)


def _guess_first(t: np.ndarray, f: np.ndarray) -> tuple[float, ...]:
    return (np.log(2.0) / max(_t_at(t, f, 50.0), 1e-6),)


def _guess_higuchi(t: np.ndarray, f: np.ndarray) -> tuple[float, ...]:
    return (float(np.dot(np.sqrt(t), f) / max(t.sum(), 1e-12)),)


def _loglog(t: np.ndarray, f: np.ndarray) -> tuple[float, float]:
    tp, fp = _positive(t, f)
    if tp.size < 2 or np.ptp(np.log(tp)) == 0:
        return float(fp.mean() / np.sqrt(tp.mean())), 0.5
    n, log_k = np.polyfit(np.log(tp), np.log(fp), 1)
    return float(np.exp(log_k)), float(np.clip(n, 0.05, 1.5))


def _guess_kp(t: np.ndarray, f: np.ndarray) -> tuple[float, ...]:
    return _loglog(t, f)


def _guess_kp_lag(t: np.ndarray, f: np.ndarray) -> tuple[float, ...]:
    return (*_loglog(t, f), 0.0)


def _guess_hc(t: np.ndarray, f: np.ndarray) -> tuple[float, ...]:
    tp, fp = _positive(t, np.clip(f, 0.0, 99.9))
    return (float(np.mean((1.0 - np.cbrt(1.0 - fp / 100.0)) / tp)),)


def _guess_weibull(t: np.ndarray, f: np.ndarray) -> tuple[float, ...]:
    return (max(_t_at(t, f, 63.2), 1e-6), 1.0)


def _guess_weibull_lag(t: np.ndarray, f: np.ndarray) -> tuple[float, ...]:
    return (*_guess_weibull(t, f), 0.0)


def _guess_ps(t: np.ndarray, f: np.ndarray) -> tuple[float, ...]:
    tp, fp = _positive(t, f)
    m = 0.45
    basis = np.column_stack([tp**m, tp ** (2 * m)])
    (k1, k2), *_ = np.linalg.lstsq(basis, fp, rcond=None)
    return float(k1), float(k2), m


@dataclass(frozen=True)
class KineticModel:
    """One empirical release model.

    Attributes
    ----------
    name : registry key; equation : the formula as text (F in %, t in min).
    func : f(t, *params) → (T,) % released for (T,) times.
    param_names : parameter names in the order `func` takes them.
    lower, upper : bounds per parameter (±inf for none).
    guess : (t, F) → initial parameters from the data.
    fit_max_pct : fit only points whose mean release is ≤ this (None: all points).
    """

    name: str
    equation: str
    func: ModelFunction
    param_names: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    guess: GuessFunction
    fit_max_pct: float | None = None

    def __call__(self, t_min: np.ndarray, *params: float) -> np.ndarray:
        return self.func(np.asarray(t_min, dtype=float), *params)

    @property
    def n_params(self) -> int:
        return len(self.param_names)


MODELS: dict[str, KineticModel] = {m.name: m for m in (
    KineticModel("zero_order", "F = k0·t", zero_order, ("k0",), (0.0,), (INF,), _guess_zero),
    KineticModel("first_order", "F = 100·(1 − exp(−k1·t))", first_order, ("k1",), (0.0,),
                 (INF,), _guess_first),
    KineticModel("higuchi", "F = kH·√t", higuchi, ("kH",), (0.0,), (INF,), _guess_higuchi),
    KineticModel("korsmeyer_peppas", "F = kKP·t^n (F ≤ 60 %)", korsmeyer_peppas,
                 ("kKP", "n"), (0.0, 0.01), (INF, 2.0), _guess_kp, fit_max_pct=60.0),
    KineticModel("korsmeyer_peppas_lag", "F = kKP·(t − Tlag)^n (F ≤ 60 %)",
                 korsmeyer_peppas_lag, ("kKP", "n", "Tlag"), (0.0, 0.01, 0.0),
                 (INF, 2.0, INF), _guess_kp_lag, fit_max_pct=60.0),
    KineticModel("hixson_crowell", "F = 100·(1 − (1 − kHC·t)³)", hixson_crowell, ("kHC",),
                 (0.0,), (INF,), _guess_hc),
    KineticModel("weibull", "F = 100·(1 − exp(−(t/Td)^β))", weibull, ("Td", "beta"),
                 (1e-9, 0.05), (INF, 10.0), _guess_weibull),
    KineticModel("weibull_lag", "F = 100·(1 − exp(−((t − Ti)/Td)^β))", weibull_lag,
                 ("Td", "beta", "Ti"), (1e-9, 0.05, 0.0), (INF, 10.0, INF), _guess_weibull_lag),
    KineticModel("peppas_sahlin", "F = k1·t^m + k2·t^(2m)", peppas_sahlin, ("k1", "k2", "m"),
                 (-INF, -INF, 0.01), (INF, INF, 2.0), _guess_ps),
)}


def get_model(name: str | KineticModel) -> KineticModel:
    """Look a model up by name; the error lists the valid names."""
    if isinstance(name, KineticModel):
        return name
    try:
        return MODELS[name]
    except KeyError:
        raise ReleaseModelError(
            f"unknown release model '{name}'; valid models: {', '.join(MODELS)}"
        ) from None
