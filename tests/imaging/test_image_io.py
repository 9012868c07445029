"""Raster loaders: every format and bit depth gives the same 8-bit picture; bad files fail."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pneumo_desktop.errors import ImageLoadError
from pneumo_desktop.imaging import pixels
from pneumo_desktop.imaging.image_io import (
    decode_xray,
    load_xray,
    looks_like_image,
    sniff_format,
)
from pneumo_desktop.imaging.pixels import stretch_to_uint8, to_gray8
from pneumo_desktop.imaging.synthetic import synthetic_chest


@pytest.fixture(scope="module")
def gray8() -> np.ndarray:
    """A 200 x 160 chest-like image whose values span exactly 0..255."""
    img = synthetic_chest(200, width=160, seed=1)
    img[0, 0], img[0, 1] = 0, 255  # full range, so stretching a scaled copy is the identity
    return img


def _write(path, pixels, *params) -> None:
    assert cv2.imwrite(str(path), pixels, list(params)), f"OpenCV could not write {path}"


# -- same pixels from every format ---------------------------------------------------------
@pytest.mark.parametrize(("suffix", "fmt"), [(".png", "PNG"), (".bmp", "BMP"), (".tif", "TIFF")])
def test_lossless_8bit_formats_give_the_exact_pixels(tmp_path, gray8, suffix, fmt):
    path = tmp_path / f"x{suffix}"
    _write(path, gray8)
    image = load_xray(path)
    assert image.format == fmt
    assert image.pixels.dtype == np.uint8 and image.pixels.ndim == 2
    assert image.source_shape == gray8.shape
    np.testing.assert_array_equal(image.pixels, gray8)


def test_jpeg_gives_the_pixels_up_to_compression(tmp_path, gray8):
    path = tmp_path / "x.jpg"
    _write(path, gray8, cv2.IMWRITE_JPEG_QUALITY, 95)
    image = load_xray(path)
    assert image.format == "JPEG" and image.pixels.shape == gray8.shape
    diff = np.abs(image.pixels.astype(int) - gray8)
    assert diff.mean() < 2.5 and diff.max() < 20


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_matches_8bit_after_stretching(tmp_path, gray8, suffix):
    path = tmp_path / f"x16{suffix}"
    _write(path, gray8.astype(np.uint16) * 257)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16  # really 16-bit
    image = load_xray(path)
    assert image.pixels.dtype == np.uint8
    assert np.abs(image.pixels.astype(int) - gray8).max() <= 1


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_12bit_data_in_16bit_file_is_stretched_to_full_range(tmp_path, gray8, suffix):
    path = tmp_path / f"x12{suffix}"
    _write(path, gray8.astype(np.uint16) * 16)  # 0..4080: a dark-looking 16-bit file
    pixels = load_xray(path).pixels
    assert pixels.min() == 0 and pixels.max() == 255
    assert np.abs(pixels.astype(int) - gray8).max() <= 1


def test_rgb_becomes_luminance_in_the_right_channel_order(tmp_path):
    bgr = np.zeros((120, 100, 3), np.uint8)
    bgr[:40, :, 2] = 255  # red
    bgr[40:80, :, 0] = 255  # blue
    bgr[80:, :] = (90, 90, 90)  # neutral gray stays itself
    for suffix in (".png", ".tif", ".bmp"):
        _write(tmp_path / f"c{suffix}", bgr)
        pixels = load_xray(tmp_path / f"c{suffix}").pixels
        assert pixels.shape == (120, 100)
        np.testing.assert_array_equal(pixels, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        assert abs(int(pixels[20, 50]) - 76) <= 1  # 0.299 * 255, not 0.114 * 255
        assert abs(int(pixels[60, 50]) - 29) <= 1
        assert pixels[100, 50] == 90
    _write(tmp_path / "c.jpg", bgr, cv2.IMWRITE_JPEG_QUALITY, 95)
    pixels = load_xray(tmp_path / "c.jpg").pixels
    assert abs(pixels[10:30, 10:90].mean() - 76) < 3
    assert abs(pixels[50:70, 10:90].mean() - 29) < 3


def test_rgba_and_16bit_colour_png(tmp_path, gray8):
    bgra = np.dstack([gray8, gray8, gray8, np.full_like(gray8, 128)])
    _write(tmp_path / "a.png", bgra)
    np.testing.assert_array_equal(load_xray(tmp_path / "a.png").pixels, gray8)
    _write(tmp_path / "c16.png", np.dstack([gray8] * 3).astype(np.uint16) * 257)
    assert np.abs(load_xray(tmp_path / "c16.png").pixels.astype(int) - gray8).max() <= 1


def test_to_gray8_and_stretch():
    assert to_gray8(np.array([[0.0, 0.5, 1.0]], np.float32)).tolist() == [[0, 128, 255]]
    flat = stretch_to_uint8(np.full((3, 3), 7.0))
    assert flat.dtype == np.uint8 and not flat.any()
    assert stretch_to_uint8(np.array([0.0, 50.0, 200.0]), 50.0, 150.0).tolist() == [0, 0, 255]


# -- reduced-resolution decode --------------------------------------------------------------
@pytest.mark.parametrize(("width", "height", "min_side"), [
    (2000, 1700, 224), (1024, 1024, 224), (1000, 800, 64), (517, 259, 64), (259, 517, 64),
    (300, 300, 224), (130, 1000, 64), (64, 64, 64),
])
def test_reduced_jpeg_decode_keeps_both_sides_at_least_min_side(tmp_path, width, height,
                                                                 min_side):
    img = synthetic_chest(height, width=width, seed=2)
    path = tmp_path / "big.jpg"
    _write(path, img, cv2.IMWRITE_JPEG_QUALITY, 90)
    image = load_xray(path, min_side=min_side)
    h, w = image.pixels.shape
    assert min(h, w) >= min_side
    assert h <= height and w <= width
    assert image.source_shape == (height, width)
    if min(width, height) // 2 >= min_side:  # a reduction was possible, so it happened
        assert h < height and w < width
        full = cv2.resize(load_xray(path).pixels, (w, h), interpolation=cv2.INTER_AREA)
        assert np.abs(full.astype(int) - image.pixels).mean() < 3
    else:
        assert (h, w) == (height, width)


def test_min_side_does_not_shrink_lossless_formats(tmp_path):
    img = synthetic_chest(400, width=300, seed=3)
    _write(tmp_path / "x.png", img)
    np.testing.assert_array_equal(load_xray(tmp_path / "x.png", min_side=32).pixels, img)


# -- failures -------------------------------------------------------------------------------
def test_truncated_jpeg(tmp_path, gray8):
    ok, encoded = cv2.imencode(".jpg", gray8)
    (tmp_path / "t.jpg").write_bytes(encoded.tobytes()[: len(encoded) // 2])
    with pytest.raises(ImageLoadError, match=r"t\.jpg: truncated JPEG"):
        load_xray(tmp_path / "t.jpg")


def test_truncated_png(tmp_path, gray8):
    ok, encoded = cv2.imencode(".png", gray8)
    (tmp_path / "t.png").write_bytes(encoded.tobytes()[: len(encoded) * 2 // 3])
    with pytest.raises(ImageLoadError, match=r"t\.png: truncated PNG"):
        load_xray(tmp_path / "t.png")


def test_empty_file(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"e\.png: empty file \(0 bytes\)"):
        load_xray(tmp_path / "e.png")


@pytest.mark.parametrize("name", ["notes.jpg", "notes.txt", "notes"])
def test_text_file_is_not_an_image(tmp_path, name):
    (tmp_path / name).write_text("Patient seen on Monday; X-ray to follow.\n")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_xray(tmp_path / name)


def test_too_large(tmp_path, gray8, monkeypatch):
    _write(tmp_path / "big.png", gray8)
    _write(tmp_path / "big.jpg", gray8)
    load_xray(tmp_path / "big.png")  # fine under the real limit
    monkeypatch.setattr(pixels, "MAX_PIXELS", 160 * 200 - 1)
    for name in ("big.png", "big.jpg"):
        with pytest.raises(ImageLoadError, match=r"image too large \(160 x 200 pixels"):
            load_xray(tmp_path / name)


def test_damaged_header_and_damaged_pixels(tmp_path, gray8):
    ok, encoded = cv2.imencode(".png", gray8)
    data = bytearray(encoded.tobytes())
    header = data.copy()
    header[16:24] = b"\xff" * 8  # width/height in IHDR
    with pytest.raises(ImageLoadError, match="damaged image header"):
        decode_xray(bytes(header), name="h.png")
    body = data.copy()
    body[100:-100] = bytes(len(body) - 200)
    with pytest.raises(ImageLoadError, match=r"damaged PNG file \(the pixels cannot be decoded\)"):
        decode_xray(bytes(body), name="b.png")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="File not found"):
        load_xray(tmp_path / "absent.jpg")
    with pytest.raises(ImageLoadError, match="Is a folder"):
        load_xray(tmp_path)


# -- format detection -----------------------------------------------------------------------
def test_sniff_format():
    assert sniff_format(b"\xff\xd8\xff\xe0") == "JPEG"
    assert sniff_format(b"\x89PNG\r\n\x1a\n....") == "PNG"
    assert sniff_format(b"II*\x00") == sniff_format(b"MM\x00*") == "TIFF"
    assert sniff_format(b"BM\x00\x00") == "BMP"
    assert sniff_format(bytes(128) + b"DICM") == "DICOM"
    assert sniff_format(b"\x08\x00\x05\x00CS\x0a\x00") == "DICOM"  # no preamble, group 0008
    assert sniff_format(b"hello world") is None
    assert sniff_format(b"") is None


def test_looks_like_image_by_suffix_or_content(tmp_path, gray8):
    ok, encoded = cv2.imencode(".jpg", gray8)
    (tmp_path / "scan").write_bytes(encoded.tobytes())
    (tmp_path / "UPPER.JPG").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("text")
    assert looks_like_image(tmp_path / "scan")
    assert looks_like_image(tmp_path / "UPPER.JPG")
    assert not looks_like_image(tmp_path / "notes.txt")
    assert not looks_like_image(tmp_path / "absent")
    assert load_xray(tmp_path / "scan").format == "JPEG"


def test_dicm_at_128_wins_over_a_tiff_preamble():
    """A "dual-personality" DICOM (TIFF header in its preamble, PS3.10 7.1) is a DICOM."""
    head = b"II*\x00" + bytes(124) + b"DICM"
    assert sniff_format(head) == "DICOM"
    assert sniff_format(b"MM\x00*" + bytes(124) + b"DICM") == "DICOM"
    assert sniff_format(head[:128] + b"XXXX") == "TIFF"
