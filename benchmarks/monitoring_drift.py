"""Measure the input-drift statistic (PSI against the card's reference) on the training
hospital's films and on shifted films, to choose and check the drift alert level (issue 20).

    python benchmarks/monitoring_drift.py [--data ../shared/data] [--out docs/monitoring_drift.json]

Sets, each scored as the app scores a study (the shipped model, input check on):
- `home test split`: the 506 films of the training run's test split (never used for the
  reference or the threshold), whole and in random windows of 200;
- `home validation split`: the reference's own films, in random windows of 200;
- `native 120`: the 120 native-resolution films of the training hospital;
- `shifted: <name>`: the native films with one `imaging.site_shift` shift, and the
  "shifted split" (two shifts per film).
Prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pneumo_desktop.evaluation.datasets import scan_dataset  # noqa: E402
from pneumo_desktop.evaluation.drift import drift_figures  # noqa: E402
from pneumo_desktop.imaging.image_io import load_xray  # noqa: E402
from pneumo_desktop.imaging.site_shift import SHIFTS, shifted, shifted_split  # noqa: E402
from pneumo_desktop.model.bundle import default_bundle_path, read_bundle  # noqa: E402
from pneumo_desktop.monitoring.input_drift import alert_level  # noqa: E402
from pneumo_desktop.training.reference import ScoredSplit, score_paths, split_of  # noqa: E402

WINDOWS, DRAWS = (50, 100, 120, 200), 300


def psi(reference: dict, scored: ScoredSplit, idx: np.ndarray | None = None) -> dict:
    idx = np.arange(len(scored.logits)) if idx is None else idx
    typ = scored.typicality[idx]
    figures = drift_figures(reference, scored.logits[idx], typ)
    return {"value": max(f["psi"] for f in figures.values()),
            **{name: round(f["psi"], 4) for name, f in figures.items()},
            "prevalence": figures["score"]["prevalence"]}


def windows(reference: dict, scored: ScoredSplit, seed: int = 0) -> dict:
    """PSI of random windows of each size (no film twice in a window)."""
    rng = np.random.default_rng(seed)
    out = {}
    for size in [w for w in WINDOWS if w < len(scored.logits)]:
        values = np.array([psi(reference, scored, rng.choice(len(scored.logits), size,
                                                              replace=False))["value"]
                           for _ in range(DRAWS)])
        out[str(size)] = {"windows": DRAWS, "median": round(float(np.median(values)), 4),
                          "q99": round(float(np.quantile(values, 0.99)), 4),
                          "max": round(float(values.max()), 4),
                          "alert_level": round(alert_level(size), 4),
                          "alerts": int((values >= alert_level(size)).sum())}
    return out


def cached(cache: Path, name: str, make) -> ScoredSplit:
    """Scores of a set, from `cache` when an earlier run stored them."""
    path = cache / (name.replace(" ", "_").replace("/", "_").replace(":", "") + ".npz")
    if path.exists():
        data = np.load(path)
        return ScoredSplit(data["labels"], data["logits"], data["typicality"],
                           int(data["refused"]), int(data["unreadable"]))
    scored = make()
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, labels=scored.labels, logits=scored.logits, typicality=scored.typicality,
             refused=scored.refused, unreadable=scored.unreadable)
    return scored


def write_films(films: list[np.ndarray], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, film in enumerate(films):
        path = folder / f"film_{i:03d}.png"
        cv2.imwrite(str(path), film)
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "monitoring_drift.json"))
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "drift-scores"),
                        help="folder for the scores of each set (reused by later runs)")
    args = parser.parse_args()
    data = Path(args.data)
    native_dir = data / "chest_xray_native" / "train"
    bundle = read_bundle(default_bundle_path())
    reference = bundle.card.reference
    results: dict[str, dict] = {}
    started = time.perf_counter()

    cache = Path(args.cache)

    def record(name: str, make, extra=None) -> None:
        scored = cached(cache, name, make)
        extra = extra(scored) if extra else {}
        n = len(scored.logits)
        results[name] = {"n": n, "refused_by_input_check": scored.refused,
                         "refused_share": scored.refused / max(n, 1),
                         **psi(reference, scored), **(extra or {})}
        print(f"{name:34s} n={n:4d} refused {scored.refused:3d}  PSI {results[name]['value']:.3f}"
              f" (score {results[name]['score']:.3f}, typicality "
              f"{results[name].get('typicality', float('nan')):.3f}, fitted prevalence "
              f"{results[name]['prevalence']:.2f}); alert level {alert_level(n):.2f}",
              flush=True)

    for split in ("test", "val"):
        samples = split_of(bundle, data / "chest_xray_224" / "train", [str(native_dir)], split)
        name = "home test split" if split == "test" else "home validation split"
        record(name, lambda s=samples: score_paths(bundle, [x.path for x in s],
                                                   [x.label for x in s]),
               lambda scored: {"random_windows": windows(reference, scored)})
        for size, w in results[name]["random_windows"].items():
            print(f"{'':34s} windows of {size}: {w}", flush=True)

    samples = scan_dataset(native_dir).samples
    labels = [s.label for s in samples]
    record("native 120", lambda: score_paths(bundle, [s.path for s in samples], labels),
           lambda scored: {"random_windows": windows(reference, scored)})
    for size, w in results["native 120"]["random_windows"].items():
        print(f"{'':34s} windows of {size}: {w}", flush=True)
    films = []
    for s in samples:
        pixels = load_xray(s.path).pixels
        scale = 1024 / max(pixels.shape)
        films.append(cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                     if scale < 1 else pixels)
    with tempfile.TemporaryDirectory() as tmp:
        record("native 120 at 1024 px (PNG)",
               lambda: score_paths(bundle, write_films(films, Path(tmp) / "as_is"), labels))
        for shift in [s for s in SHIFTS if s != "as is"]:
            folder = Path(tmp) / shift.replace(" ", "_").replace("/", "_")
            record(f"shifted: {shift}", lambda shift=shift, folder=folder: score_paths(
                bundle, write_films([shifted(f, shift, seed=i) for i, f in enumerate(films)],
                                    folder), labels))
        record("shifted: two shifts per film", lambda: score_paths(
            bundle, write_films(shifted_split(films, seed=0), Path(tmp) / "split"), labels))
    for result in results.values():
        result["alert_level_at_n"] = round(alert_level(result["n"]), 4)
        result["alert"] = result["value"] >= result["alert_level_at_n"]
    out = {"model": bundle.name, "sets": results,
           "seconds": round(time.perf_counter() - started, 1)}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {out['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
