"""Does `calibrate` keep its promises at a new site? Many random site/rest splits, by simulation.

    python benchmarks/site_coverage.py [--model models/default] [--data ../shared/data]
                                       [--runs 1000] [--site 150] [--target 0.95]

The site is the shipped model's shifted test split (its card's patient-level test split, every
film with two fixed shifts, `imaging.site_shift` seed 0, as `benchmarks/compare_models.py`).
Each run draws whole patients until `--site` studies form the clinic's labelled set; the rest
are the studies the clinic will then read. On the site set the run does what `calibrate` does
(`training.local_calibration`): Platt refit and threshold for the target sensitivity, and the
card's cross-validated sensitivity and specificity with Wilson 95 % intervals. It then measures
sensitivity and specificity on the rest at that threshold. Reported: how often the card's
intervals hold the rest's figures (coverage); how often the two agree once the rest's own
sampling noise is allowed for (agreement, `agrees`: 95 % for an honest card); and how far the
rest's sensitivity lands from the target (mean, quantiles, share within 0.03).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def site_split(patients: list[str], size: int, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of the studies of whole patients drawn at random until `size` studies."""
    ids = np.asarray(patients)
    order = rng.permutation(np.unique(ids))
    chosen: set[str] = set()
    count = 0
    counts = {p: int(n) for p, n in zip(*np.unique(ids, return_counts=True), strict=True)}
    for patient in order:
        if count >= size:
            break
        chosen.add(patient)
        count += counts[patient]
    return np.array([p in chosen for p in ids])


def agrees(promised: float, interval: tuple[float, float], seen: float, n_seen: int) -> bool:
    """Whether a figure seen on `n_seen` studies agrees with the card's within their joint 95 %
    margin: the card's interval (as a standard error) and the judged studies' own binomial
    noise added in quadrature. A perfect card agrees 95 % of the time, whereas the judged
    studies' noise keeps even a perfect interval from holding their figure that often."""
    z = 1.959964
    card_se = (interval[1] - interval[0]) / (2 * z)
    seen_se = np.sqrt(max(seen * (1 - seen), 0.25 / max(n_seen, 1)) / max(n_seen, 1))
    return bool(abs(seen - promised) <= z * np.hypot(card_se, seen_se))


def simulate(labels: np.ndarray, logits: np.ndarray, samples: list, *, site_size: int = 150,
             runs: int = 200, target: float = 0.95, folds: int = 5, seed: int = 0,
             rule=None) -> dict[str, float]:
    """Coverage of the card's intervals and the rest's distance from the target over `runs`
    random site/rest splits (see the module's docstring). `samples` carry `.patient`;
    `rule`: the threshold rule (`training.local_calibration.ThresholdRule`; None: calibrate's
    own)."""
    from pneumo_desktop.evaluation import metrics
    from pneumo_desktop.training.local_calibration import fit_operating_point, local_section

    labels, logits = np.asarray(labels, bool), np.asarray(logits, np.float64)
    patients = [s.patient for s in samples]
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(runs):
        site = site_split(patients, site_size, rng)
        idx = np.flatnonzero(site)
        site_labels, site_logits = labels[site], logits[site]
        n_pos, n_neg = int(site_labels.sum()), int((~site_labels).sum())
        k = max(2, min(folds, n_pos, n_neg))
        card = local_section(site_labels, site_logits, [samples[i] for i in idx], folds=k,
                             seed=int(rng.integers(1 << 30)), target=target, method="",
                             active_name="", active_threshold=0.5, active_logits=site_logits,
                             warnings=[], rule=rule)
        a, b, threshold = fit_operating_point(site_labels, site_logits, target, rule)
        decided = metrics.sigmoid(a * logits[~site] + b) >= threshold
        rest = labels[~site]
        sens, spec = decided[rest].mean(), (~decided[~rest]).mean()
        (s_lo, s_hi), (p_lo, p_hi) = card["sensitivity_ci95"], card["specificity_ci95"]
        rows.append((s_lo <= sens <= s_hi, p_lo <= spec <= p_hi,
                     agrees(card["sensitivity"], (s_lo, s_hi), sens, int(rest.sum())),
                     agrees(card["specificity"], (p_lo, p_hi), spec, int((~rest).sum())),
                     sens, spec, card["sensitivity"], s_hi - s_lo))
    covered_sens, covered_spec, agree_sens, agree_spec, sens, spec, promised, width = (
        np.array(c, float) for c in zip(*rows, strict=True))
    miss = sens - target
    return {"runs": runs, "site_size": site_size, "target": target,
            "sensitivity_coverage": float(covered_sens.mean()),
            "specificity_coverage": float(covered_spec.mean()),
            "sensitivity_agreement": float(agree_sens.mean()),
            "specificity_agreement": float(agree_spec.mean()),
            "rest_sensitivity_mean": float(sens.mean()),
            "rest_sensitivity_q05": float(np.quantile(sens, 0.05)),
            "rest_sensitivity_q95": float(np.quantile(sens, 0.95)),
            "rest_specificity_mean": float(spec.mean()),
            "promised_sensitivity_mean": float(promised.mean()),
            "sensitivity_interval_width_mean": float(width.mean()),
            "distance_from_target_mean": float(miss.mean()),
            "within_0.03_of_target": float((np.abs(miss) <= 0.03).mean()),
            "below_target_by_more_than_0.03": float((miss < -0.03).mean())}


def shifted_logits(model_dir: Path, data_root: Path):
    """(labels, logits, samples) of the model's shifted test split."""
    from pneumo_desktop.evaluation.datasets import build_cache
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.training.config import TrainConfig
    from pneumo_desktop.training.shift_calibration import REPORT_SEED, shifted_cache
    from pneumo_desktop.training.train import (
        adopt_split,
        predict_logits,
        scan_data,
        split_samples,
    )

    bundle = read_bundle(model_dir)
    config = TrainConfig(image_size=bundle.card.input_size,
                         holdout=[str(data_root / "chest_xray_native" / "train")])
    adopt_split(config, bundle)
    splits = split_samples(scan_data(data_root / "chest_xray_224" / "train", config), config)
    preprocessing = dict(bundle.card.preprocessing)
    home = build_cache(splits["test"], config.image_size, preprocessing)
    shifted = shifted_cache(home, config.image_size, preprocessing, REPORT_SEED)
    return home.labels.astype(bool), predict_logits(bundle.load_keras_model(), shifted), \
        list(home.samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "default"))
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--site", type=int, default=150)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--cache", help="npz file to keep the scored logits in between runs")
    args = parser.parse_args()
    from pneumo_desktop.evaluation.datasets import Sample

    started = time.perf_counter()
    if args.cache and Path(args.cache).is_file():
        saved = np.load(args.cache, allow_pickle=False)
        labels, logits = saved["labels"], saved["logits"]
        samples = [Sample(Path(p), int(y), str(q)) for p, y, q in
                   zip(saved["paths"], labels, saved["patients"], strict=True)]
    else:
        labels, logits, samples = shifted_logits(Path(args.model), Path(args.data))
        if args.cache:
            np.savez(args.cache, labels=labels, logits=logits,
                     paths=[str(s.path) for s in samples],
                     patients=[s.patient for s in samples])
    out = simulate(labels, logits, samples, site_size=args.site, runs=args.runs,
                   target=args.target)
    print(f"{len(labels)} shifted test studies ({int(labels.sum())} pneumonia), "
          f"{time.perf_counter() - started:.0f} s")
    for key, value in out.items():
        print(f"| {key.replace('_', ' ')} | {value:.3f} |" if isinstance(value, float)
              else f"| {key.replace('_', ' ')} | {value} |")


if __name__ == "__main__":
    main()
