"""What the input check refuses: real chest films (refusal rates) and wrong files (each verdict).

    python benchmarks/input_check_report.py [--model DIR] [--data ../shared/data]

Prints markdown tables for the README: the refusal rate on the training hospital's patient-level
validation and test splits (rebuilt from the model card's split settings), on the 120 native
studies and on the real DICOMs, then one row per wrong file (real non-chest DICOMs, and files
this script makes from real films: rotations, inversion, corner crop, photo, blank, noise...).
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def make_wrong_files(data: Path, folder: Path) -> list[tuple[Path, str]]:
    """Wrong files made from real films and from nothing, with a description."""
    import matplotlib.cbook

    from pneumo_desktop.imaging.image_io import load_xray

    film = load_xray(data / "chest_xray_native" / "train" / "NORMAL" /
                     sorted(p.name for p in (data / "chest_xray_native" / "train" /
                                             "NORMAL").iterdir())[0]).pixels
    h, w = film.shape
    rng = np.random.default_rng(0)
    grad = np.tile(np.linspace(0, 255, 800, dtype=np.float32), (600, 1)).astype(np.uint8)
    portrait = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg",
                                                           asfileobj=False))
    made = {
        "film_rotated_90.png": (np.rot90(film), "normal film rotated by 90°"),
        "film_rotated_180.png": (np.rot90(film, 2), "normal film upside down"),
        "film_inverted.png": (255 - film, "normal film, grey scale inverted"),
        "film_corner.png": (cv2.resize(film[: h // 2, : w // 2], (w, h)),
                            "top-left quarter of a film, enlarged"),
        "photo_colour.jpg": (portrait, "colour photograph (JPEG)"),
        "photo_grey.png": (cv2.cvtColor(portrait, cv2.COLOR_BGR2GRAY), "the photo in grey"),
        "black.png": (np.zeros((600, 800), np.uint8), "black frame"),
        "white.png": (np.full((600, 800), 255, np.uint8), "white frame"),
        "noise.png": (rng.integers(0, 256, (600, 800)).astype(np.uint8), "uniform noise"),
        "gradient.png": (grad, "smooth grey gradient"),
        "thumbnail.png": (cv2.resize(film, (100, 80)), "100 x 80 thumbnail of a film"),
    }
    out = []
    for name, (pixels, what) in made.items():
        cv2.imwrite(str(folder / name), np.ascontiguousarray(pixels))
        out.append((folder / name, what))
    return out


def print_shifts(predictor, paths: list[Path]) -> None:
    """Refusal rate of real chest films changed as other machines might change them."""
    from pneumo_desktop.imaging.image_io import load_xray
    from pneumo_desktop.imaging.site_shift import SHIFTS, shifted

    films = [load_xray(p, min_side=512).pixels for p in paths]
    print("\n| the 120 native films, changed | refused |\n|---|---|")
    for name in SHIFTS:
        predictions = predictor.predict_images([shifted(f, name) for f in films])
        refused = sum(p.refusal is not None for p in predictions)
        print(f"| {name} | {refused} ({refused / len(films):.1%}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "default"))
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()
    data = Path(args.data)

    from pneumo_desktop.evaluation.report import home_splits
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.model.inference import Predictor

    bundle = read_bundle(args.model)
    predictor = Predictor(bundle, batch_size=16)
    print(f"model {bundle.name}; learned check: "
          f"{'yes' if bundle.has_learned_check else 'missing'}\n")

    sets = home_splits(data, bundle.card)
    sets["native (120 studies)"] = sorted((data / "chest_xray_native").rglob("*.jpeg"))
    sets["real chest DICOMs"] = sorted((data / "dicom").iterdir())
    print("| real chest films | n | refused | reasons |\n|---|---|---|---|")
    for name, paths in sets.items():
        items = list(predictor.score_files(paths))
        reasons = Counter(i.refusal.code for i in items if i.refusal)
        refused = sum(reasons.values())
        print(f"| {name} | {len(items)} | {refused} ({refused / len(items):.1%}) | "
              f"{', '.join(f'{k} {v}' for k, v in reasons.items()) or '—'} |")

    print_shifts(predictor, sets["native (120 studies)"])

    with tempfile.TemporaryDirectory() as tmp:
        wrong = [(p, "real non-chest DICOM") for p in sorted((data / "not_chest").iterdir())]
        wrong += make_wrong_files(data, Path(tmp))
        dicoms = [(p, "real chest DICOM") for p in sorted((data / "dicom").iterdir())]
        print("\n| file | what | verdict |\n|---|---|---|")
        for (path, what), item in zip(wrong + dicoms, predictor.score_files(
                [p for p, _ in wrong + dicoms]), strict=True):
            verdict = item.error if item.prediction is None else \
                f"scored {item.prediction.probability:.3f} ({item.prediction.label})"
            print(f"| {path.name} | {what} | {verdict} |")


if __name__ == "__main__":
    main()
