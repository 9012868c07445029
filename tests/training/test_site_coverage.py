"""The site-split simulation behind the coverage figures (`benchmarks/site_coverage.py`): whole
patients per site, and coverage and distance from the target that respond to what they measure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from pneumo_desktop.evaluation.datasets import Sample

_SPEC = importlib.util.spec_from_file_location(
    "site_coverage", Path(__file__).resolve().parents[2] / "benchmarks" / "site_coverage.py")
site_coverage = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(site_coverage)


def studies(n_pos: int, n_neg: int, shift: float = 4.0, seed: int = 0):
    """Labels, logits (normal classes `shift` apart) and samples, two studies per patient."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]
    logits = np.where(labels, shift / 2, -shift / 2) + rng.standard_normal(len(labels))
    samples = [Sample(Path(f"{i}.jpeg"), int(y), f"P{i // 2}-{int(y)}")
               for i, y in enumerate(labels)]
    return labels, logits, samples


def test_site_split_takes_whole_patients_up_to_the_size():
    patients = [f"P{i // 3}" for i in range(300)]
    mask = site_coverage.site_split(patients, 100, np.random.default_rng(1))
    assert 100 <= mask.sum() <= 102
    for p in set(patients):
        members = {bool(m) for m, q in zip(mask, patients, strict=True) if q == p}
        assert len(members) == 1  # a patient is all site or all rest
    assert not np.array_equal(mask, site_coverage.site_split(patients, 100,
                                                             np.random.default_rng(2)))


def test_simulation_reports_coverage_and_distance_from_the_target():
    labels, logits, samples = studies(380, 126)
    out = site_coverage.simulate(labels, logits, samples, site_size=150, runs=40, seed=3)
    assert out["runs"] == 40 and out["target"] == 0.95
    for key in ("sensitivity_coverage", "specificity_coverage", "within_0.03_of_target"):
        assert 0 <= out[key] <= 1
    # well-behaved (normal) scores: the threshold lands near the target and the intervals
    # hold the rest's figures most of the time
    assert abs(out["distance_from_target_mean"]) < 0.03
    assert out["sensitivity_coverage"] > 0.7
    assert out == site_coverage.simulate(labels, logits, samples, site_size=150, runs=40,
                                         seed=3)


def test_simulation_sees_a_rule_that_misses_its_target():
    labels, logits, samples = studies(380, 126)
    lower = site_coverage.simulate(labels, logits, samples, runs=30, target=0.80, seed=0)
    higher = site_coverage.simulate(labels, logits, samples, runs=30, target=0.99, seed=0)
    assert lower["rest_sensitivity_mean"] < higher["rest_sensitivity_mean"]
    assert lower["target"] == 0.80 and abs(lower["distance_from_target_mean"]) < 0.06
