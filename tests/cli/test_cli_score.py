"""`pneumo-desktop score` and `self-test`: CSV contents, exit codes, heat maps, atomic output."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from pneumo_desktop.cli import main
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model import bundle as bundle_module

REPO = Path(__file__).resolve().parents[2]
HEADER = "path,probability,prediction,threshold,model,error,input_check"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _dicom_bytes(pixels: np.ndarray) -> bytes:
    """A bare DICOM (no preamble, no meta header), as some archives export them."""
    import io

    from pydicom.dataset import Dataset
    from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = pixels.tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, implicit_vr=True, little_endian=True, enforce_file_format=False)
    return buffer.getvalue()


@pytest.fixture
def studies(image_folder) -> Path:
    """The shared image_folder plus an extension-less DICOM and a hidden folder."""
    (image_folder / "IM0001").write_bytes(_dicom_bytes(synthetic_chest(200, seed=7)))
    (image_folder / ".cache").mkdir()
    cv2.imwrite(str(image_folder / ".cache" / "thumb.jpg"), synthetic_chest(64))
    return image_folder


GOOD = {"study0.jpg", "study1.jpg", "study2.jpg", "study3.png", "IM0001"}
BAD = {"empty.jpg", "truncated.jpg"}


def test_score_folder_writes_one_row_per_file(studies, tiny_bundle, tmp_path, capsys):
    out = tmp_path / "results.csv"
    code = main(["score", str(studies), "--out", str(out), "--model", str(tiny_bundle)])
    assert code == 3  # some failed
    assert out.read_text(encoding="utf-8").splitlines()[0] == HEADER
    rows = _rows(out)
    names = [Path(r["path"]).name for r in rows]
    assert sorted(names) == sorted(GOOD | BAD)  # hidden files/folders and notes.txt skipped
    for row in rows:
        name = Path(row["path"]).name
        assert Path(row["path"]).is_file()
        assert row["model"] == "tiny" and row["threshold"] == "0.500000"
        if name in GOOD:
            assert row["error"] == ""
            probability = float(row["probability"])
            assert 0.0 <= probability <= 1.0
            assert row["prediction"] == ("PNEUMONIA" if probability >= 0.5 else "NORMAL")
        else:
            assert row["probability"] == row["prediction"] == ""
            assert name in row["error"]
    errors = {Path(r["path"]).name: r["error"] for r in rows}
    assert "empty file" in errors["empty.jpg"] and "truncated JPEG" in errors["truncated.jpg"]
    assert "5 scored, 0 not scored (input check), 2 unreadable" in capsys.readouterr().err


def test_all_good_exits_0_and_named_files_are_kept(studies, tiny_bundle, tmp_path):
    out = tmp_path / "good.csv"
    files = [studies / "study0.jpg", studies / "IM0001", studies / "sub"]
    assert main(["score", *map(str, files), "--out", str(out), "--model", str(tiny_bundle)]) == 0
    assert [Path(r["path"]).name for r in _rows(out)] == ["study0.jpg", "IM0001", "study3.png"]
    # a missing file named on the command line still gets its row
    out2 = tmp_path / "missing.csv"
    code = main(["score", str(studies / "study0.jpg"), str(tmp_path / "nope.jpg"),
                 "--out", str(out2), "--model", str(tiny_bundle)])
    assert code == 3
    rows = _rows(out2)
    assert len(rows) == 2 and "File not found" in rows[1]["error"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--model", "{tmp}/absent"], "no usable model: No model folder"),
    (["--model", "{tmp}"], "no usable model: "),  # a folder, but not a bundle
    (["--model", "{bundle}", "--threshold", "1.5"], "--threshold must be between 0 and 1"),
    (["--model", "{bundle}", "--threshold", "0"], "--threshold must be between 0 and 1"),
    (["--model", "{bundle}", "--threshold", "abc"], "invalid float value"),
    (["--model", "{bundle}", "--batch-size", "0"], "Batch size 0"),
    (["--model", "{bundle}", "--out", "{tmp}"], "is a folder"),
])
def test_usage_errors_exit_2(studies, tiny_bundle, tmp_path, capsys, extra, message):
    out = tmp_path / "r.csv"
    args = ["score", str(studies), "--out", str(out)]
    args += [a.format(tmp=tmp_path, bundle=tiny_bundle) for a in extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_no_model_given_and_no_default_exits_2(studies, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bundle_module, "builtin_models_dir", lambda: tmp_path / "models")
    assert main(["score", str(studies), "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert "no usable model" in err and str(tmp_path / "models" / "default") in err


def test_no_images_exits_2(tmp_path, tiny_bundle, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing to see")
    out = tmp_path / "r.csv"
    assert main(["score", str(tmp_path / "empty"), "--out", str(out),
                 "--model", str(tiny_bundle)]) == 2
    assert "no images found" in capsys.readouterr().err
    assert not out.exists()
    assert main(["score", "--out", str(out)]) == 2  # no paths at all


def test_heatmaps_one_png_per_scored_image(studies, tiny_bundle, tmp_path):
    heat = tmp_path / "heat"
    out = tmp_path / "r.csv"
    assert main(["score", str(studies), "--out", str(out), "--model", str(tiny_bundle),
                 "--heatmaps", str(heat)]) == 3
    expected = {f"{Path(name).stem}_heatmap.png" for name in GOOD}
    assert {p.name for p in heat.iterdir()} == expected
    for row in _rows(out):
        name = Path(row["path"]).name
        if name not in GOOD:
            continue
        overlay = cv2.imread(str(heat / f"{Path(name).stem}_heatmap.png"), cv2.IMREAD_UNCHANGED)
        assert overlay.ndim == 3 and overlay.shape[2] == 3
        source = cv2.imread(row["path"], cv2.IMREAD_GRAYSCALE)
        if source is not None:  # DICOM: not readable by OpenCV
            assert overlay.shape[:2] == source.shape


def test_threshold_changes_predictions(studies, tiny_bundle, tmp_path):
    out = tmp_path / "a.csv"
    main(["score", str(studies), "--out", str(out), "--model", str(tiny_bundle)])
    probs = sorted({float(r["probability"]) for r in _rows(out) if r["probability"]})
    assert len(probs) >= 2
    threshold = (probs[0] + probs[-1]) / 2
    out2 = tmp_path / "b.csv"
    main(["score", str(studies), "--out", str(out2), "--model", str(tiny_bundle),
          "--threshold", repr(threshold)])
    labels = set()
    for row in _rows(out2):
        assert row["threshold"] == f"{threshold:.6f}"
        if row["probability"]:
            expected = "PNEUMONIA" if float(row["probability"]) >= threshold else "NORMAL"
            assert row["prediction"] == expected
            labels.add(row["prediction"])
    assert labels == {"NORMAL", "PNEUMONIA"}


def test_interrupted_run_leaves_no_file(studies, tiny_bundle, tmp_path, monkeypatch):
    """Ctrl-C half-way: no CSV at --out and no temporary file left behind."""
    from pneumo_desktop.cli import progress

    calls = []

    def interrupt(self, done, extra=""):
        calls.append(done)
        if done == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(progress.ProgressBar, "update", interrupt)
    out = tmp_path / "out" / "results.csv"
    assert main(["score", str(studies), "--out", str(out), "--model", str(tiny_bundle)]) == 130
    assert calls == [1, 2]
    assert list(out.parent.iterdir()) == []


# -- killed process -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mobilenet224(tmp_path_factory) -> Path:
    from conftest import make_bundle

    folder = tmp_path_factory.mktemp("bundles") / "mnv2_224"
    make_bundle(folder, arch="mobilenet_v2", size=224)
    return folder


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_run_keeps_previous_csv(tmp_path, mobilenet224):
    folder = tmp_path / "many"
    folder.mkdir()
    ok, encoded = cv2.imencode(".jpg", synthetic_chest(256))
    for i in range(200):
        (folder / f"img{i:03d}.jpg").write_bytes(encoded.tobytes())
    out = tmp_path / "results.csv"
    previous = f"{HEADER}\r\n/earlier/run.jpg,0.123456,NORMAL,0.500000,old,\r\n".encode()
    out.write_bytes(previous)
    log = tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pneumo_desktop", "score", str(folder), "--out", str(out),
             "--model", str(mobilenet224), "--batch-size", "2"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 120
            while b"scoring [" not in log.read_bytes():
                assert proc.poll() is None, f"finished before the kill: {log.read_text()}"
                assert time.monotonic() < deadline, "no progress output within 120 s"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "the run ended by itself: kill came too late"
    assert out.read_bytes() == previous
    # the killed run was writing: only its hidden temporary file is left beside the CSV
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".results.csv.")]
    assert len(leftovers) == 1 and leftovers[0].endswith(".part")


# -- self-test ------------------------------------------------------------------------------
def test_self_test_with_a_bundle(tiny_bundle):
    from pneumo_desktop.cli.self_test import run_self_test

    lines: list[str] = []
    assert run_self_test(lines.append, bundle_path=tiny_bundle) is True
    text = "\n".join(lines)
    assert "checksum ok" in text and "FAIL" not in text
    assert "ok   heat map at image size" in text
    assert "figures: The model card gives no validated sensitivity or specificity." in text
    assert "warning: Not yet checked on this clinic's studies: run Calibrate" in text


def test_self_test_fails_on_a_corrupt_bundle(tiny_bundle, tmp_path):
    import shutil

    from pneumo_desktop.cli.self_test import run_self_test

    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    with open(broken / "model.keras", "ab") as handle:
        handle.write(b"x")
    lines: list[str] = []
    assert run_self_test(lines.append, bundle_path=broken) is False
    assert any(line.startswith("FAILED:") and "checksum" in line for line in lines)


def test_self_test_cli_without_default_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bundle_module, "builtin_models_dir", lambda: tmp_path / "models")
    assert main(["self-test"]) == 1
    out = capsys.readouterr().out
    assert "FAILED: No model folder at" in out and str(tmp_path / "models" / "default") in out


def test_cancelled_batch_leaves_no_csv(tmp_path, tiny_predictor, image_folder):
    from pneumo_desktop.imaging.discovery import collect_inputs
    from pneumo_desktop.model.scoring import score_to_csv

    out = tmp_path / "results.csv"
    out.write_text("earlier results\n")
    summary = score_to_csv(tiny_predictor, collect_inputs([image_folder]) * 5, out,
                           cancelled=lambda: True)
    assert summary.cancelled and summary.scored == 0
    assert out.read_text() == "earlier results\n"
    assert not list(tmp_path.glob(".results.csv.*"))
