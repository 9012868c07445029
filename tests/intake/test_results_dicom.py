"""The result objects (SR, Secondary Capture) made from real DICOMs of several vendors and
from files written here: valid by dciodvfy (no error their source does not carry), in the
source's study with its identity, saying what the model found or why it did not score."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from conftest import shared_data, write_dicom
from pydicom.uid import DigitalXRayImageStorageForPresentation, generate_uid

from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.results.result_objects import read_header, result_objects, write_results
from pneumo_desktop.intake.results.result_sc import banners, render, text_block
from pneumo_desktop.intake.results.result_sr import make_sr
from pneumo_desktop.intake.results.results_dicom import DISCLAIMER, Finding
from tests.dciodvfy import our_errors

SCORED = Finding("tiny-cnn", "sha256:0123456789ab", "passed", probability=0.873456,
                 threshold=0.5, suspected=True)
REFUSED = Finding("tiny-cnn", "sha256:0123456789ab", "refused",
                  reason="not scored: patient age 38 years is outside the model's use")


def _content(ds: pydicom.Dataset) -> dict[str, object]:
    """Concept name -> value of every SR content item (flattened)."""
    found: dict[str, object] = {}

    def walk(items) -> None:
        for item in items:
            name = item.ConceptNameCodeSequence[0].CodeMeaning
            if item.ValueType == "NUM":
                found[name] = float(item.MeasuredValueSequence[0].NumericValue)
            elif item.ValueType == "TEXT":
                found[name] = item.TextValue
            elif item.ValueType == "CODE":
                found[name] = item.ConceptCodeSequence[0].CodeMeaning
            elif item.ValueType == "IMAGE":
                found[name] = item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
            walk(item.get("ContentSequence", []))

    walk(ds.ContentSequence)
    return found


def _sources(tmp_path) -> list:
    real = sorted(shared_data("dicom").glob("*.dcm"))
    pixels = synthetic_chest(300, seed=1)
    written = [
        write_dicom(tmp_path / "minimal.dcm", pixels, StudyInstanceUID=generate_uid()),
        write_dicom(tmp_path / "latin1.dcm", pixels, SOPClassUID=(
            DigitalXRayImageStorageForPresentation), StudyInstanceUID=generate_uid(),
            SeriesInstanceUID=generate_uid(), Modality="DX", SpecificCharacterSet="ISO_IR 100",
            PatientName="Müller^Jörg", PatientID="P1", PatientBirthDate="20220101",
            PatientSex="M", StudyDate="20250101", StudyTime="101010", AccessionNumber="A1",
            StudyID="1", ReferringPhysicianName="", PatientOrientation=["A", "FL"]),
    ]
    return real + written


def test_results_are_valid_and_in_the_sources_study(tmp_path):
    for source_path in _sources(tmp_path):
        source = pydicom.dcmread(source_path)
        gray = source.pixel_array.astype(np.float32)
        gray = np.uint8(255 * (gray - gray.min()) / max(np.ptp(gray), 1))
        if gray.ndim == 3:
            gray = gray[..., 0]
        heat = np.zeros((7, 7), np.float32)
        heat[3, 2] = 1.0
        objects = result_objects(read_header(source_path), SCORED, gray, heat)
        objects.append(make_sr(source, REFUSED))
        assert [o.Modality for o in objects] == ["SR", "OT", "SR"]
        for obj, path in zip(objects, write_results(tmp_path / "out" / source_path.stem,
                                                    objects[:2]) + [None], strict=True):
            if path is None:
                path = tmp_path / "refused.dcm"
                obj.save_as(path, enforce_file_format=True)
            assert our_errors(path, source_path) == [], (source_path.name, obj.Modality)
            back = pydicom.dcmread(path)
            for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "AccessionNumber",
                            "PatientBirthDate", "StudyDate"):
                assert (back.get(keyword) or "") == (source.get(keyword) or ""), keyword
            assert back.SeriesInstanceUID != source.get("SeriesInstanceUID")
            assert back.SOPInstanceUID != source.SOPInstanceUID
        sr, sc = objects[0], objects[1]
        content = _content(sr)
        assert content["Probability"] == pytest.approx(0.873456, abs=1e-9)
        assert content["Threshold Value"] == 0.5 and content["Pneumonia"] == "Suspected"
        assert content["Algorithm Name"] == "tiny-cnn"
        assert content["Algorithm Version"] == "sha256:0123456789ab"
        assert content["Input check"] == "passed" and content["Comment"] == DISCLAIMER
        assert content["Source of Measurement"] == source.SOPInstanceUID
        assert sc.BurnedInAnnotation == "YES" and sc.SamplesPerPixel == 3
        not_scored = _content(objects[2])
        assert not_scored["Pneumonia"] == "Not scored" and "Probability" not in not_scored
        assert not_scored["Reason not scored"] == REFUSED.reason


def test_an_object_made_again_has_the_same_uid(tmp_path):
    source = read_header(shared_data("dicom", "cr_mono2_8bit_jpeg_1.dcm"))
    first, again = make_sr(source, SCORED), make_sr(source, SCORED)
    assert first.SOPInstanceUID == again.SOPInstanceUID
    assert first.SeriesInstanceUID == again.SeriesInstanceUID
    other_model = make_sr(source, Finding("other", "sha256:ffff", "passed", 0.2, 0.5, False))
    assert other_model.SOPInstanceUID != first.SOPInstanceUID


def test_no_results_without_a_study(tmp_path):
    path = write_dicom(tmp_path / "nostudy.dcm", synthetic_chest(64, seed=0))
    assert result_objects(read_header(path), SCORED) == []
    jpeg = tmp_path / "x.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    assert read_header(jpeg) is None


def test_finding_from_results_csv_rows():
    scored = Finding.from_row({"probability": "0.612345", "threshold": "0.500000",
                               "prediction": "PNEUMONIA", "model": "m", "error": "",
                               "input_check": "passed"}, "sha256:ab")
    assert (scored.probability, scored.suspected, scored.scored) == (0.612345, True, True)
    refused = Finding.from_row({"probability": "", "threshold": "0.500000", "prediction": "",
                                "model": "m", "error": "not scored: a CT", "input_check":
                                "refused"}, "sha256:ab")
    assert not refused.scored and refused.reason == "not scored: a CT"


def test_the_burned_in_text_is_large_enough_for_a_thumbnail():
    """On a 128-pixel thumbnail (longest side) of a tall film, the decision, probability,
    disclaimer and model lines stand at least 5 pixels high (ink measured, not assumed)."""
    key_lines = ("PNEUMONIA", "P ", "DECISION", "NOT A", "AI:")
    for suspected in (True, False):
        finding = Finding("pneumo-fine-224-x2", "sha256:0123456789ab", "passed", 0.87, 0.5,
                          suspected)
        picture = render(np.full((2500, 2000), 90, np.uint8), np.zeros((7, 7)), finding)
        scale = 128 / max(picture.shape[:2])
        top, bottom = banners(finding)
        heights = {}
        for text, cap, colour in top + bottom:
            ink = np.flatnonzero(text_block([(text, cap, colour)]).max(axis=(1, 2)) > 0)
            heights[text] = (ink[-1] - ink[0] + 1) * scale
        assert sum(text.startswith(key_lines) for text in heights) == 5
        assert all(h >= 5 for text, h in heights.items() if text.startswith(key_lines)), heights


def test_not_scored_srs_of_other_modalities_are_valid(tmp_path):
    """`score --dicom-results` on CT, MR, PET, ultrasound and colour captures (all refused by
    the input check): an SR that says not scored, valid for dciodvfy, per file."""
    for path in sorted(shared_data("not_chest").glob("*.dcm")):
        [sr] = result_objects(read_header(path), REFUSED)
        [written] = write_results(tmp_path / path.stem, [sr])
        assert our_errors(written, path) == [], path.name
        assert _content(sr)["Pneumonia"] == "Not scored"
