"""Two model bundles side by side on every figure issue 10 asks for, as a markdown table:

    python benchmarks/compare_models.py --a models/default --b DIR [--data ../shared/data]

- home test split: the patient-level test split of the training hospital, rebuilt from model
  A's card (B must have been trained on the same split: the script checks the settings);
- shifted test split: the same films, each with two fixed shifts (`imaging.site_shift`, seed 0:
  exposure, contrast, gamma, blur, resolution, noise, CLAHE, border, crop, burned-in labels);
- border masking and heat-map focus (`evaluation.shortcuts`) on the home test split and on the 120
  native-resolution studies;
- scoring speed: images/s over the 120 native JPEGs (after a warm-up), as `score` runs.

Each model decides at its own threshold. Studies the input check refuses keep their withheld
score here, so that both models are judged on the same studies.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def figures(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict:
    from pneumo_desktop.evaluation import metrics

    report = metrics.report(labels, probs, threshold)
    return {k: report[k] for k in ("auc", "accuracy", "sensitivity", "specificity")}


def label_of(path: Path) -> int:
    return int(path.parent.name.upper() == "PNEUMONIA")


def evaluate(bundle_path: str, data: Path, test: list[Path], native: list[Path]) -> dict:
    from pneumo_desktop.evaluation.shortcuts import shortcut_report
    from pneumo_desktop.imaging.image_io import load_xray
    from pneumo_desktop.imaging.site_shift import shifted_split
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.model.inference import Predictor

    bundle = read_bundle(bundle_path)
    predictor = Predictor(bundle, batch_size=16)
    out: dict = {"name": bundle.name, "threshold": predictor.threshold}
    for name, paths in (("home test", test), ("native", native)):
        items = list(predictor.score_files(paths, keep_inputs=True))
        labels = np.array([label_of(p) for p in paths])
        probs = np.array([(i.prediction or i.withheld).probability for i in items])
        out[name] = figures(labels, probs, predictor.threshold)
        out[name].update(shortcut_report(predictor, np.stack([i.model_input for i in items]),
                                         labels.astype(bool)))
    films = [load_xray(p).pixels for p in test]
    predictions = predictor.predict_images(shifted_split(films, seed=0))
    out["shifted test"] = figures(np.array([label_of(p) for p in test]),
                                  np.array([p.probability for p in predictions]),
                                  predictor.threshold)
    list(predictor.score_files(native[:16]))  # warm-up
    started = time.perf_counter()
    list(predictor.score_files(native))
    out["images_per_second"] = len(native) / (time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", default=str(REPO / "models" / "default"))
    parser.add_argument("--b", required=True)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()
    from pneumo_desktop.evaluation.report import home_splits
    from pneumo_desktop.model.bundle import read_bundle

    data = Path(args.data)
    card_a, card_b = read_bundle(args.a).card, read_bundle(args.b).card
    keys = ("seed", "val_fraction", "test_fraction", "holdout")
    split_a, split_b = ({k: c.training.get("config", {}).get(k) for k in keys}
                        for c in (card_a, card_b))
    if split_a != split_b:
        raise SystemExit(f"the models were not trained on the same split ({split_a} vs "
                         f"{split_b})")
    test = home_splits(data, card_a)["test"]
    native = sorted((data / "chest_xray_native").rglob("*.jpeg"))
    a, b = (evaluate(path, data, test, native) for path in (args.a, args.b))
    print(f"| | {a['name']} | {b['name']} |\n|---|---|---|")
    print(f"| threshold | {a['threshold']:.3f} | {b['threshold']:.3f} |")
    for split in ("home test", "shifted test", "native"):
        for key in ("auc", "accuracy", "sensitivity", "specificity"):
            print(f"| {split} ({len(test) if split != 'native' else len(native)}): {key} | "
                  f"{a[split][key]:.3f} | {b[split][key]:.3f} |")
    for split in ("home test", "native"):
        for key in ("auc_drop", "mean_probability_change", "flipped_decisions"):
            print(f"| {split}: border masking {key.replace('_', ' ')} | "
                  f"{a[split]['border_masking'][key]:.3f} | "
                  f"{b[split]['border_masking'][key]:.3f} |")
        for key in ("inside_thorax_box", "top_band"):
            print(f"| {split}: heat-map mass {key.replace('_', ' ')} | "
                  f"{a[split]['heatmap_focus']['overall'][key]:.3f} | "
                  f"{b[split]['heatmap_focus']['overall'][key]:.3f} |")
    print(f"| scoring speed, 120 native JPEGs (images/s) | {a['images_per_second']:.1f} | "
          f"{b['images_per_second']:.1f} |")


if __name__ == "__main__":
    main()
