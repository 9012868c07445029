"""Backend-neutral training: a bundle trained under JAX (`KERAS_BACKEND=jax pneumo-desktop
train`, in a subprocess) loads under TensorFlow, the app's backend, and scores the same."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from pneumo_desktop.cli import main
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model.bundle import read_bundle

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (pip install '.[jax]')")


def _scores(csv_path: Path) -> dict[str, float]:
    with open(csv_path, newline="") as f:
        return {Path(row["path"]).name: float(row["probability"]) for row in csv.DictReader(f)}


def logits(bundle: str, data: str):
    """The bundle's logits (before the sigmoid) for every film of `data`, in file order."""
    from pneumo_desktop.evaluation.datasets import build_cache, scan_dataset
    from pneumo_desktop.training.train import predict_logits

    loaded = read_bundle(bundle)
    cache = build_cache(scan_dataset(data).samples, loaded.card.input_size)
    return predict_logits(loaded.load_keras_model(), cache)


def test_a_bundle_trained_under_jax_scores_the_same_under_tensorflow(tmp_path):
    data = tmp_path / "data"
    for label in ("NORMAL", "PNEUMONIA"):
        (data / label).mkdir(parents=True)
    for i in range(12):
        cv2.imwrite(str(data / "NORMAL" / f"IM-{i:04d}-0001.jpeg"), synthetic_chest(160, seed=i))
        cv2.imwrite(str(data / "PNEUMONIA" / f"person{i}_bacteria_1.jpeg"),
                    synthetic_chest(160, seed=i + 5000, opacity=True))
    bundle, jax_csv, tf_csv = tmp_path / "jax-model", tmp_path / "jax.csv", tmp_path / "tf.csv"
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                          os.environ.get("PYTHONPATH", "")])}
    jax_logits = tmp_path / "jax-logits.npy"
    script = (
        "import sys, keras\n"
        "from pneumo_desktop.cli import main\n"
        "from tests.training.test_jax_backend import logits\n"
        "assert keras.backend.backend() == 'jax', keras.backend.backend()\n"
        f"code = main(['train', {str(data)!r}, '--out', {str(bundle)!r}, '--arch', 'custom_cnn',"
        " '--image-size', '64', '--epochs', '2', '--batch-size', '8', '--val-fraction', '0.3',"
        " '--test-fraction', '0', '--border-masking', '0.5', '--marks', '0.3'])\n"
        f"code = code or main(['score', {str(data)!r}, '--out', {str(jax_csv)!r}, '--model',"
        f" {str(bundle)!r}])\n"
        "import numpy as np\n"
        f"np.save({str(jax_logits)!r}, logits({str(bundle)!r}, {str(data)!r}))\n"
        "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    card = read_bundle(bundle).card
    assert card.training["backend"] == "jax" and card.training["epochs_run"] == 2

    assert main(["score", str(data), "--out", str(tf_csv), "--model", str(bundle)]) == 0
    import keras

    assert keras.backend.backend() == "tensorflow"
    under_jax, under_tf = _scores(jax_csv), _scores(tf_csv)
    assert len(under_tf) == 24 and under_jax.keys() == under_tf.keys()
    assert max(abs(under_jax[k] - under_tf[k]) for k in under_tf) < 1e-3
    # the logits too, where saturated probabilities would hide a difference
    import numpy as np

    under_jax, under_tf = np.load(jax_logits), logits(str(bundle), str(data))
    assert len(under_tf) == 24 and np.ptp(under_tf) > 1.0
    assert np.max(np.abs(under_jax - under_tf) / np.maximum(1.0, np.abs(under_tf))) < 1e-3
