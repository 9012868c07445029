"""The heat map's fixed scale (issue 24): fit it for a bundle and measure what a reader sees.

    python benchmarks/heat_scale.py [--model models/default] [--data ../shared/data] [--write]

`--write` fits the scale on the card's home validation split (the 90th percentile of cell
evidence on the films the model flags, `model.heatmaps.fit_heat_scale`) and stores it in the
bundle's model.json (`heatmap`); model.keras is not touched. Then, for the home validation and
test splits, the shifted test split (`imaging.site_shift`, seed 0) and the 120 native films, it
prints the issue's two figures for the per-film (relative) maps of v0.2 and for the fixed scale
with its display rule:

- of the films scored below 10 %, the share that show a red area of at least 0.05 % of the film;
- of the flagged films, the share that show a red area of at least 0.5 %.

"Red" is a map value of at least 0.8 (the red end of the colour bar), on the map upsampled to
224 x 224 as the overlays are; a map the display rule hides shows nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
RED = 0.8


def red_share(maps: np.ndarray) -> np.ndarray:
    """Share of each (N, h, w) map's area, upsampled to 224 px, at or above RED."""
    big = [cv2.resize(m.astype(np.float32), (224, 224), interpolation=cv2.INTER_CUBIC)
           for m in maps]
    return np.array([(m >= RED).mean() for m in big])


def figures(probs: np.ndarray, shown_maps: np.ndarray, threshold: float) -> str:
    red = red_share(shown_maps)
    low, flagged = probs < 0.10, probs >= threshold
    a = (red[low] >= 0.0005).mean() if low.any() else float("nan")
    b = (red[flagged] >= 0.005).mean() if flagged.any() else float("nan")
    return f"{a:6.1%} of {low.sum():3d} below 10 % | {b:6.1%} of {flagged.sum():3d} flagged"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "default"))
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--write", action="store_true", help="fit and store the scale")
    args = parser.parse_args()
    from pneumo_desktop.atomic import atomic_open
    from pneumo_desktop.evaluation.report import home_splits
    from pneumo_desktop.imaging.image_io import load_xray
    from pneumo_desktop.imaging.site_shift import shifted_split
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.model.heatmaps import absolute_maps, fit_heat_scale, relative_maps
    from pneumo_desktop.model.inference import Predictor

    data = Path(args.data)
    bundle = read_bundle(args.model)
    predictor = Predictor(bundle, batch_size=16)
    splits = home_splits(data, bundle.card)
    films = {name: [load_xray(p).pixels for p in splits[name]] for name in ("val", "test")}
    films["shifted test"] = shifted_split(films["test"], seed=0)
    films["native"] = [load_xray(p).pixels
                       for p in sorted((data / "chest_xray_native").rglob("*.jpeg"))]
    results = {name: predictor.predict_images(f) for name, f in films.items()}
    if args.write:
        val = results["val"]
        scale = fit_heat_scale(np.stack([p.evidence for p in val]),
                               np.array([p.probability >= predictor.threshold for p in val]),
                               "home validation films the model flags")
        card_path = Path(args.model) / "model.json"
        card = json.loads(card_path.read_text())
        card["heatmap"] = scale.to_card()
        with atomic_open(card_path, "w", encoding="utf-8") as handle:
            json.dump(card, handle, indent=2)
            handle.write("\n")
        print(f"wrote {card_path}: red = {scale.red:.3f}, shown from {scale.show_from:.0%}")
    else:
        scale = predictor.heat_scale
    print(f"threshold {predictor.threshold:.4f}; red = map value >= {RED}")
    for name, predictions in results.items():
        probs = np.array([p.probability for p in predictions])
        evidence = np.stack([p.evidence for p in predictions])
        relative = relative_maps(evidence)
        print(f"{name:12s} per-film maps (v0.2): {figures(probs, relative, predictor.threshold)}")
        if scale is not None:
            fixed = absolute_maps(evidence, scale) * np.array(
                [scale.shown(p) for p in probs])[:, None, None]
            print(f"{name:12s} fixed scale + rule:  {figures(probs, fixed, predictor.threshold)}")


if __name__ == "__main__":
    main()
