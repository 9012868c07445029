"""`pneumo-desktop evaluate`: a model on a labelled folder -> JSON report and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pneumo_desktop.evaluation import metrics
from pneumo_desktop.evaluation.datasets import scan_dataset
from pneumo_desktop.model.bundle import ModelBundle


def evaluate_folder(data_dir: str | Path, bundle: ModelBundle, threshold: float | None = None,
                    progress=None) -> dict[str, Any]:
    """Score every labelled image (the `test` split only, in the Kaggle layout) and report.

    Studies the input check refuses are counted in `input_check` (by reason) and still enter
    the metrics with their withheld score, so that figures stay comparable between models."""
    from pneumo_desktop.model.inference import Predictor

    scan = scan_dataset(data_dir)
    samples = scan.samples
    if scan.layout == "kaggle" and any(s.split == "test" for s in samples):
        samples = [s for s in samples if s.split == "test"]
    predictor = Predictor(bundle, threshold=threshold)
    labels, scores, errors, refused, inputs = [], [], [], [], []
    for i, (sample, item) in enumerate(zip(samples, predictor.score_files(
            [s.path for s in samples], keep_inputs=True), strict=True)):
        scored = item.prediction or item.withheld
        if scored is None:
            errors.append({"path": str(sample.path), "error": item.error})
        else:
            labels.append(sample.label)
            scores.append(scored.probability)
            inputs.append(item.model_input)
        if item.refusal:
            refused.append({"path": str(sample.path), "code": item.refusal.code,
                            "reason": item.refusal.reason})
        if progress:
            progress(i + 1, len(samples))
    report = metrics.report(np.array(labels), np.array(scores), predictor.threshold)
    report.update(model=bundle.name, data=str(Path(data_dir).resolve()), errors=errors)
    codes: dict[str, int] = {}
    for entry in refused:
        codes[entry["code"]] = codes.get(entry["code"], 0) + 1
    report["input_check"] = {
        "learned_check": bundle.has_learned_check, "studies": len(labels),
        "refused": len(refused), "refused_fraction": len(refused) / max(len(labels), 1),
        "by_reason": codes, "refused_studies": refused}
    if inputs:
        from pneumo_desktop.evaluation.shortcuts import shortcut_report

        report.update(shortcut_report(predictor, np.stack(inputs), np.array(labels, bool)))
    return report


def home_splits(data_root: str | Path, card) -> dict[str, list[Path]]:
    """The model card's patient-level validation and test splits of the 224 px training set
    (`data_root` is ../shared/data), rebuilt from the card's split settings."""
    from pneumo_desktop.evaluation.datasets import patient_split

    data_root = Path(data_root)
    config = card.training.get("config", {})
    holdout = [data_root / "chest_xray_native" / "train"] if config.get("holdout") else []
    scan = scan_dataset(data_root / "chest_xray_224" / "train", holdout)
    splits = patient_split(scan.samples, config.get("val_fraction", 0.15),
                           config.get("test_fraction", 0.15), config.get("seed", 42))
    return {k: [s.path for s in v] for k, v in splits.items() if k != "train"}


def save_plots(report: dict[str, Any], folder: str | Path, bundle: ModelBundle | None = None
               ) -> list[Path]:
    """ROC curve, confusion matrix and (if the card has them) training curves as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    fig = Figure(figsize=(5, 5), dpi=120)
    ax = fig.add_subplot()
    fpr = [p["fpr"] for p in report["roc"]]
    tpr = [p["tpr"] for p in report["roc"]]
    ax.plot(fpr, tpr, lw=2, label=f"AUC {report['auc']:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.plot(1 - report["specificity"], report["sensitivity"], "o", color="crimson",
            label=f"threshold {report['threshold']:.3f}")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC curve", xlim=(0, 1),
           ylim=(0, 1.01))
    ax.legend(loc="lower right")
    written.append(folder / "roc.png")
    fig.savefig(written[-1], bbox_inches="tight")

    fig = Figure(figsize=(4.5, 4), dpi=120)
    ax = fig.add_subplot()
    cm = np.array(report["confusion_matrix"])
    ax.imshow(cm, cmap="Blues")
    for (i, j), value in np.ndenumerate(cm):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > cm.max() / 2 else "black", fontsize=14)
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["NORMAL", "PNEUMONIA"],
           yticklabels=["NORMAL", "PNEUMONIA"], xlabel="predicted", ylabel="truth",
           title="Confusion matrix")
    written.append(folder / "confusion_matrix.png")
    fig.savefig(written[-1], bbox_inches="tight")

    history = (bundle.card.training.get("history") if bundle else None) or {}
    if history.get("loss"):
        fig = Figure(figsize=(9, 3.5), dpi=120)
        for k, key in enumerate(("loss", "auc")):
            ax = fig.add_subplot(1, 2, k + 1)
            epochs = np.arange(1, len(history[key]) + 1)
            ax.plot(epochs, history[key], label="training")
            ax.plot(epochs, history[f"val_{key}"], label="validation")
            ax.set(xlabel="epoch", title=key.upper() if key == "auc" else "loss")
            ax.legend()
        written.append(folder / "training_curves.png")
        fig.savefig(written[-1], bbox_inches="tight")
    return written
