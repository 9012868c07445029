"""Colour DICOMs of every photometric interpretation pydicom decodes (RGB, YBR_FULL,
YBR_FULL_422, PALETTE COLOR; 8, 16 and 32 bits; uncompressed and RLE) become grey without an
OpenCV error: a grey picture stored in colour is read as that grey picture, a coloured one is
refused by the colour check with its message (issue 23). Files written here with pydicom."""

from __future__ import annotations

import io

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import convert_color_space
from pydicom.uid import (
    ExplicitVRLittleEndian,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from pneumo_desktop.imaging.checks import COLOUR_FRACTION, check_pixels
from pneumo_desktop.imaging.image_io import decode_xray
from pneumo_desktop.imaging.pixels import stretch_to_uint8
from pneumo_desktop.imaging.preprocessing import prepare
from pneumo_desktop.imaging.synthetic import synthetic_chest

SIZE = 160  # pixels per side: above the input check's thumbnail limit
DTYPES = {8: np.uint8, 16: np.uint16, 32: np.uint32}


def _dataset(rows: int, cols: int, photometric: str, samples: int, bits: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = samples, photometric
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit, ds.PixelRepresentation = bits - 1, 0
    return ds


def _save(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def colour_dicom(rgb: np.ndarray, photometric: str = "RGB", bits: int = 8,
                 rle: bool = False, planar: bool = False) -> bytes:
    """An RGB picture (uint8) stored as RGB (8/16/32 bits, scaled to fill them), YBR_FULL or
    YBR_FULL_422 (chroma shared by pixel pairs), uncompressed or RLE."""
    ds = _dataset(*rgb.shape[:2], photometric, 3, bits)
    stored = rgb.astype(DTYPES[bits]) * DTYPES[bits](sum(256 ** k for k in range(bits // 8)))
    if photometric.startswith("YBR"):
        stored = convert_color_space(rgb, "RGB", "YBR_FULL")
    if photometric == "YBR_FULL_422":  # Y0 Y1 Cb Cr for each pair of pixels
        pairs = stored.reshape(rgb.shape[0], -1, 2, 3)
        data = np.stack([pairs[:, :, 0, 0], pairs[:, :, 1, 0], pairs[:, :, 0, 1],
                         pairs[:, :, 0, 2]], axis=-1)
        ds.PixelData = np.ascontiguousarray(data).tobytes()
    elif planar:
        ds.PlanarConfiguration = 1
        ds.PixelData = np.ascontiguousarray(stored.transpose(2, 0, 1)).tobytes()
    else:
        ds.PixelData = stored.tobytes()
    if rle:
        ds.compress(RLELossless, stored)
    return _save(ds)


def palette_dicom(indices: np.ndarray, red: np.ndarray, green: np.ndarray,
                  blue: np.ndarray) -> bytes:
    """PALETTE COLOR: 8-bit indices into 256-entry 16-bit red, green and blue tables."""
    ds = _dataset(*indices.shape, "PALETTE COLOR", 1, 8)
    for colour, table in (("Red", red), ("Green", green), ("Blue", blue)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", table.astype("<u2").tobytes())
    ds.PixelData = indices.astype(np.uint8).tobytes()
    return _save(ds)


def _grey_rgb() -> tuple[np.ndarray, np.ndarray]:
    grey = synthetic_chest(SIZE, seed=3)
    return grey, np.repeat(grey[:, :, None], 3, axis=2)


def _coloured_rgb() -> np.ndarray:
    grey, rgb = _grey_rgb()
    rgb = rgb.copy()
    rgb[:, :, 0] = np.clip(grey.astype(np.int16) + 90, 0, 255)  # a warm tint everywhere
    rgb[:, :, 2] = grey // 3
    return rgb


def _verdict(data: bytes):
    image = decode_xray(data, name="c.dcm")
    return image, check_pixels(prepare(image.pixels, 64), image.source_shape,
                               image.colourfulness)


STORAGE = [("RGB", 8, False, False), ("RGB", 8, False, True), ("RGB", 16, False, False),
           ("RGB", 32, False, False), ("RGB", 8, True, False), ("RGB", 16, True, False),
           ("YBR_FULL", 8, False, False), ("YBR_FULL", 8, True, False),
           ("YBR_FULL_422", 8, False, False)]


@pytest.mark.parametrize(("photometric", "bits", "rle", "planar"), STORAGE)
def test_grey_picture_stored_in_colour_reads_as_grey(photometric, bits, rle, planar):
    grey, rgb = _grey_rgb()
    image, refusal = _verdict(colour_dicom(rgb, photometric, bits, rle, planar))
    assert image.pixels.dtype == np.uint8 and image.pixels.shape == grey.shape
    tolerance = 1 if photometric == "RGB" else 2  # YBR rounding
    expected = grey if bits == 8 else stretch_to_uint8(grey)
    assert np.abs(image.pixels.astype(int) - expected).max() <= tolerance
    assert image.colourfulness == 0.0
    assert refusal is None


@pytest.mark.parametrize(("photometric", "bits", "rle", "planar"), STORAGE)
def test_coloured_picture_is_refused_by_the_colour_check(photometric, bits, rle, planar):
    image, refusal = _verdict(colour_dicom(_coloured_rgb(), photometric, bits, rle, planar))
    assert image.pixels.ndim == 2 and image.colourfulness > COLOUR_FRACTION
    assert refusal is not None and refusal.code == "colour"
    assert refusal.message.startswith("not scored: colour image (")


def test_palette_colour_uses_the_palette_not_the_indices():
    """Grey palette reversed (index 0 is white): the picture is the palette's, inverted."""
    grey, _ = _grey_rgb()
    ramp = np.arange(256)[::-1] * 257
    image, refusal = _verdict(palette_dicom(grey, ramp, ramp, ramp))
    assert np.abs(image.pixels.astype(int) - stretch_to_uint8(255 - grey)).max() <= 1
    assert image.colourfulness == 0.0 and refusal is None


def test_palette_colour_with_colours_is_refused():
    grey, _ = _grey_rgb()
    ramp = np.arange(256) * 257
    image, refusal = _verdict(palette_dicom(grey, ramp, np.zeros(256), ramp[::-1]))
    assert refusal is not None and refusal.code == "colour"


def test_32bit_rle_rgb_from_pydicom_converts(tmp_path):
    """pydicom cannot write 32-bit RLE colour; its own test file (modality removed, so the
    tag check does not stop it) goes through the same conversion as the others."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("SC_rgb_rle_32bit.dcm"))
    rgb = ds.pixel_array.astype(np.float64)
    del ds.Modality
    image = decode_xray(_save(ds), name="rle32.dcm")
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    assert np.abs(image.pixels.astype(int) - stretch_to_uint8(luminance)).max() <= 1
    assert image.colourfulness > COLOUR_FRACTION  # pydicom's file is a colour test pattern
