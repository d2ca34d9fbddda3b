"""Release plots: predicted curves with t50/t80 markers, target and measured profiles.

`draw_release` draws onto any matplotlib Axes, so the GUI's embedded figure and the PDF's
PNG share one drawing code. `release_plot_png` renders with the Agg canvas on a bare
`Figure` (no pyplot), so it neither depends on nor disturbs the process's GUI backend and
holds no global figure state between calls.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dosecraft.model.results import ReleaseEstimate
from dosecraft.release.compare import Similarity

#: Beyond this many distinct curves the legend would hide the plot; a note replaces it.
MAX_LEGEND_CURVES = 10


@dataclass(frozen=True, eq=False)
class ReleaseCurve:
    """A predicted cumulative release curve, in percent.

    Attributes
    ----------
    label : legend text (usually the rx_id). time_min : (T,) minutes.
    percent : (T,) cumulative % released, 0–100. t50_min, t80_min : markers, or None.
    """

    label: str
    time_min: np.ndarray
    percent: np.ndarray
    t50_min: float | None = None
    t80_min: float | None = None

    @classmethod
    def from_estimate(cls, estimate: ReleaseEstimate, label: str = "") -> ReleaseCurve:
        """From a `ReleaseEstimate` (fractions 0–1)."""
        return cls(label, np.asarray(estimate.time_min, dtype=np.float64),
                   100.0 * np.asarray(estimate.fraction, dtype=np.float64),
                   estimate.t50_min, estimate.t80_min)

    @classmethod
    def from_dict(cls, release: Mapping[str, Any], label: str = "") -> ReleaseCurve:
        """From a batch.json `release` object: {curve: [[t, fraction], ...], t50_min, t80_min}."""
        pts = np.asarray(release.get("curve") or [], dtype=np.float64).reshape(-1, 2)
        return cls(label, pts[:, 0], 100.0 * pts[:, 1],
                   release.get("t50_min"), release.get("t80_min"))


@dataclass(frozen=True, eq=False)
class Profile:
    """A target or measured release profile, in percent.

    Attributes
    ----------
    time_min : (T,) minutes. percent : (T,) % released. sd : (T,) standard deviation for
    error bars, or None. label : legend text.
    """

    time_min: np.ndarray
    percent: np.ndarray
    sd: np.ndarray | None = None
    label: str = ""


CurveLike = ReleaseCurve | ReleaseEstimate | Mapping[str, Any]
ProfileLike = Profile | tuple[Any, Any] | tuple[Any, Any, Any]


def as_curve(obj: CurveLike, label: str = "") -> ReleaseCurve:
    """Coerce a `ReleaseCurve`, `ReleaseEstimate` or batch.json release dict to a curve."""
    if isinstance(obj, ReleaseCurve):
        return obj
    if isinstance(obj, ReleaseEstimate):
        return ReleaseCurve.from_estimate(obj, label)
    if isinstance(obj, Mapping):
        return ReleaseCurve.from_dict(obj, str(obj.get("label") or label))
    raise TypeError(f"cannot plot a {type(obj).__name__} as a release curve")


def as_profile(obj: ProfileLike | None, label: str) -> Profile | None:
    """Coerce a `Profile` or a (time_min, percent[, sd]) tuple; None stays None."""
    if obj is None or isinstance(obj, Profile):
        return obj
    t, p, *rest = obj
    sd = np.asarray(rest[0], dtype=np.float64) if rest and rest[0] is not None else None
    return Profile(np.asarray(t, dtype=np.float64), np.asarray(p, dtype=np.float64), sd, label)


def _merge_identical(curves: list[ReleaseCurve]) -> list[ReleaseCurve]:
    """One line per distinct curve: a batch often repeats a design for many patients."""
    merged: list[tuple[ReleaseCurve, list[str]]] = []
    for c in curves:
        for first, labels in merged:
            if (first.time_min.shape == c.time_min.shape
                    and np.array_equal(first.time_min, c.time_min)
                    and np.array_equal(first.percent, c.percent)):
                labels.append(c.label)
                break
        else:
            merged.append((c, [c.label]))
    out = []
    for first, labels in merged:
        text = ", ".join(labels[:3]) + (f" (+{len(labels) - 3})" if len(labels) > 3 else "")
        out.append(ReleaseCurve(text, first.time_min, first.percent,
                                first.t50_min, first.t80_min))
    return out


def draw_release(ax: Axes, curves: Sequence[CurveLike], target: ProfileLike | None = None,
                 measured: ProfileLike | None = None, similarity: Similarity | None = None,
                 *, title: str | None = None) -> None:
    """Draw predicted release curves (and optional target/measured profiles) onto `ax`.

    Parameters
    ----------
    ax : matplotlib Axes to draw on (cleared first).
    curves : predicted curves: `ReleaseCurve`, `ReleaseEstimate` or batch.json release dicts.
        Identical curves are drawn once with their labels joined.
    target : target profile, a `Profile` or (time_min (T,), percent (T,)); drawn dashed.
    measured : measured profile, a `Profile` or (time_min (T,), percent (T,)[, sd (T,)]);
        drawn as points with error bars.
    similarity : f1/f2 comparison of measured (or target) vs predicted; its factors and
        verdict are shown in the legend when given.
    title : axes title.
    """
    ax.clear()
    cs = _merge_identical([as_curve(c, f"curve {i + 1}") for i, c in enumerate(curves)])
    tgt = as_profile(target, "target")
    meas = as_profile(measured, "measured")
    t_max = 0.0
    for i, c in enumerate(cs):
        if c.time_min.size == 0:
            continue
        color = f"C{i % 10}"
        ax.plot(c.time_min, c.percent, color=color, lw=1.6, label=c.label or None)
        t_max = max(t_max, float(c.time_min.max()))
        if c.t50_min is not None:
            ax.plot([c.t50_min], [50.0], "o", mfc="white", mec=color, ms=5, zorder=3)
        if c.t80_min is not None:
            ax.plot([c.t80_min], [80.0], "v", color=color, ms=6, zorder=3)
            ax.vlines(c.t80_min, 0, 80.0, colors=color, lw=0.7, ls=":")
    if tgt is not None and tgt.time_min.size:
        ax.plot(tgt.time_min, tgt.percent, "k--", lw=1.4, label=tgt.label or "target")
        t_max = max(t_max, float(tgt.time_min.max()))
    if meas is not None and meas.time_min.size:
        ax.errorbar(meas.time_min, meas.percent, yerr=meas.sd, fmt="s", color="black",
                    mfc="white", ms=4, capsize=2, lw=0.8, label=meas.label or "measured")
        t_max = max(t_max, float(meas.time_min.max()))

    for level in (50.0, 80.0):
        ax.axhline(level, color="0.75", lw=0.6, ls="--", zorder=0)
    ax.set_xlim(0, t_max * 1.02 if t_max > 0 else 60.0)
    ax.set_ylim(0, 105)
    ax.set_xlabel("time (min)")
    ax.set_ylabel("released (%)")
    ax.grid(True, color="0.92", lw=0.5)
    if title:
        ax.set_title(title, fontsize=10)
    if not cs and tgt is None and meas is None:
        ax.text(0.5, 0.5, "no release predictions", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
        return

    handles, labels = ax.get_legend_handles_labels()
    if len(cs) > MAX_LEGEND_CURVES:
        # Keep target/measured entries; replace the per-curve entries by a count.
        keep = [(h, lab) for h, lab in zip(handles, labels, strict=True)
                if lab in {getattr(tgt, "label", None), getattr(meas, "label", None)}]
        handles = [Line2D([], [], color="0.5", lw=1.6)] + [h for h, _ in keep]
        labels = [f"{len(cs)} predicted curves"] + [lab for _, lab in keep]
    markers = [Line2D([], [], ls="", marker="o", mfc="white", mec="0.3", ms=5),
               Line2D([], [], ls="", marker="v", color="0.3", ms=6)]
    handles += markers
    labels += ["t50", "t80"]
    if similarity is not None and similarity.f2 is not None:
        handles.append(Line2D([], [], ls=""))
        labels.append(similarity_label(similarity))
    ax.legend(handles, labels, fontsize=7, loc="lower right", framealpha=0.9,
              ncol=2 if len(labels) > 8 else 1)


def similarity_label(similarity: Similarity) -> str:
    """Legend text: 'f2 = 61.2, f1 = 7.3 (similar)'; the verdict needs both factors."""
    verdict = {True: "similar", False: "not similar", None: "no decision"}[similarity.similar]
    if not similarity.applicable:
        verdict = ("similar: both release rapidly, f2 not needed" if similarity.similar
                   else "f2 not applicable")
    f1 = "" if similarity.f1 is None else f", f1 = {similarity.f1:.1f}"
    return f"f2 = {similarity.f2:.1f}{f1} ({verdict})"


def release_plot_png(curves: Sequence[CurveLike], target: ProfileLike | None = None,
                     measured: ProfileLike | None = None,
                     similarity: Similarity | None = None, *, title: str | None = None,
                     width_in: float = 7.0, height_in: float = 3.6,
                     dpi: int = 150) -> bytes:
    """Render `draw_release` to PNG bytes (see `draw_release` for the arguments).

    The PNG carries no software/time metadata, so equal inputs give equal bytes.
    """
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    draw_release(ax, curves, target, measured, similarity, title=title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
