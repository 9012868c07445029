"""Every monitoring figure against a hand computation."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from studies import study

from pneumo_desktop.evaluation.drift import (
    mixture_psi,
    psi,
    recalibrated_reference,
    reference_section,
)
from pneumo_desktop.model.bundle import ModelCard
from pneumo_desktop.monitoring import figures


def test_volume_flagged_and_refused():
    studies = [study(1, decision="PNEUMONIA"), study(2), study(3, decision="PNEUMONIA"),
               study(4, "refused", reason_code="age", time="2026-12-01T08:00:00+00:00"),
               study(5, "refused", reason_code="atypical", time="2026-12-01T09:00:00+00:00"),
               study(6, "refused", reason_code="age", time="2026-12-02T00:00:00+00:00"),
               study(7, "unreadable", time="2026-12-02T01:00:00+00:00"),
               study(8, "", time="2026-12-02T02:00:00+00:00")]  # received, not scored yet
    assert figures.per_day(studies) == {"2026-11-30": 3, "2026-12-01": 2, "2026-12-02": 3}
    assert figures.refused_by_reason(studies) == {"age": 2, "atypical": 1, "unreadable": 1}
    assert figures.flagged_rate(studies) == pytest.approx(2 / 3)
    assert figures.flagged_rate([study(4, "refused")]) is None
    recent = figures.since(studies, date(2026, 12, 1))
    assert [s.id for s in recent] == [4, 5, 6, 7, 8]


def wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson 95 % interval written out (z = 1.959964)."""
    z, p = 1.959964, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_agreement_with_wilson_intervals():
    reads = ([study(i, decision="PNEUMONIA", read="pneumonia") for i in range(7)]
             + [study(10 + i, read="pneumonia") for i in range(3)]
             + [study(20 + i, read="normal") for i in range(8)]
             + [study(30 + i, decision="PNEUMONIA", read="normal") for i in range(2)])
    kept = figures.read_and_scored(reads + [study(40, read="unsure"),
                                            study(41, "refused", read="normal"),
                                            study(42, read="normal", model="other")], "m")
    assert len(kept) == 20
    a = figures.agreement(kept, {"sensitivity": 0.97})
    assert (a["n"], a["n_pneumonia"], a["n_normal"]) == (20, 10, 10)
    assert a["sensitivity"] == 0.7 and a["specificity"] == 0.8
    assert a["sensitivity_ci95"] == pytest.approx(wilson(7, 10), abs=1e-6)
    assert a["specificity_ci95"] == pytest.approx(wilson(8, 10), abs=1e-6)
    assert a["sensitivity_ci95"] == pytest.approx([0.3968, 0.8922], abs=1e-4)  # textbook
    assert a["confusion_matrix"] == [[8, 2], [3, 7]]
    assert a["expected"] == {"sensitivity": 0.97}


def test_calibration_per_band():
    reads = ([study(i, probability=0.05, read="pneumonia" if i == 0 else "normal")
              for i in range(4)]
             + [study(10 + i, probability=0.95, read="pneumonia" if i < 3 else "normal")
                for i in range(5)])
    c = figures.calibration(reads, 0.01)
    assert [b["band"] for b in c["bands"]] == [[0.0, 0.1], [0.9, 1.0]]
    assert [b["n"] for b in c["bands"]] == [4, 5]
    assert [b["observed"] for b in c["bands"]] == [0.25, 0.6]
    assert [b["mean_probability"] for b in c["bands"]] == pytest.approx([0.05, 0.95])
    assert c["ece"] == pytest.approx((4 * 0.20 + 5 * 0.35) / 9)
    assert c["expected_ece"] == 0.01
    assert c["bands"][1]["observed_ci95"] == pytest.approx(wilson(3, 5), abs=1e-6)


def test_expected_figures_local_first_then_validation():
    card = ModelCard("m", "a", 64, 0.5, validation={
        "n": 741, "sensitivity": 538 / 557, "specificity": 183 / 184, "ece": 0.0093,
        "confusion_matrix": [[183, 1], [19, 538]]})
    exp = figures.expected_figures(card)
    assert exp["sensitivity_ci95"] == pytest.approx(wilson(538, 557), abs=1e-6)
    assert exp["specificity_ci95"] == pytest.approx(wilson(183, 184), abs=1e-6)
    assert exp["ece"] == 0.0093 and "validation split (741" in exp["source"]
    card.local = {"n": 150, "sensitivity": 0.9, "specificity": 0.85,
                  "sensitivity_ci95": [0.81, 0.95], "specificity_ci95": [0.81, 0.90]}
    exp = figures.expected_figures(card)
    assert (exp["specificity"], exp["specificity_ci95"]) == (0.85, [0.81, 0.90])
    assert "your 150 studies" in exp["source"]
    assert figures.expected_figures(None) == {}


def test_psi_and_the_prevalence_fitted_mixture():
    # sum (o - e) ln(o / e) over two bins, by hand
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(
        0.25 * math.log(2) + (-0.25) * math.log(0.5 / 0.75))
    part = {"edges": [0.0], "pneumonia": [0.1, 0.9], "normal": [0.9, 0.1]}
    values = np.r_[np.full(50, -1.0), np.full(50, 1.0)]
    value, prevalence = mixture_psi(values, part)
    assert value == pytest.approx(0.0, abs=1e-12) and prevalence == 0.5
    # all above the edge: observed (0.5/101, 100.5/101) against the mix at prevalence 1
    value, prevalence = mixture_psi(np.ones(100), part)
    o = np.array([0.5, 100.5]) / 101
    assert prevalence == 1.0
    assert value == pytest.approx(psi(o, [0.1, 0.9]))


def test_reference_section_and_recalibration():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(300, bool), np.zeros(100, bool)]
    logits = np.where(labels, rng.normal(3, 1, 400), rng.normal(-3, 1, 400))
    ref = reference_section(logits, np.abs(rng.normal(0.5, 0.1, 400)), labels, "test")
    assert (ref["n"], ref["n_pneumonia"], ref["n_normal"]) == (400, 300, 100)
    edges = ref["score"]["edges"]
    assert len(edges) == 4
    assert edges == pytest.approx(np.quantile(logits, np.linspace(0, 1, 6)[1:-1]).tolist())
    mixed = 0.75 * np.array(ref["score"]["pneumonia"]) + 0.25 * np.array(ref["score"]["normal"])
    assert mixed == pytest.approx(np.full(5, 0.2), abs=0.01)  # quintiles of the pooled films
    moved = recalibrated_reference(ref, 2.0, -1.0)
    assert moved["score"]["edges"] == pytest.approx([2 * e - 1 for e in edges])
    assert moved["score"]["pneumonia"] == ref["score"]["pneumonia"]
    assert moved["typicality"] == ref["typicality"]
