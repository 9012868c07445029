"""Fine-tuning on a clinic's small set: the recipe's layers, cross-fitting by patient, the
card's `local` section and the small-set warning (`train --init-from`)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pneumo_desktop.cli import main
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model.bundle import read_bundle
from pneumo_desktop.training.config import TrainConfig
from pneumo_desktop.training.train import save_result, train

LOCAL_KEYS = {"n", "n_pneumonia", "n_normal", "auc", "sensitivity", "specificity",
              "sensitivity_ci95", "specificity_ci95", "method"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, Path]:
    """A parent model and a 'hospital' of 14 patients per class, two films for some."""
    root = tmp_path_factory.mktemp("tune")
    for folder in ("train/NORMAL", "train/PNEUMONIA", "site/NORMAL", "site/PNEUMONIA"):
        (root / folder).mkdir(parents=True)
    for i in range(20):
        cv2.imwrite(str(root / "train" / "NORMAL" / f"IM-{i:04d}-0001.jpeg"),
                    synthetic_chest(160, seed=i))
        cv2.imwrite(str(root / "train" / "PNEUMONIA" / f"person{i}_virus_1.jpeg"),
                    synthetic_chest(160, seed=500 + i, opacity=True))
    for i in range(14):
        for film in range(1 + (i % 3 == 0)):  # some patients have two films
            cv2.imwrite(str(root / "site" / "NORMAL" / f"IM-{7000 + i:04d}-000{film + 1}.jpeg"),
                        synthetic_chest(160, seed=7000 + 10 * i + film))
            cv2.imwrite(str(root / "site" / "PNEUMONIA" / f"person{700 + i}_virus_{film}.jpeg"),
                        synthetic_chest(160, seed=7500 + 10 * i + film, opacity=True))
    config = TrainConfig(architecture="custom_cnn", image_size=64, epochs=2, batch_size=8,
                         val_fraction=0.25, test_fraction=0.0)
    bundle = save_result(train(root / "train", config, name="parent"), root / "parent")
    return root / "site", bundle.path


def test_recipe_freezes_batch_norm_and_trains_the_last_block_and_head():
    from pneumo_desktop.model.architectures import build_model
    from pneumo_desktop.training.recipe import apply_recipe, leaves

    model = build_model("compact_cnn_x2", 64)
    counts = apply_recipe(model, TrainConfig(trainable="top"))
    learning = {layer.name for layer in leaves(model) if layer.trainable and layer.weights}
    assert learning == {"sep3", "logit"}  # sep3 of both members, and the head
    assert all(not layer.trainable for layer in leaves(model)
               if type(layer).__name__ == "BatchNormalization")
    assert counts["trainable_parameters"] == sum(int(np.prod(w.shape))
                                                 for w in model.trainable_weights)
    apply_recipe(model, TrainConfig(trainable="head"))
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {"logit"}
    apply_recipe(model, TrainConfig(trainable="all", freeze_batch_norm=False))
    assert len(model.trainable_weights) == len([w for w in model.weights
                                                if "moving" not in w.path])


def test_cross_fitting_keeps_each_patient_in_one_fold(site):
    from pneumo_desktop.evaluation.datasets import patient_folds, scan_dataset

    samples = scan_dataset(site[0]).samples
    assert len({s.patient for s in samples}) < len(samples)  # some patients have two films
    folds = patient_folds(samples, 5, 42)
    held_by = {}
    for f, (train_s, held_s) in enumerate(folds):
        assert not {s.patient for s in train_s} & {s.patient for s in held_s}
        for s in held_s:
            assert held_by.setdefault(s.patient, f) == f
    assert sorted(held_by) == sorted({s.patient for s in samples})


def test_train_init_from_cross_fits_and_writes_the_local_section(site, tmp_path, capsys):
    data, parent = site
    out = tmp_path / "tuned"
    assert main(["train", str(data), "--init-from", str(parent), "--out", str(out),
                 "--epochs", "2", "--batch-size", "8", "--cross-fit-folds", "3",
                 "--target-sensitivity", "0.9"]) == 0
    bundle = read_bundle(out)
    card = bundle.card
    local = card.local
    assert set(local) >= LOCAL_KEYS
    assert local["n"] + local["refused_by_input_check"] + local["unreadable"] == 38
    assert local["n_pneumonia"] + local["n_normal"] == local["n"] and local["n_normal"] >= 18
    for key in ("sensitivity", "specificity"):
        low, high = local[f"{key}_ci95"]
        assert 0.0 <= low <= local[key] <= high <= 1.0
    assert local["folds"] == 3 and "cross-fitting" in local["method"]
    active = local["active_model"]
    assert active["name"] == "parent" and LOCAL_KEYS - {"n", "n_pneumonia", "n_normal",
                                                        "method"} <= set(active)
    assert any("fewer than 30" in w for w in local["warnings"])
    assert card.threshold_rule["method"] == "local_cross_fitting" and 0 < card.threshold < 1
    crossfit = card.training["cross_fitting"]
    assert crossfit["folds"] == 3 and len(crossfit["best_epochs"]) == 3
    assert card.training["fine_tuned_from"] == "parent"
    assert card.training["config"]["trainable"] == "top"
    assert card.training["config"]["freeze_batch_norm"] is True
    assert bundle.has_learned_check
    err = capsys.readouterr().err
    assert "fold 3/3" in err and "warning: fewer than 30" in err
    assert "active model parent at its threshold" in err
    assert str(data) not in json.dumps(json.loads((out / "model.json").read_text()))


def test_fine_tuning_refuses_too_few_studies(site, tmp_path, capsys):
    tiny = tmp_path / "tiny"
    for label in ("NORMAL", "PNEUMONIA"):
        (tiny / label).mkdir(parents=True)
        for i in range(4):
            cv2.imwrite(str(tiny / label / f"{label}{i}.png"),
                        synthetic_chest(160, seed=i, opacity=label == "PNEUMONIA"))
    assert main(["train", str(tiny), "--init-from", str(site[1]), "--out",
                 str(tmp_path / "x"), "--epochs", "1"]) == 2
    assert "Too few studies to fine-tune" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
