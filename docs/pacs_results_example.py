"""Make the examples in docs/pacs-results.md: a pediatric film (the first PNEUMONIA one of
../shared/data/chest_xray_native) as a DX DICOM and an adult's CR (../shared/data/dicom, which
the input check refuses), scored with the shipped model by `pneumo-desktop score
--dicom-results`; the Secondary Capture saved as a PNG (half size) and each SR's content
printed as text (dcsrdump, from dicom3tools).

    python docs/pacs_results_example.py docs/pacs-results-sc.png
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]


def main(out_png: str) -> None:
    import cv2
    import pydicom
    from bench_receiver import NATIVE, write_studies

    from pneumo_desktop.cli import main as cli

    work = Path(tempfile.mkdtemp(prefix="pacs-results-"))
    film = sorted((NATIVE / "train" / "PNEUMONIA").glob("*.jpeg"))[0]
    gray = cv2.imread(str(film), cv2.IMREAD_GRAYSCALE)
    (work / "in").mkdir()
    [source] = write_studies(work / "in", [gray])
    ds = pydicom.dcmread(source)
    ds.PatientName, ds.PatientID, ds.AccessionNumber = "Example^Child", "CH1040", "ACC0001"
    ds.save_as(source)
    adult = NATIVE.parent / "dicom" / "cr_mono2_8bit_jpeg_1.dcm"
    (work / "in" / adult.name).write_bytes(adult.read_bytes())
    cli(["score", str(work / "in"), "--out", str(work / "results.csv"),
         "--dicom-results", str(work / "results")])
    print((work / "results.csv").read_text())
    for path in sorted((work / "results").glob("*/*.dcm")):
        result = pydicom.dcmread(path)
        if result.Modality == "SR":
            dump = subprocess.run(["dcsrdump", str(path)], capture_output=True, text=True)
            print(dump.stdout + dump.stderr)  # dcsrdump writes the tree to stderr
        elif result.StudyInstanceUID == ds.StudyInstanceUID:
            rgb = result.pixel_array
            half = cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2),
                              interpolation=cv2.INTER_AREA)
            cv2.imwrite(out_png, cv2.cvtColor(half, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_PNG_COMPRESSION, 9])
            print(f"SC {rgb.shape[1]} x {rgb.shape[0]} -> {out_png} (half size)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/pacs-results-sc.png")
