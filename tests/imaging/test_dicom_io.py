"""DICOM loading: encodings, photometric interpretation, modality LUT, window, bit depths,
rejections, patient privacy, and the real radiographs in ../shared/data/dicom."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import shared_data

from pneumo_desktop.errors import ImageLoadError
from pneumo_desktop.imaging import pixels
from pneumo_desktop.imaging.image_io import decode_xray, load_xray, looks_like_image
from pneumo_desktop.imaging.synthetic import synthetic_chest

REAL_DICOMS = (
    "cr_mono1_15bit_j2k_lossy.dcm",
    "cr_mono1_15bit_jpegls.dcm",
    "dx_mono1_12bit_j2k_lossless.dcm",
    "dx_mono2_8bit_implicit_uncompressed.dcm",
    "cr_mono2_8bit_jpeg_1.dcm",
    "cr_mono2_8bit_jpeg_2.dcm",
    "cr_mono2_8bit_jpeg_3.dcm",
)


def dicom_bytes(stored: np.ndarray | None, *, photometric: str = "MONOCHROME2",
                bits_stored: int | None = None, signed: bool = False, frames: int = 1,
                file_format: bool = True, implicit: bool = False, **tags) -> bytes:
    """A DICOM file written by pydicom around `stored` (rows, cols) or (frames, rows, cols)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.BodyPartExamined = "CHEST"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-0042"
    ds.PatientBirthDate = "20200101"
    if stored is not None:
        bits = 8 if stored.dtype.itemsize == 1 else 16
        ds.Rows, ds.Columns = stored.shape[-2:]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = bits
        ds.BitsStored = bits_stored or bits
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = int(signed)
        if frames > 1:
            ds.NumberOfFrames = frames
        ds.PixelData = np.ascontiguousarray(stored).tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    buffer = io.BytesIO()
    if file_format:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit \
            else ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(buffer, enforce_file_format=True)
    else:  # "write like original": no preamble, no file meta header
        ds.save_as(buffer, implicit_vr=implicit, little_endian=True, enforce_file_format=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def gray8() -> np.ndarray:
    img = synthetic_chest(96, width=80, seed=4)
    img[0, 0], img[0, 1] = 0, 255
    return img


@pytest.fixture(scope="module")
def stored12(gray8) -> np.ndarray:
    """12-bit values in 16-bit words spanning 0..4080."""
    return gray8.astype(np.uint16) * 16


def _close(a: np.ndarray, b: np.ndarray, tol: int = 1) -> bool:
    return a.shape == b.shape and int(np.abs(a.astype(int) - b.astype(int)).max()) <= tol


# -- encodings ------------------------------------------------------------------------------
def test_explicit_vr_with_file_meta(tmp_path, stored12, gray8):
    data = dicom_bytes(stored12, bits_stored=12)
    assert data[128:132] == b"DICM"
    (tmp_path / "a.dcm").write_bytes(data)
    image = load_xray(tmp_path / "a.dcm")
    assert image.format == "DICOM"
    assert image.pixels.dtype == np.uint8 and image.source_shape == gray8.shape
    assert _close(image.pixels, gray8)
    assert image.metadata["TransferSyntax"] == "Explicit VR Little Endian"


@pytest.mark.parametrize("implicit", [True, False])
def test_no_preamble_no_meta_and_no_extension(tmp_path, stored12, gray8, implicit):
    data = dicom_bytes(stored12, bits_stored=12, file_format=False, implicit=implicit)
    assert data[128:132] != b"DICM" and data[:2] == b"\x08\x00"  # really written bare
    (tmp_path / "bare.dcm").write_bytes(data)
    (tmp_path / "IM000123").write_bytes(data)
    assert looks_like_image(tmp_path / "IM000123")
    for name in ("bare.dcm", "IM000123"):
        image = load_xray(tmp_path / name)
        assert image.format == "DICOM"
        assert _close(image.pixels, gray8)


def test_8bit_dicom(gray8):
    assert _close(decode_xray(dicom_bytes(gray8), name="x.dcm").pixels, gray8, tol=0)


# -- photometric interpretation -------------------------------------------------------------
def test_monochrome1_equals_monochrome2(stored12, gray8, tiny_predictor):
    mono2 = decode_xray(dicom_bytes(stored12, bits_stored=12), name="m2.dcm")
    mono1 = decode_xray(dicom_bytes(4095 - stored12, bits_stored=12, photometric="MONOCHROME1"),
                        name="m1.dcm")
    assert _close(mono2.pixels, gray8)
    assert _close(mono1.pixels, mono2.pixels)
    p1 = tiny_predictor.predict_image(mono1, heatmap=False).probability
    p2 = tiny_predictor.predict_image(mono2, heatmap=False).probability
    assert abs(p1 - p2) < 1e-4
    # the comparison can fail: the model does tell an inverted film from the right one
    p_inverted = tiny_predictor.predict_image(255 - mono2.pixels, heatmap=False).probability
    assert abs(p_inverted - p2) > 1e-4


def test_monochrome1_with_window_is_inverted_after_windowing():
    ramp = np.tile(np.linspace(0, 4095, 64).round().astype(np.uint16), (8, 1))
    display = decode_xray(dicom_bytes(ramp, bits_stored=12, photometric="MONOCHROME1",
                                      WindowCenter=2048, WindowWidth=4096), name="w.dcm").pixels
    assert display[0, 0] == 255 and display[0, -1] == 0  # low stored value = white
    assert np.all(np.diff(display[0].astype(int)) <= 0)


# -- modality LUT and window ----------------------------------------------------------------
def _window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 linear window onto 0..255, computed independently."""
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    out = (values.astype(np.float64) - low) / (high - low) * 255
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def test_window_center_width_clips_outside_the_window():
    ramp = np.tile(np.arange(0, 4096, 16, dtype=np.uint16), (4, 1))  # 256 columns
    display = decode_xray(dicom_bytes(ramp, bits_stored=12, WindowCenter=2048,
                                      WindowWidth=1024), name="w.dcm").pixels
    low, high = 2048 - 0.5 - 511.5, 2048 - 0.5 + 511.5
    below, above = ramp[0] <= low, ramp[0] >= high
    assert below.sum() > 50 and above.sum() > 50
    assert np.all(display[:, below] == 0) and np.all(display[:, above] == 255)
    assert _close(display, _window(ramp, 2048, 1024))
    inside = display[0, ~below & ~above].astype(int)
    assert np.all(np.diff(inside) >= 0) and len(set(inside.tolist())) > 30


def test_first_of_several_windows_is_used():
    ramp = np.tile(np.arange(0, 4096, 16, dtype=np.uint16), (4, 1))
    display = decode_xray(dicom_bytes(ramp, bits_stored=12, WindowCenter=[1000, 3000],
                                      WindowWidth=[500, 2000]), name="w.dcm").pixels
    assert _close(display, _window(ramp, 1000, 500))


def test_rescale_slope_intercept_is_applied_before_the_window(stored12):
    center, width = 3000.0, 4000.0  # in rescaled units
    display = decode_xray(dicom_bytes(stored12, bits_stored=12, RescaleSlope=2,
                                      RescaleIntercept=-1000, WindowCenter=center,
                                      WindowWidth=width), name="r.dcm").pixels
    rescaled = stored12.astype(np.float64) * 2 - 1000
    expected = _window(rescaled, center, width)
    assert _close(display, expected)
    assert not _close(display, _window(stored12, center, width), tol=10)  # slope mattered


def test_negative_rescale_slope_flips_the_image(stored12, gray8):
    display = decode_xray(dicom_bytes(stored12, bits_stored=12, RescaleSlope=-1,
                                      RescaleIntercept=0), name="n.dcm").pixels
    assert _close(display, 255 - gray8)


# -- bit depths -----------------------------------------------------------------------------
def test_12bit_in_16bit_ignores_bits_above_high_bit(stored12, gray8):
    dirty = stored12 | np.uint16(0xF000)  # overlay bits in the unused high nibble
    display = decode_xray(dicom_bytes(dirty, bits_stored=12), name="d.dcm").pixels
    assert _close(display, gray8)


def test_signed_12bit(gray8):
    signed = gray8.astype(np.int16) * 16 - 2048  # -2048..2032
    display = decode_xray(dicom_bytes(signed, bits_stored=12, signed=True), name="s.dcm").pixels
    assert _close(display, gray8)


def test_12bit_with_window_from_the_file(stored12):
    display = decode_xray(dicom_bytes(stored12, bits_stored=12, WindowCenter=2048,
                                      WindowWidth=4096), name="w.dcm").pixels
    assert _close(display, _window(stored12, 2048, 4096))


# -- rejections -----------------------------------------------------------------------------
def test_multi_frame_is_rejected(stored12):
    frames = np.stack([stored12, stored12])
    with pytest.raises(ImageLoadError, match=r"m\.dcm: multi-frame DICOM \(2 frames\) is not "
                                             r"supported"):
        decode_xray(dicom_bytes(frames, bits_stored=12, frames=2), name="m.dcm")


def test_dicom_without_pixel_data(tmp_path):
    (tmp_path / "report.dcm").write_bytes(dicom_bytes(None))
    with pytest.raises(ImageLoadError, match=r"report\.dcm: DICOM without pixel data"):
        load_xray(tmp_path / "report.dcm")


def test_truncated_dicom(stored12):
    data = dicom_bytes(stored12, bits_stored=12)
    with pytest.raises(ImageLoadError, match=r"t\.dcm: (truncated|cannot decode the DICOM)"):
        decode_xray(data[: len(data) - 1000], name="t.dcm")


def test_text_named_dcm_is_not_a_dicom(tmp_path):
    (tmp_path / "notes.dcm").write_text("this is a radiology report, not an image\n" * 5)
    with pytest.raises(ImageLoadError, match=r"notes\.dcm: not a DICOM file"):
        load_xray(tmp_path / "notes.dcm")


def test_too_large_dicom(stored12, monkeypatch):
    data = dicom_bytes(stored12, bits_stored=12)
    decode_xray(data, name="ok.dcm")
    monkeypatch.setattr(pixels, "MAX_PIXELS", 100)
    with pytest.raises(ImageLoadError, match=r"image too large \(80 x 96 pixels"):
        decode_xray(data, name="big.dcm")


# -- metadata -------------------------------------------------------------------------------
def test_patient_identity_only_on_request(gray8):
    data = dicom_bytes(gray8)
    plain = decode_xray(data, name="p.dcm").metadata
    assert plain["Modality"] == "DX" and plain["BodyPartExamined"] == "CHEST"
    assert not {"PatientName", "PatientID", "PatientBirthDate"} & set(plain)
    assert "Doe" not in " ".join(plain.values())
    full = decode_xray(data, name="p.dcm", include_patient=True).metadata
    assert full["PatientName"] == "Doe^Jane" and full["PatientID"] == "PID-0042"


# -- real radiographs -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_images():
    folder = shared_data("dicom")
    paths = [folder / name for name in REAL_DICOMS if (folder / name).is_file()]
    if not paths:
        pytest.skip(f"no real DICOM files in {folder}")
    return {path: load_xray(path) for path in paths}


def _lungs_and_spine(pixels: np.ndarray) -> tuple[float, float, float]:
    """Mean brightness of the two lung fields and of the midline, upper-middle chest."""
    h, w = pixels.shape
    profile = pixels[int(h * 0.25):int(h * 0.55)].astype(np.float64).mean(axis=0)
    return (profile[int(w * 0.2):int(w * 0.4)].mean(), profile[int(w * 0.6):int(w * 0.8)].mean(),
            profile[int(w * 0.48):int(w * 0.52)].mean())


def test_real_dicoms_open_as_chests(real_images):
    for path, image in real_images.items():
        assert image.format == "DICOM", path.name
        assert image.pixels.dtype == np.uint8 and min(image.pixels.shape) >= 512, path.name
        assert image.pixels.std() > 20, f"{path.name}: flat image"
        assert "PatientName" not in image.metadata
        left, right, spine = _lungs_and_spine(image.pixels)
        assert max(left, right) < spine and min(left, right) < spine - 30, \
            f"{path.name}: lungs {left:.0f}/{right:.0f} not darker than spine {spine:.0f}"


def test_real_dicom_without_preamble_and_extension(tmp_path, real_images):
    import pydicom

    source = next((p for p in real_images if p.name.startswith("dx_mono2_8bit")), None)
    if source is None:
        pytest.skip("dx_mono2_8bit_implicit_uncompressed.dcm is absent")
    ds = pydicom.dcmread(source)
    del ds.file_meta
    ds.preamble = None
    ds.save_as(tmp_path / "XRAY0001", implicit_vr=True, little_endian=True,
               enforce_file_format=False)
    assert (tmp_path / "XRAY0001").read_bytes()[128:132] != b"DICM"
    assert looks_like_image(tmp_path / "XRAY0001")
    np.testing.assert_array_equal(load_xray(tmp_path / "XRAY0001").pixels,
                                  real_images[source].pixels)


def test_real_dicoms_score(real_images, tiny_predictor):
    """Every real DICOM decodes and is scored, or refused by the input check (most are adults),
    never a read error. One its tags refuse (age) is refused from its header, without a score;
    one its pixels or the learned check refuse keeps its withheld score."""
    results = list(tiny_predictor.score_files(list(real_images)))
    assert [r.path for r in results] == list(real_images)
    for item in results:
        assert item.error is None or item.error.startswith("not scored: "), item.error
        if item.tag_refusal is not None:
            assert item.refusal.code == "age" and item.withheld is None
            continue
        scored = item.prediction or item.withheld
        assert 0.0 <= scored.probability <= 1.0
    assert any(item.tag_refusal for item in results)
