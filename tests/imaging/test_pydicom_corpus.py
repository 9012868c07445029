"""A peer's corpus as a test (issue 23): `pneumo-desktop score` over pydicom's own test files
(installed with pydicom, so offline), each file's category pinned, and checked against
pydicom's verdict: a single-frame file pydicom decodes is never "unreadable", a DICOMDIR is
skipped, every other file with `DICM` at byte 128 gets a row.

When pydicom is upgraded and its file list changes, `test_categories_are_pinned` names the new
and the missing files: run pydicom's verdict on the new ones and add them to CATEGORIES.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pytest

from pneumo_desktop.cli import main

pydicom = pytest.importorskip("pydicom")

#: Words of the app's messages -> the reason kind pinned below (first match wins).
REFUSAL_KINDS = (("DICOM modality", "modality"), ("body part", "body_part"),
                 ("adult patient", "age"), ("lateral view", "view"), ("oblique view", "view"),
                 ("too small", "too_small"), ("colour image", "colour"), ("blank", "blank"),
                 ("noise", "noise"))
UNREADABLE_KINDS = (("a DICOMDIR", "index"), ("DICOM without pixel data", "no_pixel_data"),
                    ("without image size", "no_size"), ("multi-frame", "multi_frame"),
                    ("truncated or damaged DICOM", "truncated"),
                    ("damaged DICOM header", "damaged_header"),
                    ("cannot decode the DICOM pixels", "pixel_decode"),
                    ("not a DICOM file", "not_dicom"), ("not an image", "not_image"))

_MOD = "refused:modality"  # CT, MR, US, NM, OT, RT…, SR, SEG, ECG
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # FileSet numbers its files in base 36
_TINY = "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM0000"
#: pydicom 3.0's test files (paths relative to pydicom/data/test_files) -> the app's category:
#: "scored", "refused:<refusal code>", "unreadable:<kind>" or "skipped" (the folder scan does
#: not pick it up). Scored with a tiny model without a learned check.
CATEGORIES: dict[str, str] = {
    "693_J2KI.dcm": _MOD, "CT_small.dcm": _MOD, "ExplVR_BigEnd.dcm": _MOD,
    "ExplVR_BigEndNoMeta.dcm": _MOD, "ExplVR_LitEndNoMeta.dcm": _MOD,
    "GDCMJ2K_TextGBR.dcm": "refused:colour", "J2K_pixelrep_mismatch.dcm": _MOD,
    "JPEG-lossy.dcm": _MOD, "JPEG2000-embedded-sequence-delimiter.dcm": _MOD,
    "JPEG2000.dcm": _MOD, "JPEGLSNearLossless_08.dcm": "refused:too_small",
    "JPEGLSNearLossless_16.dcm": "refused:too_small", "JPGExtended.dcm": _MOD,
    "MR_small.dcm": _MOD, "MR_small_RLE.dcm": _MOD, "MR_small_bigendian.dcm": _MOD,
    "MR_small_expb.dcm": _MOD, "MR_small_implicit.dcm": _MOD, "MR_small_jp2klossless.dcm": _MOD,
    "MR_small_jpeg_ls_lossless.dcm": _MOD, "MR_small_padded.dcm": _MOD, "MR_truncated.dcm": _MOD,
    "README.txt": "skipped",
    "SC_jpeg_no_color_transform.dcm": "refused:blank",
    "SC_jpeg_no_color_transform_2.dcm": "refused:blank",
    "SC_rgb_dcmtk_+eb+cr.dcm": _MOD, "SC_rgb_dcmtk_+eb+cy+n1.dcm": _MOD,
    "SC_rgb_dcmtk_+eb+cy+n2.dcm": _MOD, "SC_rgb_dcmtk_+eb+cy+np.dcm": _MOD,
    "SC_rgb_dcmtk_+eb+cy+s2.dcm": _MOD, "SC_rgb_dcmtk_+eb+cy+s4.dcm": _MOD,
    "SC_rgb_gdcm_KY.dcm": _MOD, "SC_rgb_jls_lossy_line.dcm": "refused:too_small",
    "SC_rgb_jls_lossy_sample.dcm": "refused:too_small", "SC_rgb_jpeg.dcm": _MOD,
    "SC_rgb_jpeg_app14_dcmd.dcm": "refused:blank", "SC_rgb_jpeg_dcmd.dcm": _MOD,
    "SC_rgb_jpeg_dcmtk.dcm": _MOD, "SC_rgb_jpeg_gdcm.dcm": _MOD,
    "SC_rgb_jpeg_lossy_gdcm.dcm": _MOD, "SC_rgb_rle.dcm": _MOD, "SC_rgb_rle_16bit.dcm": _MOD,
    "SC_rgb_rle_16bit_2frame.dcm": _MOD, "SC_rgb_rle_2frame.dcm": _MOD,
    "SC_rgb_rle_32bit.dcm": _MOD, "SC_rgb_rle_32bit_2frame.dcm": _MOD,
    "SC_rgb_small_odd.dcm": _MOD, "SC_rgb_small_odd_big_endian.dcm": _MOD,
    "SC_rgb_small_odd_jpeg.dcm": _MOD, "SC_ybr_full_422_uncompressed.dcm": _MOD,
    "UN_sequence.dcm": "unreadable:no_pixel_data", "badVR.dcm": _MOD,
    "crayons.icc": "skipped",
    **{f"dicomdirtests/77654033/{name}": "refused:body_part"
       for name in ("CR1/6154", "CR2/6247", "CR3/6278")},
    **{f"dicomdirtests/{name}": _MOD for name in (
        "77654033/CT2/17106", "77654033/CT2/17136", "77654033/CT2/17166",
        "77654033/CT2/17196", "98892001/CT2N/6293", "98892001/CT2N/6924",
        "98892001/CT5N/2062", "98892001/CT5N/2392", "98892001/CT5N/2693",
        "98892001/CT5N/3023", "98892001/CT5N/3353", "98892003/MR1/15820",
        "98892003/MR1/4919", "98892003/MR1/5641", "98892003/MR2/15970", "98892003/MR2/4950",
        "98892003/MR2/4981", "98892003/MR2/5011", "98892003/MR2/6273", "98892003/MR2/6605",
        "98892003/MR2/6935", "98892003/MR700/4467", "98892003/MR700/4528",
        "98892003/MR700/4558", "98892003/MR700/4588", "98892003/MR700/4618",
        "98892003/MR700/4648", "98892003/MR700/4678")},
    **{f"dicomdirtests/{name}": "skipped" for name in (
        "DICOMDIR", "DICOMDIR-bigEnd", "DICOMDIR-empty.dcm", "DICOMDIR-implicit",
        "DICOMDIR-nooffset", "DICOMDIR-nopatient", "DICOMDIR-reordered", "README.txt",
        "TINY_ALPHA/DICOMDIR", "TINY_ALPHA/README")},
    # the TINY_ALPHA CD: 50 CT records without pixel data, refused by their modality
    **{f"{_TINY}{_B36[n // 36]}{_B36[n % 36]}": _MOD for n in range(50)},
    "empty_charset_LEI.dcm": "unreadable:no_pixel_data", "examples_jpeg2k.dcm": _MOD,
    "examples_overlay.dcm": _MOD, "examples_palette.dcm": _MOD, "examples_rgb_color.dcm": _MOD,
    "examples_ybr_color.dcm": _MOD, "image_dfl.dcm": _MOD, "liver_1frame.dcm": _MOD,
    "liver_expb_1frame.dcm": _MOD, "meta_missing_tsyntax.dcm": "unreadable:no_size",
    "nested_priv_SQ.dcm": "unreadable:no_size", "no_meta.dcm": "unreadable:truncated",
    "no_meta_group_length.dcm": "unreadable:no_pixel_data",
    "priv_SQ.dcm": "unreadable:no_pixel_data", "reportsi.dcm": _MOD,
    "reportsi_with_empty_number_tags.dcm": _MOD, "rtdose.dcm": _MOD, "rtdose_1frame.dcm": _MOD,
    "rtdose_expb.dcm": _MOD, "rtdose_expb_1frame.dcm": _MOD, "rtdose_rle.dcm": _MOD,
    "rtdose_rle_1frame.dcm": _MOD, "rtplan.dcm": _MOD, "rtplan.dump": "skipped",
    "rtplan_truncated.dcm": _MOD, "rtstruct.dcm": _MOD, "rtstruct.dump": "skipped",
    "test-SR.dcm": _MOD, "test1.json": "skipped", "test_PN.json": "skipped",
    "waveform_ecg.dcm": _MOD, "zipMR.gz": "skipped",
}

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"


def _corpus_root() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm")).parent


def _corpus() -> dict[str, Path]:
    """pydicom's test files installed with it (not ones it downloaded to its cache), by path
    relative to its test_files folder; the list also names folders, which are left out."""
    from pydicom.data import get_testdata_files

    root = _corpus_root()
    files = (Path(f) for f in get_testdata_files())
    return {p.relative_to(root).as_posix(): p for p in files
            if p.is_file() and p.is_relative_to(root)}


def _category(row: dict[str, str]) -> str:
    """'scored', 'refused:<code>' or 'unreadable:<kind>' from a CSV row of `score`."""
    if row["probability"]:
        return "scored"
    error = row["error"]
    table, prefix = ((REFUSAL_KINDS, "refused") if row["input_check"] == "refused"
                     else (UNREADABLE_KINDS, "unreadable"))
    kind = next((kind for words, kind in table if words in error), f"other ({error})")
    return f"{prefix}:{kind}"


def _pydicom_verdict(path: Path) -> dict[str, object]:
    """pydicom's own verdict on a file: readable, a DICOMDIR, its frames, pixels decoded."""
    verdict: dict[str, object] = {"read": False, "index": False, "frames": 1, "decoded": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path)
        except Exception:  # noqa: BLE001 - pydicom's verdict: not a DICOM file it reads
            return verdict
        meta = getattr(ds, "file_meta", None)
        verdict["read"] = True
        verdict["index"] = getattr(meta, "MediaStorageSOPClassUID", "") == DICOMDIR_SOP_CLASS
        try:
            verdict["frames"] = int(ds.get("NumberOfFrames") or 1)
            verdict["decoded"] = ds.pixel_array is not None
        except Exception:  # noqa: BLE001 - no pixels, or pydicom cannot decode them
            pass
    return verdict


@pytest.fixture(scope="module")
def scored(tiny_bundle, tmp_path_factory) -> dict[str, str]:
    """`pneumo-desktop score <pydicom's test_files folder>`: category per relative path."""
    out = tmp_path_factory.mktemp("corpus") / "corpus.csv"
    assert main(["score", str(_corpus_root()), "--out", str(out),
                 "--model", str(tiny_bundle)]) == 3  # some files are refused or unreadable
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    root = _corpus_root()
    return {Path(row["path"]).relative_to(root).as_posix(): _category(row) for row in rows}


def test_categories_are_pinned(scored):
    """Each of pydicom's files gets its pinned category; a new or missing file is named."""
    corpus = _corpus()
    new, missing = sorted(set(corpus) - set(CATEGORIES)), sorted(set(CATEGORIES) - set(corpus))
    assert not new and not missing, (
        f"pydicom {pydicom.__version__}'s test files changed: new {new}, missing {missing}; "
        "pin the new ones in CATEGORIES (after checking them against pydicom's verdict)")
    got = {name: scored.get(name, "skipped") for name in corpus}
    wrong = {name: f"{got[name]} (pinned {want})" for name, want in CATEGORIES.items()
             if got[name] != want}
    assert not wrong, wrong
    assert set(scored) <= set(corpus)  # the folder scan found nothing but pydicom's files


def test_categories_agree_with_pydicom(scored):
    """A single-frame file pydicom decodes is scored or refused, never unreadable; a DICOMDIR
    is skipped; every other file pydicom reads with DICM at byte 128 gets a row."""
    disagree = {}
    for name, path in _corpus().items():
        verdict, got = _pydicom_verdict(path), scored.get(name, "skipped")
        dicm = path.read_bytes()[128:132] == b"DICM"
        if verdict["index"]:
            ok = got == "skipped"
        elif verdict["decoded"] and verdict["frames"] == 1:
            ok = got == "scored" or got.startswith("refused:")
        elif dicm:
            ok = got != "skipped"
        else:
            continue
        if not ok:
            disagree[name] = f"{got}; pydicom: {verdict}"
    assert not disagree, disagree


def test_dicomdir_named_directly_is_an_index(tmp_path, tiny_bundle):
    """A DICOMDIR given by name gets a row that calls it an index, not damaged."""
    out = tmp_path / "dir.csv"
    names = ("DICOMDIR", "DICOMDIR-bigEnd", "DICOMDIR-implicit")
    paths = [str(_corpus_root() / "dicomdirtests" / name) for name in names]
    assert main(["score", *paths, "--out", str(out), "--model", str(tiny_bundle)]) == 3
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [_category(row) for row in rows] == ["unreadable:index"] * len(names)
    assert "score the folder it is in" in rows[0]["error"]


def test_what_pydicom_decodes_the_app_decodes():
    """The viewer's path (`load_xray`, no tag check first): every single-frame file pydicom
    decodes becomes a grey image, also the dual-personality ones (a TIFF header in the
    preamble) and colour of every photometric interpretation and bit depth in the corpus."""
    from pneumo_desktop.errors import ImageLoadError
    from pneumo_desktop.imaging.image_io import load_xray

    failed = {}
    for name, path in _corpus().items():
        verdict = _pydicom_verdict(path)
        if not (verdict["decoded"] and verdict["frames"] == 1):
            continue
        try:
            image = load_xray(path)
        except ImageLoadError as exc:
            failed[name] = str(exc)
            continue
        assert image.format == "DICOM" and image.pixels.dtype.name == "uint8", name
        assert image.pixels.ndim == 2, name
    assert not failed, failed
