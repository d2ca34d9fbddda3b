"""Release plots: one drawing function for the GUI and the PDF."""

import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from dosecraft.model.results import ReleaseEstimate
from dosecraft.release.compare import Similarity
from dosecraft.reports import Profile, ReleaseCurve, draw_release, release_plot_png
from dosecraft.reports.plots import MAX_LEGEND_CURVES

T = np.linspace(0.0, 120.0, 61)


def curve(label: str, k: float) -> ReleaseCurve:
    pct = 100 * (1 - np.exp(-k * T))
    return ReleaseCurve(label, T, pct, np.log(2) / k, np.log(5) / k)


def axes():
    fig = Figure()
    FigureCanvasAgg(fig)
    return fig.add_subplot(1, 1, 1)


def legend_texts(ax) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


def test_png_bytes_and_size():
    png = release_plot_png([curve("RX-1", 0.05)], width_in=4, height_in=2, dpi=100)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size == (400, 200)
    assert png == release_plot_png([curve("RX-1", 0.05)], width_in=4, height_in=2, dpi=100)


def test_draw_release_markers_target_measured_and_f2():
    ax = axes()
    c = curve("RX-1", 0.04)
    draw_release(ax, [c], target=(T, 100 * (1 - np.exp(-0.045 * T))),
                 measured=Profile(np.array([15.0, 30, 45, 60]), np.array([42.0, 67, 84, 91]),
                                  np.array([2.0, 3, 2, 1]), "measured (n=6)"),
                 similarity=Similarity(4.225, 74.47, True, True, "", T[:4]))
    texts = legend_texts(ax)
    assert {"RX-1", "target", "measured (n=6)", "t50", "t80"} <= set(texts)
    assert "f2 = 74.5, f1 = 4.2 (similar)" in texts
    # t80 marker sits at (t80, 80 %)
    pts = {(round(x, 6), y) for ln in ax.get_lines() for x, y in ln.get_xydata()
           if ln.get_marker() == "v"}
    assert (round(c.t80_min, 6), 80.0) in pts
    assert ax.get_ylim() == (0.0, 105.0)


def test_from_estimate_and_from_batch_dict():
    est = ReleaseEstimate(T, 1 - np.exp(-0.05 * T), 13.9, 32.2, 20.0, "sav_mdt")
    c = ReleaseCurve.from_estimate(est, "RX-9")
    assert c.percent.max() <= 100.0 and c.t80_min == 32.2
    d = ReleaseCurve.from_dict(est.to_dict(points=10), "RX-9")
    assert d.time_min.size == 10 and d.t50_min == pytest.approx(13.9)
    ax = axes()
    draw_release(ax, [est, est.to_dict()])  # raw objects are accepted too
    assert len(legend_texts(ax)) >= 3


def test_identical_curves_are_merged_and_many_curves_collapse_the_legend():
    ax = axes()
    draw_release(ax, [curve(f"RX-{i}", 0.05) for i in range(6)])
    assert legend_texts(ax)[0] == "RX-0, RX-1, RX-2 (+3)"
    ax = axes()
    n = MAX_LEGEND_CURVES + 5
    verdict = Similarity(f1=22.0, f2=40.0, applicable=True, similar=False, reason="",
                         time_min=np.arange(4.0))
    draw_release(ax, [curve(f"RX-{i}", 0.01 + 0.01 * i) for i in range(n)], similarity=verdict)
    texts = legend_texts(ax)
    assert texts[0] == f"{n} predicted curves"
    assert "f2 = 40.0, f1 = 22.0 (not similar)" in texts


def test_empty_plot_says_so():
    ax = axes()
    draw_release(ax, [])
    assert any("no release predictions" in t.get_text() for t in ax.texts)
    assert release_plot_png([])[:4] == b"\x89PNG"
