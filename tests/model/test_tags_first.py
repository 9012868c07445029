"""The tag check runs on a DICOM's header before its pixels are decoded (issue 23): a file its
tags refuse is refused without a decode or a model pass, also when its pixels could not be
decoded at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_dicom

from pneumo_desktop.imaging.dicom_header import check_dicom_tags, read_header
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model import inference


def _undecodable_ct(path: Path) -> Path:
    """A CT slice whose pixel data claims JPEG 2000 but holds no codestream."""
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    write_dicom(path, synthetic_chest(128, seed=5), Modality="CT")
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def studies(tmp_path) -> list[Path]:
    return [write_dicom(tmp_path / "chest", synthetic_chest(200, seed=1), Modality="DX",
                        PatientAge="003Y"),
            _undecodable_ct(tmp_path / "ct_broken.dcm"),
            write_dicom(tmp_path / "mr", synthetic_chest(160, seed=2), Modality="MR"),
            write_dicom(tmp_path / "adult.dcm", synthetic_chest(200, seed=3), Modality="CR",
                        PatientAge="045Y")]


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """Names of the files the batch decodes (the real decoder, counted)."""
    names: list[str] = []
    real = inference.load_xray

    def counting(path, **kwargs):
        names.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(inference, "load_xray", counting)
    return names


def test_header_is_read_without_the_pixels(studies):
    header = read_header(studies[1])
    assert header is not None and header.tags["Modality"] == "CT" and not header.is_index
    assert check_dicom_tags(studies[0]) is None
    assert check_dicom_tags(studies[1]).code == "modality"
    assert check_dicom_tags(studies[3]).code == "age"


def test_tag_refused_files_are_not_decoded(studies, tiny_predictor, decodes):
    results = {r.path.name: r for r in tiny_predictor.score_files(studies)}
    assert decodes == ["chest"]  # only the file its tags let through
    assert results["chest"].prediction is not None
    for name, code in (("ct_broken.dcm", "modality"), ("mr", "modality"),
                       ("adult.dcm", "age")):
        item = results[name]
        assert item.prediction is None and item.withheld is None
        assert item.tag_refusal is not None and item.refusal.code == code
        assert item.error == item.refusal.message
    assert results["ct_broken.dcm"].error.startswith("not scored: DICOM modality CT")


def test_decoding_first_reports_the_broken_pixels(studies, tiny_predictor, monkeypatch):
    """The behaviour before issue 23, kept for benchmarks: the CT's broken pixels hid its
    modality."""
    monkeypatch.setattr(tiny_predictor, "tags_first", False)
    results = {r.path.name: r for r in tiny_predictor.score_files(studies)}
    assert "cannot decode the DICOM pixels" in results["ct_broken.dcm"].error
    assert results["mr"].withheld is not None and results["mr"].refusal.code == "modality"


def test_without_input_check_everything_decodable_is_scored(studies, tiny_predictor,
                                                            monkeypatch, decodes):
    monkeypatch.setattr(tiny_predictor, "input_check", False)
    results = {r.path.name: r for r in tiny_predictor.score_files(studies)}
    assert sorted(decodes) == sorted(p.name for p in studies)
    assert results["mr"].prediction is not None
    assert results["mr"].prediction.refusal.code == "modality"  # marked "scored anyway"


def test_keep_inputs_decodes_refused_files_too(studies, tiny_predictor):
    """Evaluation keeps every model input and withheld score, so it decodes every file."""
    results = {r.path.name: r for r in tiny_predictor.score_files(studies, keep_inputs=True)}
    assert isinstance(results["mr"].model_input, np.ndarray)
    assert results["mr"].withheld is not None and results["mr"].tag_refusal is None
