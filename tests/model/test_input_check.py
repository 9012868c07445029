"""The input check: DICOM tags, pixels, the learned check, its storage, and the scoring contract."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from pneumo_desktop.cli import main
from pneumo_desktop.errors import BundleError
from pneumo_desktop.imaging.checks import age_in_years, check_pixels, check_tags, colour_fraction
from pneumo_desktop.imaging.image_io import load_xray
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model.input_check import (
    VIEW_CLASSES,
    LearnedCheck,
    fit_learned_check,
    view_transform,
)
from tests.conftest import write_dicom


def photo(size: int = 300, seed: int = 0) -> np.ndarray:
    """A colourful BGR 'photograph': smooth coloured blobs."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


# -- tags ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("modality", ["MR", "CT", "US", "PT", "NM", "OT", "XA", "RF", "MG"])
def test_non_radiograph_modalities_are_refused_by_name(modality):
    refusal = check_tags({"Modality": modality, "BodyPartExamined": "CHEST"})
    assert refusal is not None and refusal.code == "modality"
    assert refusal.message.startswith(f"not scored: DICOM modality {modality}")
    assert "only chest radiographs (CR, DX)" in refusal.reason


@pytest.mark.parametrize("tags", [
    {}, {"Modality": "CR"}, {"Modality": "dx", "BodyPartExamined": "Chest"},
    {"Modality": "DX", "BodyPartExamined": "THORAX", "ViewPosition": "PA"},
    {"Modality": "CR", "BodyPartExamined": "TORAX", "ViewPosition": "AP"},
    {"Modality": "DR", "BodyPartExamined": "CHEST_PA"},
    {"Modality": "CR", "BodyPartExamined": "LUNGS"},
    {"Modality": "CR", "BodyPartExamined": "UNKNOWN"},
])
def test_chest_radiograph_tags_and_missing_tags_pass(tags):
    assert check_tags(tags) is None


@pytest.mark.parametrize("part", ["KNEE", "HEAD", "L_SPINE", "ABDOMEN", "HAND", "SKULL"])
def test_other_body_parts_are_refused(part):
    refusal = check_tags({"Modality": "CR", "BodyPartExamined": part})
    assert refusal.code == "body_part" and part in refusal.reason


@pytest.mark.parametrize("view", ["LL", "RL", "LATERAL", "lat"])
def test_lateral_views_are_refused(view):
    refusal = check_tags({"Modality": "DX", "BodyPartExamined": "CHEST", "ViewPosition": view})
    assert refusal.code == "view"
    assert "lateral view" in refusal.reason and "frontal PA/AP" in refusal.reason


@pytest.mark.parametrize(("key", "text", "refused"), [
    ("SeriesDescription", "CHEST LAT", True), ("ProtocolName", "Thorax seitlich", True),
    ("SeriesDescription", "Chest PA", False), ("SeriesDescription", "BILATERAL HIPS", False),
    ("SeriesDescription", "CHEST LAT DECUB", False), ("ProtocolName", "", False),
])
def test_lateral_views_named_in_the_description(key, text, refused):
    refusal = check_tags({"Modality": "CR", "BodyPartExamined": "CHEST", key: text})
    assert (refusal is not None and refusal.code == "view") == refused


@pytest.mark.parametrize(("age", "birth", "study", "years"), [
    ("045Y", None, None, 45), ("38", None, None, 38), ("006M", None, None, 0.5),
    ("010W", None, None, 10 / 52.18), ("003D", None, None, 3 / 365.25),
    (None, "20200101", "20240101", 4.0), (None, "19400305", "20040826", 64.48),
    (None, "d14a028c2a3a", "20040826", None), ("", None, None, None), ("abc", None, None, None),
])
def test_age_in_years(age, birth, study, years):
    got = age_in_years(age, birth, study)
    assert (got is None) if years is None else got == pytest.approx(years, abs=0.01)


def test_adults_are_refused_children_pass():
    assert check_tags({"Modality": "CR"}, age_years=45).code == "age"
    assert "adult patient (age 45 years)" in check_tags({}, age_years=45.9).reason
    assert check_tags({"Modality": "CR"}, age_years=4) is None
    assert check_tags({"Modality": "CR"}, age_years=None) is None


# -- pixels -------------------------------------------------------------------------------------
def _input(pixels: np.ndarray, size: int = 64) -> np.ndarray:
    return cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA)[:, :, None]


def test_pixel_checks_pass_a_chest_and_refuse_wrong_frames():
    chest = synthetic_chest(300)
    assert check_pixels(_input(chest), chest.shape) is None
    assert check_pixels(_input(chest), (100, 300)).code == "too_small"
    assert check_pixels(_input(chest), chest.shape, colourfulness=0.6).code == "colour"
    for value in (0, 128, 255):
        assert check_pixels(_input(np.full((300, 300), value, np.uint8)), (300, 300)).code \
            == "blank"
    noise = np.random.default_rng(0).integers(0, 256, (300, 300)).astype(np.uint8)
    assert check_pixels(_input(noise), noise.shape).code == "noise"


def test_colour_fraction_tells_photos_from_grey_stored_as_rgb(tmp_path):
    grey = synthetic_chest(300)
    assert colour_fraction(np.repeat(grey[:, :, None], 3, axis=2)) == 0.0
    assert colour_fraction(photo()) > 0.3
    for name, pixels in (("grey_rgb.jpg", np.repeat(grey[:, :, None], 3, axis=2)),
                         ("photo.jpg", photo()), ("photo.png", photo())):
        cv2.imwrite(str(tmp_path / name), pixels)
    assert load_xray(tmp_path / "grey_rgb.jpg", min_side=64).colourfulness < 0.01
    assert load_xray(tmp_path / "photo.jpg", min_side=64).colourfulness > 0.3
    assert load_xray(tmp_path / "photo.png").colourfulness > 0.3


# -- the learned check --------------------------------------------------------------------------
def _profile_features(images: np.ndarray) -> np.ndarray:
    """A stand-in for a model's pooled features: coarse row and column profiles."""
    x = images.astype(np.float64) / 255.0
    rows = x.mean(axis=2).reshape(len(x), 8, -1).mean(axis=2)
    cols = x.mean(axis=1).reshape(len(x), 8, -1).mean(axis=2)
    top = x[:, : x.shape[1] // 4].mean(axis=(1, 2))[:, None]
    return np.concatenate([rows, cols, top, x.std(axis=(1, 2))[:, None]], axis=1)


@pytest.fixture(scope="module")
def films() -> np.ndarray:
    """Chest-like 64 px films with a bright neck band on top, so up and down differ."""
    out = []
    for seed in range(160):
        img = synthetic_chest(64, seed=seed).astype(np.int32)
        img[: 6 + seed % 4] += 60
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="module")
def fitted(films) -> LearnedCheck:
    return fit_learned_check(_profile_features, films[:120], films[120:], seed=1,
                             view_per_class=120)


def test_learned_check_passes_films_and_refuses_rotated_and_foreign_ones(fitted, films):
    verdicts = fitted.assess(_profile_features(films[120:]))
    assert sum(v is not None for v in verdicts) <= 1
    for view in (1, 2, 3):
        rotated = fitted.assess(_profile_features(view_transform(films[120:], view)))
        assert all(v is not None for v in rotated)
        assert all("orientation" in v.reason for v in rotated)
    noise = np.random.default_rng(0).integers(0, 256, (5, 64, 64)).astype(np.uint8)
    assert all(v.code == "atypical" for v in fitted.assess(_profile_features(noise)))
    info = fitted.info
    assert info["fitted_on"]["train_images"] == 120 and 0 <= info["validation_refused"] <= 0.05
    assert set(info["validation_view_accuracy"]) == set(VIEW_CLASSES)


def test_learned_check_round_trips_through_bytes(fitted, films):
    again = LearnedCheck.from_bytes(fitted.to_bytes(), fitted.info)
    features = _profile_features(films[:10])
    np.testing.assert_allclose(again.typicality(features), fitted.typicality(features),
                               rtol=1e-5)
    np.testing.assert_allclose(again.view_probabilities(features),
                               fitted.view_probabilities(features), rtol=1e-6)
    with pytest.raises(ValueError):
        fitted.assess(np.zeros((2, fitted.dim + 1)))


def test_bundle_stores_the_check_under_its_checksum(tmp_path, tiny_bundle, fitted):
    import shutil

    from pneumo_desktop.model.bundle import CHECK_FILE, attach_learned_check, read_bundle

    folder = tmp_path / "b"
    shutil.copytree(tiny_bundle, folder)
    plain = read_bundle(folder)
    assert not plain.has_learned_check and plain.learned_check() is None
    bundle = attach_learned_check(folder, fitted)
    assert bundle.has_learned_check and bundle.card.sha256 == plain.card.sha256
    assert bundle.card.input_check["sha256"] and bundle.learned_check().dim == fitted.dim
    data = bytearray((folder / CHECK_FILE).read_bytes())
    data[-10] ^= 0xFF
    (folder / CHECK_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match the checksum"):
        read_bundle(folder)
    (folder / CHECK_FILE).unlink()
    with pytest.raises(BundleError, match="cannot be read"):
        read_bundle(folder)


def test_predictor_refuses_a_bundle_whose_check_does_not_fit(tmp_path, tiny_bundle, fitted):
    import shutil

    from pneumo_desktop.errors import PneumoError
    from pneumo_desktop.model.bundle import attach_learned_check
    from pneumo_desktop.model.inference import Predictor

    shutil.copytree(tiny_bundle, tmp_path / "b")
    with pytest.raises(PneumoError, match="does not fit the model"):
        Predictor(attach_learned_check(tmp_path / "b", fitted))


# -- the contract: score, CSV, exit codes -------------------------------------------------------
@pytest.fixture
def wrong_files(tmp_path) -> Path:
    """Files that are not frontal chest radiographs of children, and two that are."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    chest = synthetic_chest(300, seed=5)
    cv2.imwrite(str(folder / "chest.png"), chest)
    write_dicom(folder / "child_chest.dcm", chest, Modality="DX", BodyPartExamined="CHEST",
                ViewPosition="PA", PatientAge="004Y")
    write_dicom(folder / "knee_mr.dcm", chest, Modality="MR", BodyPartExamined="KNEE")
    write_dicom(folder / "lung_ct.dcm", chest, Modality="CT", BodyPartExamined="CHEST")
    write_dicom(folder / "ultrasound.dcm", chest, Modality="US")
    write_dicom(folder / "hand.dcm", chest, Modality="CR", BodyPartExamined="HAND")
    write_dicom(folder / "lateral.dcm", chest, Modality="CR", BodyPartExamined="CHEST",
                ViewPosition="LL")
    write_dicom(folder / "adult.dcm", chest, Modality="CR", PatientAge="052Y")
    write_dicom(folder / "capture.dcm", cv2.cvtColor(photo(), cv2.COLOR_BGR2RGB),
                Modality="CR")
    cv2.imwrite(str(folder / "photo.jpg"), photo(seed=2))
    cv2.imwrite(str(folder / "black.png"), np.zeros((300, 300), np.uint8))
    cv2.imwrite(str(folder / "white.png"), np.full((300, 300), 255, np.uint8))
    noise = np.random.default_rng(3).integers(0, 256, (300, 300)).astype(np.uint8)
    cv2.imwrite(str(folder / "noise.png"), noise)
    cv2.imwrite(str(folder / "thumb.png"), cv2.resize(chest, (90, 90)))
    return folder


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {Path(r["path"]).name: r for r in csv.DictReader(handle)}


EXPECTED = {
    "knee_mr.dcm": "DICOM modality MR", "lung_ct.dcm": "DICOM modality CT",
    "ultrasound.dcm": "DICOM modality US", "hand.dcm": "body part HAND",
    "lateral.dcm": "lateral view", "adult.dcm": "adult patient",
    "capture.dcm": "colour image", "photo.jpg": "colour image", "black.png": "blank",
    "white.png": "blank", "noise.png": "noise", "thumb.png": "too small",
}


def test_score_refuses_wrong_files_with_their_reason(wrong_files, tiny_bundle, tmp_path):
    out = tmp_path / "out.csv"
    assert main(["score", str(wrong_files), "--out", str(out), "--model",
                 str(tiny_bundle)]) == 3
    rows = _rows(out)
    assert set(rows) == set(EXPECTED) | {"chest.png", "child_chest.dcm"}
    for name, reason in EXPECTED.items():
        row = rows[name]
        assert row["probability"] == row["prediction"] == ""
        assert row["error"].startswith("not scored: ") and reason in row["error"], row
        assert row["input_check"] == "refused"
    for name in ("chest.png", "child_chest.dcm"):
        assert rows[name]["error"] == "" and rows[name]["probability"]
        assert rows[name]["input_check"].startswith("passed")


def test_no_input_check_scores_everything_marked(wrong_files, tiny_bundle, tmp_path):
    out = tmp_path / "all.csv"
    assert main(["score", str(wrong_files), "--out", str(out), "--model", str(tiny_bundle),
                 "--no-input-check"]) == 0
    rows = _rows(out)
    for name, reason in EXPECTED.items():
        assert rows[name]["probability"] and rows[name]["error"] == ""
        assert rows[name]["input_check"].startswith(
            "scored anyway, outside what the model was made for") and reason in \
            rows[name]["input_check"]


def test_viewer_path_and_batch_agree_on_refusals(wrong_files, tiny_predictor):
    paths = sorted(wrong_files.iterdir())
    batch = {item.path.name: item for item in tiny_predictor.score_files(paths)}
    for path in paths:
        _, prediction = tiny_predictor.score_path(path)
        item = batch[path.name]
        if path.name in EXPECTED:
            assert prediction.refusal is not None and item.prediction is None
            assert item.refusal == prediction.refusal
            if item.tag_refusal is not None:  # refused from its DICOM header, never decoded
                assert item.withheld is None and path.suffix == ".dcm"
                continue
            assert item.withheld.probability == pytest.approx(prediction.probability, abs=1e-5)
        else:
            assert prediction.refusal is None and item.prediction is not None


def test_training_data_check_skips_wrong_files(wrong_files):
    from pneumo_desktop.evaluation.datasets import Sample, build_cache

    samples = [Sample(p, 0, p.name) for p in sorted(wrong_files.iterdir())]
    cache = build_cache(samples, 64)
    assert {s.path.name for s in cache.samples} == {"chest.png", "child_chest.dcm"}
    skipped = {path.name: reason for path, reason in cache.unreadable}
    assert set(skipped) == set(EXPECTED)
    assert all("not scored: " in reason for reason in skipped.values())


# -- the shipped model on real files (skipped without ../shared/data) ----------------------------
@pytest.fixture(scope="module")
def shipped():
    from pneumo_desktop.model.bundle import default_bundle_path, read_bundle
    from pneumo_desktop.model.inference import Predictor

    bundle = read_bundle(default_bundle_path())
    assert bundle.has_learned_check, "the shipped model must carry its learned input check"
    return Predictor(bundle, batch_size=16)


def test_shipped_model_refuses_every_real_non_chest_dicom(shipped):
    from conftest import shared_data

    paths = sorted(shared_data("not_chest").iterdir())
    for item in shipped.score_files(paths):
        assert item.prediction is None, f"{item.path.name} was scored"
        assert item.error.startswith("not scored: ") or "multi-frame" in item.error, item.error


def test_shipped_model_passes_real_chest_films(shipped):
    from conftest import shared_data

    paths = sorted(p for p in shared_data("chest_xray_native", "train").rglob("*.jpeg"))
    refused = [item for item in shipped.score_files(paths) if item.prediction is None]
    assert all(item.refusal for item in refused)
    assert len(refused) <= 0.01 * len(paths), [(r.path.name, r.error) for r in refused]


def test_shipped_model_gives_real_chest_dicoms_a_verdict(shipped):
    from conftest import shared_data

    paths = sorted(shared_data("dicom").iterdir())
    for item in shipped.score_files(paths):
        assert item.prediction is not None or item.refusal is not None, item.error
        image = load_xray(item.path)
        if image.age_years is not None and image.age_years >= 18:
            assert item.refusal.code == "age"


@pytest.mark.parametrize(("change", "words"), [
    (lambda x: np.rot90(x, 1), "orientation"), (lambda x: np.rot90(x, 2), "orientation"),
    (lambda x: np.rot90(x, 3), "orientation"), (lambda x: 255 - x, "grey scale"),
    (lambda x: cv2.resize(x[: x.shape[0] // 2, : x.shape[1] // 2], x.shape[::-1]), "not scored"),
])
def test_shipped_model_refuses_rotated_inverted_and_cropped_films(shipped, tmp_path, change,
                                                                   words):
    from conftest import shared_data

    folder = shared_data("chest_xray_native", "train")
    films = sorted(folder.rglob("*.jpeg"))[::12]
    paths = []
    for i, path in enumerate(films):
        pixels = np.ascontiguousarray(change(load_xray(path).pixels))
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), pixels)
    for item in shipped.score_files(paths):
        assert item.prediction is None and words in item.error, item.error


def test_shipped_model_refuses_a_photograph_in_grey(shipped, tmp_path):
    import matplotlib.cbook

    picture = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False),
                         cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / "portrait.png"), picture)
    _, prediction = shipped.score_path(tmp_path / "portrait.png")
    assert prediction.refusal is not None and prediction.refusal.code == "atypical"


def test_in_graph_check_agrees_with_numpy():
    """TensorFlow's forward pass computes the learned check in its graph (float32); the NumPy
    check (float64, what the LiteRT engine uses) gives the same verdicts."""
    from conftest import shared_data

    from pneumo_desktop.imaging.preprocessing import prepare
    from pneumo_desktop.model.bundle import default_bundle_path, read_bundle
    from pneumo_desktop.model.inference import Predictor

    paths = sorted(shared_data("chest_xray_native", "train").rglob("*.jpeg"))[:16]
    films = np.stack([prepare(load_xray(p, min_side=224).pixels, 224) for p in paths])
    inputs = np.concatenate([films, np.rot90(films, 2, axes=(1, 2))])
    shipped = Predictor(read_bundle(default_bundle_path()), batch_size=16, engine="tensorflow")
    _, _, pooled, in_graph, _, _ = shipped._run(inputs)
    check = shipped.learned_check
    assert shipped._forward.check is check  # in the graph
    np.testing.assert_allclose(
        [float(v.reason.split("typicality ")[1].split(" x")[0]) for v in in_graph
         if v and v.code == "atypical"],
        [float(v.reason.split("typicality ")[1].split(" x")[0]) for v in check.assess(pooled)
         if v and v.code == "atypical"], atol=0.011)
    assert [v and v.code for v in in_graph] == [v and v.code for v in check.assess(pooled)]


def test_predict_images_carries_verdicts(tiny_predictor):
    blank = np.full((300, 300), 90, np.uint8)
    chest = synthetic_chest(300)
    first, second = tiny_predictor.predict_images([blank, chest])
    assert first.refusal.code == "blank" and second.refusal is None
    assert 0.0 <= second.probability <= 1.0 and second.heatmap is None
    assert tiny_predictor.predict_images([]) == []
