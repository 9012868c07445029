"""Adapting the shipped model to a simulated new hospital: as is, `calibrate`, the old fine-tune
defaults and the small-set recipe (`training.fine_tuning`), judged on the site's unseen studies.

There is no second hospital in ../shared/data, so the "site" is a proxy, stated as such: the
shipped model's untouched patient-level TEST split of chest_xray_224/train (rebuilt from its card
with the same holdout folder, as `benchmarks/input_check_report.py` does), every film changed by
one fixed `site_shift` (another vendor's processing and detector: CLAHE, gamma 1.4, contrast
x0.8, resolution halved, noise; the first of these hurts the shipped model most, the others
alone barely: the model was trained with such augmentation). 150 of those studies (whole
patients, drawn with a fixed seed) are the clinic's labelled set; the rest are judged. Prints a
Markdown table (AUC, sensitivity and specificity at each bundle's saved threshold on the judged
studies, the cross-validated figures its card promises, wall time).
Run it niced: `nice -n 5 python benchmarks/site_adaptation.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LABELLED = 150  # studies the clinic labels
SPLIT_SEED = 11  # which patients are labelled


def site_shift(image: np.ndarray, key: int) -> np.ndarray:
    """The fixed change from the training hospital to the simulated site, for a uint8 film:
    local contrast equalisation (CLAHE, clip 2.5, 8 x 8 tiles), gamma 1.4 (darker mid-tones),
    contrast x0.8 about the mean, resolution halved (area down, linear up: a softer detector),
    Gaussian noise sd 0.02 (of full scale) seeded by `key`."""
    f = cv2.createCLAHE(2.5, (8, 8)).apply(image).astype(np.float32) / 255.0
    f = np.power(np.clip(f, 1e-4, 1.0), 1.4)
    f = (f - f.mean()) * 0.8 + f.mean()
    h, w = f.shape
    f = cv2.resize(cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA), (w, h),
                   interpolation=cv2.INTER_LINEAR)
    f = f + np.random.default_rng(key).normal(0.0, 0.02, f.shape).astype(np.float32)
    return np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8)


def build_site(data: Path, card, out: Path) -> tuple[Path, Path]:
    """Write the shifted test split as out/labelled and out/judged ({NORMAL,PNEUMONIA}/)."""
    from pneumo_desktop.evaluation.datasets import patient_split, scan_dataset

    config = card.training.get("config", {})
    holdout = [data / "chest_xray_native" / "train"] if config.get("holdout") else []
    scan = scan_dataset(data / "chest_xray_224" / "train", holdout)
    test = patient_split(scan.samples, config.get("val_fraction", 0.15),
                         config.get("test_fraction", 0.15), config.get("seed", 42))["test"]
    patients = sorted({s.patient for s in test})
    order = [patients[i] for i in np.random.default_rng(SPLIT_SEED).permutation(len(patients))]
    labelled, count = set(), 0
    for patient in order:
        if count >= LABELLED:
            break
        labelled.add(patient)
        count += sum(s.patient == patient for s in test)
    for s in test:
        part = "labelled" if s.patient in labelled else "judged"
        folder = out / part / ("PNEUMONIA" if s.label else "NORMAL")
        folder.mkdir(parents=True, exist_ok=True)
        image = cv2.imread(str(s.path), cv2.IMREAD_GRAYSCALE)
        key = int.from_bytes(s.path.name.encode()[:8].ljust(8, b"\0"), "little")
        cv2.imwrite(str(folder / (s.path.stem + ".png")), site_shift(image, key))
    return out / "labelled", out / "judged"


def judge(bundle_path: Path, judged: Path) -> dict:
    """AUC, sensitivity and specificity at the bundle's threshold on the judged studies
    (every study scored; how many its input check would refuse is counted)."""
    from pneumo_desktop.evaluation import metrics
    from pneumo_desktop.evaluation.datasets import scan_dataset
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.model.inference import Predictor

    bundle = read_bundle(bundle_path)
    samples = scan_dataset(judged).samples
    images = [cv2.imread(str(s.path), cv2.IMREAD_GRAYSCALE) for s in samples]
    predictions = Predictor(bundle, batch_size=32).predict_images(images)
    labels = np.array([s.label for s in samples], bool)
    probs = np.array([p.probability for p in predictions])
    report = metrics.report(labels, probs, bundle.card.threshold)
    return {"n": len(labels), "n_pneumonia": int(labels.sum()), "auc": report["auc"],
            "sensitivity": report["sensitivity"], "specificity": report["specificity"],
            "threshold": bundle.card.threshold,
            "refused": sum(p.refusal is not None for p in predictions)}


def promised(bundle_path: Path) -> str:
    from pneumo_desktop.model.bundle import read_bundle

    card = read_bundle(bundle_path).card
    local = card.local
    if local:
        (sl, sh), (pl, ph) = local["sensitivity_ci95"], local["specificity_ci95"]
        return (f"{local['sensitivity']:.3f} [{sl:.3f}, {sh:.3f}] / "
                f"{local['specificity']:.3f} [{pl:.3f}, {ph:.3f}] (CV, n {local['n']})")
    v = card.validation
    n = card.training.get("counts", {}).get("val", {}).get("images", "?")
    return f"{v['sensitivity']:.3f} / {v['specificity']:.3f} (validation split, n {n})"


METHODS = {
    # name: TrainConfig changes (None: no training)
    "old fine-tune defaults": dict(cross_fit_folds=0, trainable="all", freeze_batch_norm=False,
                                   fine_tune_augment_strength=1.0),
    "recipe (default)": dict(),
    "recipe, all layers": dict(trainable="all"),
    "recipe, batch norm learning": dict(freeze_batch_norm=False),
    "recipe, head only": dict(trainable="head"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "default"))
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--work", default="/tmp/site_adaptation")
    parser.add_argument("--methods", nargs="*", default=list(METHODS)[:2],
                        help=f"training methods to run, of: {', '.join(METHODS)}")
    parser.add_argument("--epochs", type=int, default=20, help="epoch cap (train's default)")
    args = parser.parse_args()
    work = Path(args.work)

    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.training.config import TrainConfig
    from pneumo_desktop.training.console import PrintingCallbacks, run_training_cli
    from pneumo_desktop.training.local_calibration import calibrate

    card = read_bundle(args.model).card
    labelled, judged = build_site(Path(args.data), card, work / "site")
    n_lab = sum(1 for _ in labelled.rglob("*.png"))
    print(f"site: {n_lab} labelled studies, {sum(1 for _ in judged.rglob('*.png'))} judged",
          file=sys.stderr)
    header = ("| method | AUC | sensitivity | specificity | threshold | its card promises "
              "(sensitivity / specificity) | judged films its input check refuses | time |\n"
              "|---|---|---|---|---|---|---|---|")
    rows = []

    def row(name: str, path: Path, seconds: float) -> None:
        j = judge(path, judged)
        rows.append(f"| {name} | {j['auc']:.3f} | {j['sensitivity']:.3f} | "
                    f"{j['specificity']:.3f} | {j['threshold']:.3f} | {promised(path)} | "
                    f"{j['refused']} of {j['n']} | {seconds:.0f} s |")
        print(rows[-1], file=sys.stderr, flush=True)

    row("active model as is", Path(args.model), 0.0)
    started = time.perf_counter()
    calibrate(labelled, args.model, work / "calibrated", folds=5)
    row("`calibrate` only", work / "calibrated", time.perf_counter() - started)
    for name in args.methods:
        out = work / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
        config = TrainConfig(init_from=args.model, epochs=args.epochs, **METHODS[name])
        PrintingCallbacks().on_message(f"== {name}: {json.dumps(METHODS[name])}")
        started = time.perf_counter()
        run_training_cli(str(labelled), str(out), config, name=out.name)
        row(name, out, time.perf_counter() - started)
    judged_n = sum(1 for _ in judged.rglob("*.png"))
    judged_pos = sum(1 for _ in (judged / "PNEUMONIA").glob("*.png"))
    print("\n" + header + "\n" + "\n".join(rows))
    print(f"\njudged: {judged_n} studies ({judged_pos} pneumonia); labelled: {n_lab}")


if __name__ == "__main__":
    main()
