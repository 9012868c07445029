"""The LiteRT engine (issue 26): bundles carry a checked model.tflite; LiteRT and TensorFlow give
the same probabilities (within 1e-4), decisions, refusals and heat maps, on synthetic inputs and
on real films; older bundles are converted once; scoring never imports TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pneumo_desktop.errors import BundleError, PneumoError
from pneumo_desktop.imaging.preprocessing import prepare
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model.bundle import CARD_FILE, TFLITE_FILE, default_bundle_path, read_bundle
from pneumo_desktop.model.inference import Predictor
from tests.conftest import make_bundle, shared_data

PROBABILITY_TOLERANCE = 1e-4
REPO = Path(__file__).resolve().parents[2]


def _inputs(size: int, n: int = 6) -> np.ndarray:
    films = [prepare(synthetic_chest(180, seed=40 + i, opacity=i % 2 == 0), size)
             for i in range(n)]
    films.append(np.rot90(films[0]).copy())  # turned, and
    films.append(255.0 - films[1])  # inverted: what the learned check refuses
    return np.stack(films).astype(np.float32)


@pytest.fixture(scope="module")
def thorax_bundle(tmp_path_factory):
    """The shipped model's architecture (an ensemble with dilated convolutions and the thorax
    prior), small and random."""
    return make_bundle(tmp_path_factory.mktemp("b") / "fine", "compact_cnn_fine_thorax_x2", 96,
                       seed=3)


def test_write_bundle_records_the_tflite_and_read_bundle_checks_it(thorax_bundle, tmp_path):
    import shutil

    card = thorax_bundle.card.tflite
    assert card["file"] == TFLITE_FILE and len(card["sha256"]) == 64
    assert card["outputs"] == ["logit", "cam", "pooled"] and card["batch"] == 1
    assert thorax_bundle.has_tflite and thorax_bundle.tflite_file.stat().st_size > 10_000
    copy = tmp_path / "copy"
    shutil.copytree(thorax_bundle.path, copy)
    data = bytearray((copy / TFLITE_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / TFLITE_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.tflite does not match the checksum"):
        read_bundle(copy)
    (copy / TFLITE_FILE).unlink()
    with pytest.raises(BundleError, match="model.tflite cannot be read"):
        read_bundle(copy)


def test_engines_agree_on_synthetic_inputs(thorax_bundle):
    lite = Predictor(thorax_bundle, batch_size=4)
    tf = Predictor(thorax_bundle, batch_size=4, engine="tensorflow")
    assert (lite.engine, tf.engine) == ("litert", "tensorflow")
    x = _inputs(96)
    p_lite, cams_lite, pooled_lite = lite.predict_with_features(x)
    p_tf, cams_tf, pooled_tf = tf.predict_with_features(x)
    assert np.abs(p_lite - p_tf).max() < PROBABILITY_TOLERANCE
    assert cams_lite.shape == cams_tf.shape == (len(x), 6, 6)
    assert np.abs(cams_lite - cams_tf).max() < 1e-3
    assert np.abs(pooled_lite - pooled_tf).max() < 1e-3 * max(1.0, np.abs(pooled_tf).max())


def test_an_unknown_engine_is_refused(thorax_bundle):
    with pytest.raises(PneumoError, match="Unknown engine 'onnx'"):
        Predictor(thorax_bundle, engine="onnx")


def test_a_bundle_without_tflite_is_converted_once_and_cached(thorax_bundle, tmp_path):
    import shutil

    from pneumo_desktop.model.tflite_export import cached_path

    old = tmp_path / "old"
    shutil.copytree(thorax_bundle.path, old)
    (old / TFLITE_FILE).unlink()
    card = json.loads((old / CARD_FILE).read_text())
    del card["tflite"]  # as written before issue 26
    (old / CARD_FILE).write_text(json.dumps(card))
    bundle = read_bundle(old)
    assert not bundle.has_tflite
    cached_path(bundle.card.sha256).unlink(missing_ok=True)
    first = Predictor(bundle)
    assert first.engine == "litert" and "converted now, once" in first.engine_note
    assert cached_path(bundle.card.sha256).is_file()
    second = Predictor(bundle)
    assert "converted earlier" in second.engine_note
    x = _inputs(96, n=2)
    assert np.array_equal(first.predict_inputs(x)[0], second.predict_inputs(x)[0])


def test_without_litert_tensorflow_scores_and_says_so(thorax_bundle, monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # as if it were not installed
    predictor = Predictor(thorax_bundle)
    assert predictor.engine == "tensorflow"
    assert predictor.engine_note == "TensorFlow (ai-edge-litert is not installed)"


# -- the shipped model on real films ----------------------------------------------------------
@pytest.fixture(scope="module")
def shipped_engines():
    path = default_bundle_path()
    if not (path / TFLITE_FILE).is_file():
        pytest.skip("the shipped model (models/default) is absent")
    bundle = read_bundle(path)
    return Predictor(bundle, batch_size=8), Predictor(bundle, batch_size=8, engine="tensorflow")


def _real_films() -> list[Path]:
    films = sorted(shared_data("chest_xray_224", "train").rglob("*.jpeg"))[::130]
    films += sorted(shared_data("chest_xray_native", "train").rglob("*.jpeg"))[::6]
    films += sorted(p for folder in ("dicom", "not_chest")
                    for p in shared_data(folder).iterdir() if p.is_file())
    return films


def _outcome(item):
    """(label, refusal code, probability, heat map) of a scored file; None for a read error."""
    prediction = item.prediction or item.withheld
    if prediction is None:
        return None
    refusal = prediction.refusal.code if prediction.refusal else None
    return prediction.label, refusal, prediction.probability, prediction.heatmap


def test_shipped_model_agrees_with_tensorflow_on_real_films(shipped_engines, tmp_path):
    lite, tf = shipped_engines
    films = _real_films()
    # wrong inputs made from real films: turned, inverted, a corner
    source = cv2.imread(str(films[0]), cv2.IMREAD_GRAYSCALE)
    for name, pixels in (("turned.png", np.rot90(source)), ("inverted.png", 255 - source),
                         ("corner.png", source[: source.shape[0] // 2, : source.shape[1] // 2])):
        cv2.imwrite(str(tmp_path / name), pixels)
        films.append(tmp_path / name)
    scored_lite = list(lite.score_files(films, heatmaps=True))
    scored_tf = list(tf.score_files(films, heatmaps=True))
    refused = 0
    for path, a, b in zip(films, map(_outcome, scored_lite), map(_outcome, scored_tf),
                          strict=True):
        assert (a is None) == (b is None), path
        if a is None:
            continue
        assert a[:2] == b[:2], f"{path.name}: {a[:2]} (LiteRT) != {b[:2]} (TensorFlow)"
        assert abs(a[2] - b[2]) < PROBABILITY_TOLERANCE, path.name
        assert np.abs(a[3] - b[3]).max() < 1e-3, path.name
        refused += a[1] is not None
    # the comparison covers the learned check's refusals too (turned, inverted, corner); the
    # not_chest DICOMs are refused by their tags before any model runs (issue 23)
    assert refused >= 3
    assert len(films) - refused >= 40


# -- TensorFlow stays out of scoring ----------------------------------------------------------
SCORE_ONE_FILM = """
import sys
from pneumo_desktop.cli.main import main
code = main(["score", sys.argv[1], "--out", sys.argv[2]])
from pneumo_desktop.cli.self_test import run_self_test
assert run_self_test(lambda line: None)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
assert not loaded, loaded
print("exit", code)  # 3: the input check refused it (the model ran all the same)
"""


def test_scoring_a_film_and_the_self_test_never_import_tensorflow(tmp_path):
    if not (default_bundle_path() / TFLITE_FILE).is_file():
        pytest.skip("the shipped model (models/default) is absent")
    film = tmp_path / "film.png"
    cv2.imwrite(str(film), synthetic_chest(400, seed=5))  # a drawing: the check may refuse it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get(
        "PYTHONPATH", "")])}
    env.pop("PNEUMO_ENGINE", None)
    result = subprocess.run([sys.executable, "-c", SCORE_ONE_FILM, str(film),
                             str(tmp_path / "out.csv")], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "exit 0" in result.stdout or "exit 3" in result.stdout
    row = (tmp_path / "out.csv").read_text().splitlines()[1]
    assert "film.png" in row and ("passed" in row or "refused" in row)


def test_cli_engine_option_gives_the_same_csv(tiny_bundle, image_folder, tmp_path, capsys):
    import csv

    from pneumo_desktop.cli.main import main

    rows = {}
    for engine in ("litert", "tensorflow"):
        out = tmp_path / f"{engine}.csv"
        main(["score", str(image_folder), "--out", str(out), "--model", str(tiny_bundle),
              "--engine", engine])
        err = capsys.readouterr().err
        assert ("engine: TensorFlow (model.keras)" in err) == (engine == "tensorflow")
        with open(out, newline="") as handle:
            rows[engine] = list(csv.DictReader(handle))
    assert len(rows["litert"]) == len(rows["tensorflow"]) >= 4
    for a, b in zip(rows["litert"], rows["tensorflow"], strict=True):
        assert (a["path"], a["prediction"], a["error"], a["input_check"]) == \
            (b["path"], b["prediction"], b["error"], b["input_check"])
        if a["probability"]:
            assert abs(float(a["probability"]) - float(b["probability"])) < PROBABILITY_TOLERANCE
