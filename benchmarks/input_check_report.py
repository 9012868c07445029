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

    from pneumo_desktop.core.image_io import load_xray

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


def shifted(pixels: np.ndarray, name: str) -> np.ndarray:
    """A real film as another machine, exposure or framing might give it."""
    h, w = pixels.shape
    x = pixels.astype(np.float32)
    if name.startswith("gamma"):
        x = 255.0 * (x / 255.0) ** float(name[5:])
    elif name.startswith("contrast"):
        x = (x - x.mean()) * float(name[8:]) + x.mean()
    elif name == "blur":
        x = cv2.GaussianBlur(x, (0, 0), 0.004 * max(h, w))
    elif name == "resolution / 4":
        x = cv2.resize(cv2.resize(x, (w // 4, h // 4), interpolation=cv2.INTER_AREA), (w, h))
    elif name == "noise":
        x = x + np.random.default_rng(0).normal(0, 8, x.shape)
    elif name == "CLAHE":
        x = cv2.createCLAHE(2.0, (8, 8)).apply(pixels).astype(np.float32)
    elif name == "histogram equalised":
        x = cv2.equalizeHist(pixels).astype(np.float32)
    elif name == "black border 8 %":
        x = cv2.copyMakeBorder(x, h // 12, h // 12, w // 12, w // 12, cv2.BORDER_CONSTANT,
                               value=0)
    elif name == "crop 85 %":
        x = x[int(0.075 * h):int(0.925 * h), int(0.075 * w):int(0.925 * w)]
    elif name == "rotated 10°":
        x = cv2.warpAffine(x, cv2.getRotationMatrix2D((w / 2, h / 2), 10, 1), (w, h))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


SHIFTS = ("as is", "gamma0.6", "gamma1.6", "contrast0.7", "contrast1.3", "blur",
          "resolution / 4", "noise", "CLAHE", "histogram equalised", "black border 8 %",
          "crop 85 %", "rotated 10°")


def print_shifts(predictor, paths: list[Path]) -> None:
    """Refusal rate of real chest films changed as other machines might change them."""
    from pneumo_desktop.core.image_io import load_xray

    films = [load_xray(p, min_side=512).pixels for p in paths]
    print("\n| the 120 native films, changed | refused |\n|---|---|")
    for name in SHIFTS:
        predictions = predictor.predict_images([shifted(f, name) for f in films])
        refused = sum(p.refusal is not None for p in predictions)
        print(f"| {name} | {refused} ({refused / len(films):.1%}) |")


def split_images(data: Path, card) -> dict[str, list[Path]]:
    """The model card's patient-level validation and test splits of the 224 px training set."""
    from pneumo_desktop.core.datasets import patient_split, scan_dataset

    config = card.training.get("config", {})
    holdout = [data / "chest_xray_native" / "train"] if config.get("holdout") else []
    scan = scan_dataset(data / "chest_xray_224" / "train", holdout)
    splits = patient_split(scan.samples, config.get("val_fraction", 0.15),
                           config.get("test_fraction", 0.15), config.get("seed", 42))
    return {k: [s.path for s in v] for k, v in splits.items() if k != "train"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "default"))
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()
    data = Path(args.data)

    from pneumo_desktop.core.bundle import read_bundle
    from pneumo_desktop.core.inference import Predictor

    bundle = read_bundle(args.model)
    predictor = Predictor(bundle, batch_size=16)
    print(f"model {bundle.name}; learned check: "
          f"{'yes' if bundle.has_learned_check else 'missing'}\n")

    sets = split_images(data, bundle.card)
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
