"""Model bundles: reading, verifying, rejecting corrupt ones with clear text, listing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pneumo_desktop.errors import BundleError
from pneumo_desktop.model.bundle import (
    CARD_FILE,
    MODEL_FILE,
    ModelCard,
    list_bundles,
    read_bundle,
    sha256_of,
    write_bundle,
)


@pytest.fixture
def bundle_copy(tmp_path, tiny_bundle) -> Path:
    target = tmp_path / "models" / "copy"
    shutil.copytree(tiny_bundle, target)
    return target


def _edit_card(folder: Path, **changes) -> None:
    card = json.loads((folder / CARD_FILE).read_text())
    for key, value in changes.items():
        if value is _DELETE:
            del card[key]
        else:
            card[key] = value
    (folder / CARD_FILE).write_text(json.dumps(card))


_DELETE = object()


def test_good_bundle_reads_and_verifies(tiny_bundle):
    bundle = read_bundle(tiny_bundle)
    assert bundle.name == "tiny"
    assert bundle.card.architecture == "custom_cnn" and bundle.card.input_size == 64
    assert bundle.card.threshold == 0.5
    assert bundle.card.class_names == ["NORMAL", "PNEUMONIA"]
    assert bundle.card.sha256 == sha256_of(tiny_bundle / MODEL_FILE)
    assert bundle.card.app_version


def test_flipped_byte_fails_the_checksum(bundle_copy):
    data = bytearray((bundle_copy / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle_copy / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"copy: model\.keras does not match the checksum in "
                                          r"model\.json \(the file is corrupt"):
        read_bundle(bundle_copy)


def test_unverified_damaged_model_fails_to_load_with_bundle_error(bundle_copy):
    data = (bundle_copy / MODEL_FILE).read_bytes()
    (bundle_copy / MODEL_FILE).write_bytes(data[: len(data) // 2])
    bundle = read_bundle(bundle_copy, verify=False)
    with pytest.raises(BundleError, match=r"copy: model\.keras cannot be loaded"):
        bundle.load_keras_model()


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", r"copy/model\.json is not valid JSON"),
    ("", r"copy/model\.json is not valid JSON"),
    ("\xff\xfe".encode("latin-1"), r"copy/model\.json is not valid JSON"),
    ("[1, 2, 3]", r"copy/model\.json is not a JSON object"),
])
def test_bad_json(bundle_copy, text, message):
    if isinstance(text, bytes):
        (bundle_copy / CARD_FILE).write_bytes(text)
    else:
        (bundle_copy / CARD_FILE).write_text(text)
    with pytest.raises(BundleError, match=message):
        read_bundle(bundle_copy)


@pytest.mark.parametrize("field", ["threshold", "sha256", "input_size", "architecture"])
def test_missing_field(bundle_copy, field):
    _edit_card(bundle_copy, **{field: _DELETE})
    with pytest.raises(BundleError, match=rf"copy/model\.json: missing field\(s\) {field}"):
        read_bundle(bundle_copy)


@pytest.mark.parametrize("threshold", [0, 1, 1.5, -0.2, "0.5", None, True, float("nan")])
def test_threshold_out_of_range(bundle_copy, threshold):
    _edit_card(bundle_copy, threshold=threshold)
    with pytest.raises(BundleError, match=r"copy/model\.json: threshold .* is not between 0 and 1"):
        read_bundle(bundle_copy)


@pytest.mark.parametrize(("changes", "message"), [
    ({"input_size": 8}, r"input_size 8 is not a size in pixels"),
    ({"input_size": "224"}, r"input_size '224' is not a size in pixels"),
    ({"class_names": ["PNEUMONIA", "NORMAL"]}, r"class names .* are not \['NORMAL', 'PNEUMONIA'\]"),
    ({"class_names": 5}, r"class names 5 are not"),
    ({"format_version": 99}, r"made by a newer Pneumo Desktop \(format 99\)"),
    ({"format_version": "1"}, r"format_version '1' is not a version number"),
    ({"format_version": None}, r"format_version None is not a version number"),
    ({"name": ""}, r"name '' is not a non-empty text"),
    ({"preprocessing": "stretch"}, r"preprocessing 'stretch' is not an object"),
])
def test_invalid_card_values(bundle_copy, changes, message):
    _edit_card(bundle_copy, **changes)
    with pytest.raises(BundleError, match=message):
        read_bundle(bundle_copy)


def test_missing_files(bundle_copy, tmp_path):
    with pytest.raises(BundleError, match=r"No model folder at .*absent"):
        read_bundle(tmp_path / "absent")
    (bundle_copy / MODEL_FILE).unlink()
    with pytest.raises(BundleError, match=r"copy: no model\.keras \(not a model bundle\)"):
        read_bundle(bundle_copy)
    (bundle_copy / CARD_FILE).unlink()
    with pytest.raises(BundleError, match=r"copy: no model\.json \(not a model bundle\)"):
        read_bundle(bundle_copy)


def test_card_round_trip():
    card = ModelCard(name="m", architecture="custom_cnn", input_size=96, threshold=0.31,
                     validation={"auc": 0.9}, sha256="ab" * 32)
    again = ModelCard.from_json(json.loads(json.dumps(card.to_json())))
    assert again == card
    assert ModelCard.from_json({**card.to_json(), "future_field": 1}) == card  # ignored


def test_list_bundles_reports_bad_bundles_as_errors(tmp_path, tiny_bundle):
    models = tmp_path / "models"
    for name in ("good", "corrupt", "badjson", "nomodel", "threshold", ".hidden"):
        shutil.copytree(tiny_bundle, models / name)
    data = bytearray((models / "corrupt" / MODEL_FILE).read_bytes())
    data[100] ^= 0x01
    (models / "corrupt" / MODEL_FILE).write_bytes(bytes(data))
    (models / "badjson" / CARD_FILE).write_text("{")
    (models / "nomodel" / MODEL_FILE).unlink()
    _edit_card(models / "threshold", threshold=2)
    _edit_card(models / ".hidden", threshold=2)
    (models / "notes").mkdir()  # not a bundle at all: not listed
    (models / "README.txt").write_text("x")

    found = dict(list_bundles([models, tmp_path / "absent"]))
    assert sorted(p.name for p in found) == ["badjson", "corrupt", "good", "nomodel", "threshold"]
    assert found[models / "good"].name == "tiny"
    messages = {p.name: str(v) for p, v in found.items() if isinstance(v, BundleError)}
    assert set(messages) == {"badjson", "corrupt", "nomodel", "threshold"}
    assert "checksum" in messages["corrupt"]
    assert "not valid JSON" in messages["badjson"]
    assert "no model.keras" in messages["nomodel"]
    assert "between 0 and 1" in messages["threshold"]


def test_write_bundle_replaces_atomically_and_keeps_readme(tmp_path, tiny_bundle):
    model = read_bundle(tiny_bundle).load_keras_model()
    target = tmp_path / "mine"
    card = ModelCard(name="mine", architecture="custom_cnn", input_size=64, threshold=0.4)
    first = write_bundle(target, model, card)
    (target / "README.md").write_text("notes for the clinic\n")
    card2 = ModelCard(name="mine", architecture="custom_cnn", input_size=64, threshold=0.6)
    second = write_bundle(target, model, card2)
    assert first.card.threshold == 0.4 and second.card.threshold == 0.6
    assert read_bundle(target).card.threshold == 0.6
    assert (target / "README.md").read_text() == "notes for the clinic\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temp or old folders
