"""`pneumo-desktop reference`: the input-drift reference of an existing bundle.

A bundle trained now gets its `reference` section at training (`train.train`). For one trained
before (the shipped model), the patient split its card describes is made again from the same
data and `--holdout` folders, its validation films are scored exactly as the app scores a study
(decoding, input check, logit, typicality), and the section is written into `model.json` under
its own key: the card's other keys are left as they are (its sha256 covers model.keras only).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pneumo_desktop.atomic import atomic_write_bytes
from pneumo_desktop.errors import PneumoError
from pneumo_desktop.evaluation.drift import reference_section
from pneumo_desktop.model.bundle import CARD_FILE, ModelBundle, read_bundle
from pneumo_desktop.training.config import TrainConfig
from pneumo_desktop.training.train import adopt_split, scan_data, split_samples


@dataclass
class ScoredSplit:
    """Films scored as the app scores them: labels, logits, typicality; refused/unreadable
    films are counted (a refused film keeps its logit and typicality)."""

    labels: np.ndarray
    logits: np.ndarray
    typicality: np.ndarray
    refused: int = 0
    unreadable: int = 0


def score_paths(bundle: ModelBundle, paths: list[Path], labels: list[int]) -> ScoredSplit:
    """Score `paths` with `bundle` (input check on) and keep what drift monitoring reads."""
    from pneumo_desktop.model.inference import Predictor

    predictor = Predictor(bundle, input_check=False)  # keep every film's logit and typicality
    kept_labels, logits, typicality, refused, unreadable = [], [], [], 0, 0
    for label, item in zip(labels, predictor.score_files(paths), strict=True):
        prediction = item.prediction
        if prediction is None:
            unreadable += 1
            continue
        refused += prediction.refusal is not None
        kept_labels.append(label)
        logits.append(prediction.logit)
        typicality.append(np.nan if prediction.typicality is None else prediction.typicality)
    return ScoredSplit(np.array(kept_labels, bool), np.array(logits, np.float64),
                       np.array(typicality, np.float64), refused, unreadable)


def split_of(bundle: ModelBundle, data_dir: str | Path, holdout: list[str],
             split: str = "val") -> list:
    """The samples of one split (`train`, `val`, `test`) of the run that trained `bundle`."""
    config = TrainConfig(image_size=bundle.card.input_size, holdout=list(holdout))
    adopt_split(config, bundle)
    samples = split_samples(scan_data(data_dir, config), config)[split]
    expected = bundle.card.training.get("counts", {}).get(split, {}).get("images")
    if expected is not None and abs(len(samples) - expected) > max(2, 0.01 * expected):
        raise PneumoError(f"{len(samples)} images in the {split} split, the card says "
                          f"{expected}: not the data or --holdout the model was trained with")
    return samples


def derive_reference(data_dir: str | Path, bundle_path: str | Path, holdout: list[str],
                     log=lambda text: print(text, file=sys.stderr)) -> dict[str, Any]:
    """The `reference` section of `bundle_path` from its validation split."""
    bundle = read_bundle(bundle_path)
    samples = split_of(bundle, data_dir, holdout, "val")
    log(f"scoring the {len(samples)} films of {bundle.name}'s validation split")
    scored = score_paths(bundle, [s.path for s in samples], [s.label for s in samples])
    log(f"{len(scored.labels)} scored ({scored.refused} the input check would refuse), "
        f"{scored.unreadable} unreadable")
    typicality = scored.typicality if bundle.has_learned_check else None
    return reference_section(scored.logits, typicality, scored.labels,
                             f"validation split (patient-level) of the training run, "
                             f"{len(scored.labels)} films scored as the app scores a study")


def write_reference(bundle_path: str | Path, reference: dict[str, Any]) -> Path:
    """Set `reference` in the bundle's model.json (atomically), leaving every other key."""
    card_path = Path(bundle_path) / CARD_FILE
    data = json.loads(card_path.read_text(encoding="utf-8"))
    data["reference"] = reference
    atomic_write_bytes(card_path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    read_bundle(bundle_path)  # still a valid bundle
    return card_path
