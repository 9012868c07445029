"""A burst of studies from a modality: N DICOMs pushed in one association (pynetdicom C-STORE
from another process, on the loopback address) to the code behind `pneumo-desktop receive`
(`intake.receiving`), scoring with the shipped model.

    python benchmarks/bench_receiver.py [--n 500] [--size 512] [--model DIR] [--films synthetic]

The films are the 120 native studies of ../shared/data/chest_xray_native (cycled, each copy a
new study with new UIDs) turned into 8-bit DX DICOMs of SIZE x SIZE, or synthetic films when
that folder is absent or `--films synthetic`. Prints the time from the association's start to
the last instance stored (its C-STORE answered) and to the last score, and studies/s.
`--no-score` measures the receiver, the audit log and the results CSV without the model.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NATIVE = REPO.parent / "shared" / "data" / "chest_xray_native"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


SENDER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from tests.dicom_sender import fix_requestor_race  # a pynetdicom requestor race, see there
from pynetdicom import AE
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation
paths = sorted(Path(sys.argv[2]).glob("*.dcm"))
ae = AE(ae_title="BENCH")
ae.add_requested_context(DigitalXRayImageStorageForPresentation)
t0 = time.time()
assoc = ae.associate("127.0.0.1", int(sys.argv[1]), ae_title="PNEUMO")
failed = 0
for i, path in enumerate(paths):
    if not assoc.is_established:
        sys.exit(f"association ended after {i} instances ({time.time() - t0:.1f} s; "
                 f"aborted {assoc.is_aborted}, rejected {assoc.is_rejected})")
    failed += assoc.send_c_store(path).get("Status") != 0
t1 = time.time()
assoc.release()
print(t0, t1, failed)
"""


def films(kind: str, size: int, n: int):
    """n grey uint8 films of size x size."""
    import cv2

    from pneumo_desktop.imaging.synthetic import synthetic_chest

    if kind == "native":
        paths = sorted(p for p in NATIVE.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg"))
        base = [cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (size, size),
                           interpolation=cv2.INTER_AREA) for p in paths]
    else:
        base = [synthetic_chest(size, seed=i) for i in range(min(n, 50))]
    return [base[i % len(base)] for i in range(n)]


def write_studies(folder: Path, pixels: list) -> list[Path]:
    """One DX DICOM per film, each its own study (a child's chest PA)."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation as DX

    paths = []
    for i, image in enumerate(pixels):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = DX
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "CHEST", "PA"
        ds.PatientID, ds.PatientAge, ds.StudyDescription = f"B{i:04d}", "004Y", "CHEST PA"
        ds.Rows, ds.Columns = image.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit, ds.PixelRepresentation = 7, 0
        ds.PixelData = np.ascontiguousarray(image, np.uint8).tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        path = folder / f"{i:04d}.dcm"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def unscored(paths):
    """A Scorer that scores nothing (one empty row per study)."""
    from pneumo_desktop.intake.pipeline import failed_outcome

    return [failed_outcome(path, "not scored (benchmark --no-score)") for path in paths]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--model", default=str(REPO / "models" / "default"))
    parser.add_argument("--films", choices=["native", "synthetic"],
                        default="native" if NATIVE.is_dir() else "synthetic")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--no-score", action="store_true",
                        help="answer every study with an empty row: the receiver, audit log "
                             "and results CSV alone")
    args = parser.parse_args()

    from pneumo_desktop.intake.audit_log import AuditLog
    from pneumo_desktop.intake.pipeline import predictor_scorer
    from pneumo_desktop.intake.receiving import ReceivingConfig, ReceivingService
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.model.inference import Predictor

    predictor = Predictor(read_bundle(args.model), batch_size=args.batch_size)
    scorer = unscored if args.no_score else predictor_scorer(predictor)
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        tmp = Path(tmp)
        (tmp / "send").mkdir()
        started = time.perf_counter()
        write_studies(tmp / "send", films(args.films, args.size, args.n))
        print(f"{args.n} {args.films} films, {args.size} x {args.size} px, written in "
              f"{time.perf_counter() - started:.1f} s; model {predictor.bundle.name}; "
              f"{os.cpu_count()} CPU cores", flush=True)

        done, last_score = threading.Event(), [0.0]  # time.time(): compared across processes
        outcomes = []

        def on_outcome(arrival, outcome) -> None:
            outcomes.append(outcome)
            if len(outcomes) == args.n:
                last_score[0] = time.time()
                done.set()

        config = ReceivingConfig(tmp / "received", port=0, host="127.0.0.1",
                                 audit_path=tmp / "audit.sqlite", batch_size=args.batch_size)
        service = ReceivingService(config, scorer, on_outcome=on_outcome)
        service.start()
        try:  # the sender is another process, as a modality would be
            sender = subprocess.run(
                [sys.executable, "-c", SENDER, str(service.port), str(tmp / "send"), str(REPO)],
                capture_output=True, text=True)
            if sender.returncode:
                raise SystemExit(f"the sender failed:\n{sender.stderr}")
            t0, last_stored, failed = (float(v) for v in sender.stdout.split())
            done.wait(3600)
        finally:
            service.stop()
        scored = sum(o.probability is not None for o in outcomes)
        stored = len(list((tmp / "received").glob("*/*.dcm")))
        with AuditLog(tmp / "audit.sqlite") as audit:
            studies = audit.studies()
        logged = len({s.path for s in studies})
        results = len((tmp / "received" / "results.csv").read_text().splitlines()) - 1
    print(f"stored {stored} of {args.n} ({failed:.0f} C-STORE failures); scored {scored}, "
          f"not scored {len(outcomes) - scored}; audit log: {len(studies)} received "
          f"({logged} distinct), {sum(bool(s.outcome) for s in studies)} with an outcome; "
          f"results.csv: {results} rows")
    print(f"time to last stored: {last_stored - t0:.2f} s "
          f"({args.n / (last_stored - t0):.1f} studies/s received)")
    print(f"time to last score:  {last_score[0] - t0:.2f} s "
          f"({args.n / (last_score[0] - t0):.1f} studies/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
