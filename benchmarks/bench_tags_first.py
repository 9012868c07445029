"""How fast a folder of CT slices is refused: tags read from the header first (issue 23) against
decoding every file first (the behaviour before).

    python benchmarks/bench_tags_first.py [--copies 40] [--repeats 3] [--model BUNDLE]

The folder: extension-less copies, as on a CD, of real CT slices — ../shared/data/not_chest's
three CTs (uncompressed and JPEG 2000) when present, and pydicom's two 512 x 512 JPEG 2000 CTs.
With the model loaded and warmed up, `Predictor.score_files` (what `pneumo-desktop score` runs)
is timed over the folder with `tags_first` off and on, alternately, `--repeats` times each;
the medians are printed. Every file must come back refused by its modality either way. Also
printed: one file's full decode against reading its header, single-threaded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_CHEST = REPO.parent / "shared" / "data" / "not_chest"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def ct_slices() -> list[Path]:
    """The CT slices the folder is made of."""
    from pydicom.data import get_testdata_file

    shared = [NOT_CHEST / name for name in ("ct_1.dcm", "ct_2.dcm", "ct_head.dcm")]
    return [p for p in shared if p.is_file()] + [
        Path(get_testdata_file(name)) for name in ("693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm")]


def per_file(sources: list[Path], repeats: int = 10) -> None:
    """Milliseconds to decode one file for scoring against reading its header."""
    from pneumo_desktop.imaging.dicom_header import check_dicom_tags
    from pneumo_desktop.imaging.image_io import load_xray

    for source in sources:
        cells = []
        for job, kwargs in ((load_xray, {"min_side": 224}), (check_dicom_tags, {})):
            job(source, **kwargs)
            started = time.perf_counter()
            for _ in range(repeats):
                job(source, **kwargs)
            cells.append(1000 * (time.perf_counter() - started) / repeats)
        print(f"  {source.name:28s} decode {cells[0]:6.1f} ms   header + tag check "
              f"{cells[1]:5.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40, help="copies of each slice")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, help="bundle (default: the shipped model)")
    args = parser.parse_args()
    from pneumo_desktop.model.bundle import default_bundle_path, read_bundle
    from pneumo_desktop.model.inference import Predictor

    sources = ct_slices()
    folder = Path(tempfile.mkdtemp(prefix="ct_slices_"))
    try:
        paths = []
        for source in sources:
            for n in range(args.copies):
                paths.append(Path(shutil.copyfile(source, folder / f"{source.stem}_{n:03d}")))
        predictor = Predictor(read_bundle(args.model or default_bundle_path()))
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for tags_first in (False, True):
                predictor.tags_first = tags_first
                started = time.perf_counter()
                results = list(predictor.score_files(paths))
                times[tags_first].append(time.perf_counter() - started)
                refused = sum(1 for r in results if r.refusal and r.refusal.code == "modality")
                if refused != len(paths):
                    raise SystemExit(f"only {refused} of {len(paths)} refused by modality")
        print(f"{len(paths)} CT slices ({len(sources)} files x {args.copies}), "
              f"{predictor.decode_workers} decode threads, {os.cpu_count()} CPUs:")
        medians = {}
        for tags_first, label in ((False, "decode first (before)"), (True, "tags first")):
            medians[tags_first] = statistics.median(times[tags_first])
            runs = ", ".join(f"{t:.2f}" for t in times[tags_first])
            print(f"  {label:22s} {medians[tags_first]:6.2f} s  "
                  f"{1000 * medians[tags_first] / len(paths):6.2f} ms/file  "
                  f"{len(paths) / medians[tags_first]:7.0f} files/s   (runs {runs} s)")
        print(f"  speed-up {medians[False] / medians[True]:.0f}x")
        print("one file, single thread:")
        per_file(sources)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
