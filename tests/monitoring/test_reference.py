"""The drift reference in model.json: the shipped model's, derived from its validation split,
and written under its own key without touching the rest of the card."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import shared_data

from pneumo_desktop.model.bundle import default_bundle_path, read_bundle
from pneumo_desktop.training.reference import derive_reference, write_reference


def test_the_shipped_model_carries_its_reference():
    bundle = read_bundle(default_bundle_path())  # model.keras still matches its sha256
    ref, validation = bundle.card.reference, bundle.card.validation
    assert (ref["n"], ref["n_pneumonia"], ref["n_normal"]) == (
        validation["n"], validation["n_pneumonia"], validation["n_normal"])
    for name in ("score", "typicality"):
        part = ref[name]
        assert len(part["edges"]) == 4 and part["edges"] == sorted(part["edges"])
        assert sum(part["pneumonia"]) == pytest.approx(1) and sum(part["normal"]) == \
            pytest.approx(1)
    # the shipped threshold sits between the reference score quartiles
    threshold_logit = np.log(bundle.card.threshold / (1 - bundle.card.threshold))
    assert ref["score"]["quantiles"]["0.25"] < threshold_logit < ref["score"]["quantiles"]["0.75"]


def test_write_reference_keeps_every_other_key(tmp_path, tiny_bundle):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_bundle, folder)
    before = json.loads((folder / "model.json").read_text())
    write_reference(folder, {"n": 3, "source": "test"})
    after = json.loads((folder / "model.json").read_text())
    assert after.pop("reference") == {"n": 3, "source": "test"}
    assert after == {k: v for k, v in before.items() if k != "reference"}
    assert read_bundle(folder).card.reference["n"] == 3


@pytest.mark.slow
def test_derived_again_from_the_data_it_is_the_stored_one():
    data = shared_data("chest_xray_224", "train")
    native = shared_data("chest_xray_native", "train")
    stored = read_bundle(default_bundle_path()).card.reference
    derived = derive_reference(data, default_bundle_path(), [str(native)], log=lambda t: None)
    assert derived["n"] == stored["n"] == 741
    for name in ("score", "typicality"):
        assert derived[name]["edges"] == pytest.approx(stored[name]["edges"], rel=1e-4,
                                                       abs=1e-4)
