"""Reading QC weights from CSV: good rows kept, each bad row reported with field and value."""

import numpy as np
import pytest

from dosecraft.batch.qc_run import mass_tolerance
from dosecraft.qc import QCError, read_weights_csv


def test_reads_good_file_with_bom_and_blank_lines(tmp_path):
    p = tmp_path / "w.csv"
    p.write_bytes("\ufefftablet_id,rx_id,mass_mg,content_pct\n"
                  "T1,RX-1,101.2,99.5\nT2,RX-1,99.8,\n\nT3,RX-2,250,\n".encode())
    wf = read_weights_csv(p)
    assert wf.ok and len(wf.rows) == 3
    assert wf.rows[0].content_pct == 99.5 and wf.rows[1].content_pct is None
    assert wf.rows[2].line == 5
    masses = wf.masses_by_rx()
    np.testing.assert_allclose(masses["RX-1"], [101.2, 99.8])
    assert set(wf.contents_by_rx()) == {"RX-1"}


def test_columns_in_any_order_without_content():
    wf = read_weights_csv(b"mass_mg,tablet_id,rx_id\n12.5,A,RX\n")
    assert wf.rows[0].mass_mg == 12.5 and wf.rows[0].tablet_id == "A"


@pytest.mark.parametrize(("line", "field", "fragment"), [
    ("T9,RX-1,12,5", None, "cells"),
    ("T9,RX-1,\"12,5\"", "mass_mg", "decimal comma"),
    ("T9,RX-1,12 mg", "mass_mg", "unit"),
    ("T9,RX-1,abc", "mass_mg", "not a number"),
    ("T9,RX-1,", "mass_mg", "empty"),
    ("T9,RX-1,-3", "mass_mg", "above 0"),
    ("T9,RX-1,0", "mass_mg", "above 0"),
    ("T9,RX-1,12000", "mass_mg", "5000"),
    ("T9,RX-1,nan", "mass_mg", "finite"),
    ("T9,../etc,12", "rx_id", "letters"),
    ("T 9,RX-1,12", "tablet_id", "letters"),
    ("T1,RX-1,12", "tablet_id", "duplicates line 2"),
])
def test_bad_rows_are_reported_and_good_rows_kept(line, field, fragment):
    data = f"tablet_id,rx_id,mass_mg\nT1,RX-1,100\n{line}\nT3,RX-1,101\n".encode()
    wf = read_weights_csv(data)
    assert [r.tablet_id for r in wf.rows] == ["T1", "T3"]
    assert len(wf.errors) == 1
    err = wf.errors[0]
    assert err.line == 3 and err.field == field
    assert fragment in str(err)


def test_bad_content_pct():
    wf = read_weights_csv(b"tablet_id,rx_id,mass_mg,content_pct\nT1,R,100,250\n")
    assert wf.errors[0].field == "content_pct" and "0" in wf.errors[0].message


@pytest.mark.parametrize(("data", "fragment"), [
    (b"", "empty"),
    (b"tablet_id,rx_id\nT1,R\n", "missing column(s) mass_mg"),
    (b"tablet_id,rx_id,mass_mg,weight\n", "unknown column(s) 'weight'"),
    (b"tablet_id;rx_id;mass_mg\n", "';'"),
    (b"tablet_id,rx_id,mass_mg\n\xff\xfe", "UTF-8"),
])
def test_unreadable_files_raise(data, fragment):
    with pytest.raises(QCError) as exc:
        read_weights_csv(data)
    assert fragment in str(exc.value)


@pytest.mark.parametrize(("mass_mg", "tolerance"), [
    (50.0, 0.10), (80.0, 0.10), (80.01, 0.075), (249.99, 0.075), (250.0, 0.05), (900.0, 0.05)])
def test_mass_tolerance_follows_ph_eur_2_9_5_bands(mass_mg: float, tolerance: float) -> None:
    # 80 mg or less: 10 %; more than 80 and less than 250 mg: 7.5 %; 250 mg or more: 5 %
    assert mass_tolerance(mass_mg) == tolerance
