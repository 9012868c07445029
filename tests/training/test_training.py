"""Training pipeline on small synthetic datasets (a few steps each)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pneumo_desktop.cli import main
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model.bundle import read_bundle
from pneumo_desktop.model.inference import Predictor
from pneumo_desktop.training.config import TrainConfig, TrainingCallbacks, TrainingCancelled
from pneumo_desktop.training.train import cross_validate, save_result, train
from tests.conftest import shared_data

FAST = dict(architecture="custom_cnn", image_size=64, epochs=2, batch_size=8,
            max_steps_per_epoch=3, val_fraction=0.25, test_fraction=0.0, augment=True)


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory) -> Path:
    """NORMAL and PNEUMONIA (bright opacity) images, two per patient, Kermany-style names."""
    root = tmp_path_factory.mktemp("data")
    for label in ("NORMAL", "PNEUMONIA"):
        (root / label).mkdir()
    for i in range(32):
        for k in range(2):
            seed = i * 10 + k
            cv2.imwrite(str(root / "NORMAL" / f"IM-{i:04d}-000{k}.jpeg"),
                        synthetic_chest(160, seed=seed))
            cv2.imwrite(str(root / "PNEUMONIA" / f"person{i}_bacteria_{k}.jpeg"),
                        synthetic_chest(160, seed=seed + 5000, opacity=True))
    (root / "NORMAL" / "IM-9999-0001.jpeg").write_bytes(b"")  # unreadable: skipped, listed
    return root


class Recorder(TrainingCallbacks):
    def __init__(self, stop_after_batches=None, cancel_after_batches=None):
        self.batches, self.epochs, self.messages = [], [], []
        self.stop_after, self.cancel_after = stop_after_batches, cancel_after_batches

    def on_message(self, text):
        self.messages.append(text)

    def on_batch(self, p):
        self.batches.append(p)

    def on_epoch(self, p):
        self.epochs.append(p)

    def stop_requested(self):
        return self.stop_after is not None and len(self.batches) >= self.stop_after

    def cancel_requested(self):
        return self.cancel_after is not None and len(self.batches) >= self.cancel_after


def test_train_saves_a_bundle_that_loads_and_scores(synthetic_data, tmp_path):
    rec = Recorder()
    result = train(synthetic_data, TrainConfig(**FAST, target_sensitivity=0.9), rec, name="syn")
    assert len(rec.batches) == 6 and len(rec.epochs) == 2
    assert all(np.isfinite(b.loss) and b.images_per_second > 0 for b in rec.batches)
    assert any("unreadable" in m and "IM-9999" in m for m in rec.messages)
    bundle = save_result(result, tmp_path / "syn")
    card = read_bundle(bundle.path).card
    assert card.architecture == "custom_cnn" and card.input_size == 64
    rule = card.threshold_rule
    assert (rule["method"], rule["target"], rule["confidence"]) == ("target_sensitivity", 0.9,
                                                                    0.95)
    assert rule["split"] == "validation (patient-level)"
    # the threshold rule: validation sensitivity reaches the target at the stored threshold
    assert card.validation["sensitivity"] >= 0.9
    assert np.mean(result.val_scores[result.val_labels == 1] >= card.threshold) >= 0.9
    assert card.calibration["method"].startswith("platt") and "ece" in card.calibration
    assert card.training["counts"]["val"]["patients"] > 0
    assert card.training["unreadable"] == 1
    scored = list(Predictor(bundle).score_files(sorted(synthetic_data.rglob("*.jpeg"))[:5]))
    assert all(s.prediction and 0 <= s.prediction.probability <= 1 for s in scored)
    # the drift reference: the validation split's logits (as the card's threshold sees them)
    reference = card.reference
    assert reference["n"] == card.validation["n"] and len(reference["score"]["edges"]) <= 9
    logits = np.log(result.val_scores / (1 - result.val_scores))
    assert reference["score"]["quantiles"]["0.50"] == pytest.approx(np.median(logits), abs=1e-4)
    assert len(reference["typicality"]["pneumonia"]) == len(reference["typicality"]["edges"]) + 1
    first = scored[0].prediction  # scoring gives what the monitor compares with it
    # (compared on the probability scale: a saturated probability has no finite log-odds)
    assert 1 / (1 + np.exp(-first.logit)) == pytest.approx(first.probability, abs=1e-6)
    assert first.typicality is not None and first.typicality > 0


def test_cancel_raises_and_writes_nothing(synthetic_data, tmp_path):
    with pytest.raises(TrainingCancelled):
        train(synthetic_data, TrainConfig(**FAST), Recorder(cancel_after_batches=2))
    assert not (tmp_path / "never").exists()


def test_stop_keeps_the_best_model_so_far(synthetic_data, tmp_path):
    rec = Recorder(stop_after_batches=4)
    result = train(synthetic_data, TrainConfig(**{**FAST, "epochs": 5}), rec)
    assert len(rec.batches) == 4 and result.stopped_early
    assert result.card.training["stopped_by_user"] is True
    bundle = save_result(result, tmp_path / "stopped")
    assert read_bundle(bundle.path).card.training["epochs_run"] == 2


def test_fine_tune_from_a_bundle(synthetic_data, tmp_path):
    base = save_result(train(synthetic_data, TrainConfig(**FAST), name="base"), tmp_path / "base")
    config = TrainConfig(**{**FAST, "architecture": "compact_cnn", "image_size": 32},
                         init_from=str(base.path))
    tuned = train(synthetic_data, config)
    assert tuned.card.architecture == "custom_cnn" and tuned.card.input_size == 64
    assert tuned.card.training["fine_tuned_from"] == "base"
    assert tuned.card.training["config"]["learning_rate"] == pytest.approx(1e-4)


def test_cross_validation_reports_mean_and_sd(synthetic_data):
    cv = cross_validate(synthetic_data, TrainConfig(**{**FAST, "epochs": 1}, folds=2))
    assert cv["folds"] == 2 and len(cv["auc"]) == 2
    assert cv["auc_mean"] == pytest.approx(np.mean(cv["auc"]))


def test_cli_train_then_evaluate(synthetic_data, tmp_path, capsys):
    out = tmp_path / "cli-model"
    code = main(["train", str(synthetic_data), "--out", str(out), "--arch", "custom_cnn",
                 "--image-size", "64", "--epochs", "1", "--batch-size", "16",
                 "--val-fraction", "0.25", "--test-fraction", "0.2"])
    assert code == 0 and (out / "model.keras").is_file()
    card = json.loads((out / "model.json").read_text())
    assert "test" in card["training"]
    report_path, plots = tmp_path / "report.json", tmp_path / "plots"
    code = main(["evaluate", str(synthetic_data), "--model", str(out), "--out", str(report_path),
                 "--plots", str(plots)])
    assert code == 3  # the empty file is reported as an error
    report = json.loads(report_path.read_text())
    for key in ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1", "log_loss",
                "confusion_matrix", "roc", "threshold", "n"):
        assert key in report
    assert report["n"] == 128 and len(report["errors"]) == 1
    focus, masking = report["heatmap_focus"], report["border_masking"]
    assert 0 <= focus["overall"]["inside_thorax_box"] <= 1 and "pneumonia" in focus
    assert masking["auc"] == pytest.approx(report["auc"], abs=1e-6)
    assert 0 <= masking["flipped_decisions"] <= 1
    assert sum(map(sum, report["confusion_matrix"])) == 128
    for png in ("roc.png", "confusion_matrix.png", "training_curves.png"):
        assert cv2.imread(str(plots / png)) is not None


def test_brief_training_on_real_images(tmp_path):
    data = shared_data("chest_xray_224", "train")
    config = TrainConfig(architecture="compact_cnn", image_size=96, epochs=1, batch_size=16,
                         max_steps_per_epoch=8, limit=240, test_fraction=0.0)
    result = train(data, config)
    assert result.card.training["counts"]["train"]["images"] > 150
    assert 0 < result.card.threshold < 1
    bundle = save_result(result, tmp_path / "real")
    assert read_bundle(bundle.path).card.validation["n"] > 20


def test_ensemble_member_is_trained_on_the_same_split_and_merged(synthetic_data, tmp_path):
    from pneumo_desktop.model.heatmaps import grad_cam

    base = save_result(train(synthetic_data, TrainConfig(**FAST), name="m1"), tmp_path / "m1")
    config = TrainConfig(**{**FAST, "val_fraction": 0.4, "seed": 3},
                         ensemble_with=[str(base.path)])
    result = train(synthetic_data, config, name="ens")
    card = result.card
    assert card.architecture == "custom_cnn_x2"
    assert card.training["config"]["val_fraction"] == 0.25  # adopted from the member
    assert card.training["config"]["seed"] == 42 and card.training["config"]["init_seed"] == 43
    assert len(card.training["ensemble"]["member_validation_auc"]) == 2
    bundle = save_result(result, tmp_path / "ens")
    predictor = Predictor(read_bundle(bundle.path))
    images = np.stack([cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (64, 64))
                       for p in sorted(synthetic_data.rglob("person*.jpeg"))[:4]])
    batch = images[..., None].astype("float32")
    _, cams = predictor.predict_inputs(batch)
    assert np.abs(cams - grad_cam(predictor.model, batch, "gap", "logit")).max() < 1e-4


def test_merged_logit_is_the_mean_of_the_members(tmp_path):
    import keras

    from pneumo_desktop.evaluation.datasets import ImageCache
    from pneumo_desktop.model.architectures import LOGIT_LAYER, build_model, merge_into_ensemble
    from pneumo_desktop.training.train import predict_logits

    members = []
    for seed in (1, 2, 3):
        keras.utils.set_random_seed(seed)
        m = build_model("compact_cnn", 64)
        k, b = m.get_layer(LOGIT_LAYER).get_weights()
        m.get_layer(LOGIT_LAYER).set_weights([np.random.default_rng(seed).normal(0, 1, k.shape),
                                              b + seed])
        members.append(m)
    ensemble = merge_into_ensemble(members, "compact_cnn", 64)
    rng = np.random.default_rng(0)
    cache = ImageCache(rng.integers(0, 255, (5, 64, 64), dtype=np.uint8), np.zeros(5), [], [])
    expected = np.mean([predict_logits(m, cache) for m in members], axis=0)
    assert np.allclose(predict_logits(ensemble, cache), expected, atol=1e-4)


def test_cross_validation_of_fine_tuning_uses_the_bundle_size(synthetic_data, tmp_path):
    base = save_result(train(synthetic_data, TrainConfig(**FAST), name="b"), tmp_path / "b")
    config = TrainConfig(**{**FAST, "epochs": 1, "image_size": 32}, folds=2,
                         init_from=str(base.path))
    cv = cross_validate(synthetic_data, config)
    assert len(cv["auc"]) == 2 and all(0.0 <= a <= 1.0 for a in cv["auc"])


def test_fine_tuning_skips_films_the_parent_check_refuses(synthetic_data, tmp_path):
    """A grey photograph in a class folder passes the tag and pixel checks; the parent's
    learned check keeps it out of fine-tuning, and the card records no path."""
    import shutil

    import matplotlib.cbook

    base = save_result(train(synthetic_data, TrainConfig(**FAST), name="base"), tmp_path / "base")
    assert base.has_learned_check
    data = tmp_path / "site"
    shutil.copytree(synthetic_data, data)
    portrait = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False),
                          cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(data / "NORMAL" / "portrait.png"), portrait)
    messages = []

    class Log(TrainingCallbacks):
        def on_message(self, text):
            messages.append(text)

    result = train(data, TrainConfig(**FAST, init_from=str(base.path)), Log())
    assert any("portrait.png" in m and "not scored: " in m for m in messages), messages
    counts = result.card.training["counts"]  # 128 synthetic films (+1 photo if it were kept);
    assert 120 <= sum(c["images"] for c in counts.values()) <= 128  # ~1 % of films refused too
    card = json.dumps(result.card.to_json())
    assert str(tmp_path) not in card and "portrait" not in card


def test_epoch_summary_names_the_best_epoch_or_says_where_the_final_models_figures_come_from():
    from pneumo_desktop.training.config import EpochProgress, epoch_summary

    best = EpochProgress(2, 5, 0.3, 0.9, 0.35, 0.912, 40.0, 120.0, 0.912, True)
    latest = EpochProgress(3, 5, 0.28, 0.92, 0.4, 0.905, 41.0, 80.0, 0.912, False)
    assert epoch_summary(best, latest) == ("Best so far: epoch 2, validation AUC 0.912 (this "
                                           "epoch: 0.905, 41 s)")
    final = EpochProgress(1, 2, 0.3, 0.9, np.nan, np.nan, 12.0, 12.0, -np.inf, True)
    text = epoch_summary(final, final)
    assert "nan" not in text.lower() and "inf" not in text
    assert "all your studies" in text and "come from the folds" in text


def _pooled_log_loss(section: dict, when: str) -> float:
    return sum(section[k][f"log_loss_{when}"] for k in ("validation", "validation, shifted"))


def test_shift_calibration_at_training_time_and_refit_without_training(synthetic_data, tmp_path):
    """`train --shift-calibration` fits on the validation split and its shifted copy and reports
    before/after on them and the (shifted) test split; `shift-calibrate` does the same for a
    saved bundle: the threshold moves, every decision stays."""
    config = TrainConfig(**{**FAST, "test_fraction": 0.2}, shift_calibration=True)
    result = train(synthetic_data, config, name="shifted")
    calibration = result.card.calibration
    assert calibration["method"].startswith("platt on the validation split and a shifted copy")
    shift = calibration["shift"]
    assert {"validation", "validation, shifted", "test", "test, shifted"} <= set(shift)
    assert shift["validation"]["n"] == result.card.validation["n"]
    assert all(0 <= shift[k]["ece_after"] <= 1 for k in ("test", "test, shifted"))
    # Platt is the maximum-likelihood fit on both copies: never worse there than no change
    assert _pooled_log_loss(shift, "after") <= _pooled_log_loss(shift, "before") + 1e-6
    base = save_result(result, tmp_path / "base")

    out = tmp_path / "refit"
    assert main(["shift-calibrate", str(synthetic_data), "--model", str(base.path), "--out",
                 str(out)]) == 0
    refit = read_bundle(out)
    again = refit.card.calibration
    assert again["before"]["method"] == calibration["method"] and "shift" in again
    assert _pooled_log_loss(again["shift"], "after") <= _pooled_log_loss(again["shift"],
                                                                         "before") + 1e-6
    assert refit.card.training["shift_calibration"]["threshold_before"] == base.card.threshold
    files = sorted(synthetic_data.rglob("*.jpeg"))[1:25]
    before = [s.prediction for s in Predictor(base).score_files(files)]
    after = [s.prediction for s in Predictor(refit).score_files(files)]
    assert [p.probability >= base.card.threshold for p in before] == \
        [p.probability >= refit.card.threshold for p in after]
    assert main(["shift-calibrate", str(synthetic_data), "--model", str(out), "--out",
                 str(out)]) == 2  # never over the model it reads


def test_moved_threshold_keeps_decisions():
    from pneumo_desktop.evaluation.metrics import sigmoid
    from pneumo_desktop.training.shift_calibration import moved_threshold

    logits = np.linspace(-6, 6, 301)
    for a, b, t in ((0.5, 0.3, 0.955), (1.7, -1.0, 0.2), (1.0, 0.0, 0.5)):
        assert np.array_equal(sigmoid(logits) >= t,
                              sigmoid(a * logits + b) >= moved_threshold(t, a, b) - 1e-12)
    assert moved_threshold(0.955, 1.0, 0.0) == pytest.approx(0.955, abs=1e-6)
