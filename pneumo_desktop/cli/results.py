"""DICOM results on the command line: `score --dicom-results DIR` writes the objects a PACS
takes for each DICOM input; `receive --send-results-to` prints what its queue does."""

from __future__ import annotations

from pathlib import Path

from pneumo_desktop.intake.pipeline import model_version
from pneumo_desktop.intake.results.outbound import FAILED, SENT, OutboundItem
from pneumo_desktop.intake.results.result_objects import read_header, result_objects, write_results
from pneumo_desktop.intake.results.results_dicom import Finding


class DicomResultsWriter:
    """`score_to_csv`'s `on_row`: an SR per DICOM input (scored or not), a Secondary Capture
    per scored one, under `folder/<StudyInstanceUID>/`."""

    def __init__(self, folder: Path, bundle):
        self.folder, self.version = folder, model_version(bundle)
        self.written = self.skipped = 0
        self.failed: list[str] = []  # 'file: why' for inputs whose objects could not be made

    def __call__(self, item, row: dict[str, str]) -> None:
        source = read_header(item.path)
        pred = item.prediction
        try:
            objects = result_objects(
                source, Finding.from_row(row, self.version),
                item.image.pixels if pred is not None and item.image is not None else None,
                pred.display_heatmap if pred is not None else None) if source is not None else []
            if objects:
                self.written += len(write_results(self.folder, objects))
            else:
                self.skipped += 1
        except Exception as exc:  # one odd file must not stop the batch or lose its CSV row
            self.failed.append(f"{item.path}: {exc}")

    def summary(self) -> str:
        skipped = (f" ({self.skipped} inputs without a DICOM study: none for them)"
                   if self.skipped else "")
        failed = "".join(f"\nno DICOM results for {line}" for line in self.failed)
        return f"{self.written} DICOM result objects -> {self.folder}{skipped}{failed}"


def result_line(item: OutboundItem) -> str:
    """One line per change in the outbound queue."""
    what = f"{item.kind.upper()} for {Path(item.source).name}"
    if item.state == SENT:
        return f"result {what}: {item.detail}"
    if item.state == FAILED:
        return f"result {what}: FAILED, {item.detail} (kept; send it again from the app)"
    return f"result {what}: waiting{f', {item.detail}' if item.detail else ''}"
