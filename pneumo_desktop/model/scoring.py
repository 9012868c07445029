"""Scoring many files into a CSV: one row per input, bad files included, written atomically."""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2

from pneumo_desktop.atomic import atomic_open, atomic_write_bytes
from pneumo_desktop.model.heatmaps import overlay
from pneumo_desktop.model.inference import Predictor, ScoredFile

CSV_COLUMNS = ("path", "probability", "prediction", "threshold", "model", "error", "input_check")


@dataclass
class BatchSummary:
    scored: int = 0
    failed: int = 0  # unreadable files and studies refused by the input check
    refused: int = 0  # of `failed`: refused by the input check
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else 0.0


def input_check_text(item: ScoredFile, learned: bool = True) -> str:
    """What the input check said: 'passed', 'refused', or 'scored anyway: <reason>'."""
    if item.refusal is not None:
        return "refused"
    pred = item.prediction
    if pred is None:
        return ""
    if pred.refusal is not None:
        return f"scored anyway, {pred.outside_use_note}"
    return "passed" if learned else "passed (tags and pixels; this model has no learned check)"


def csv_row(item: ScoredFile, model_name: str, threshold: float,
            learned: bool = True) -> dict[str, str]:
    """The CSV row for one file (same columns in the CLI and the GUI export)."""
    pred = item.prediction
    return {
        "path": str(item.path),
        "probability": f"{pred.probability:.6f}" if pred else "",
        "prediction": pred.label if pred else "",
        "threshold": f"{threshold:.6f}",
        "model": model_name,
        "error": item.error or "",
        "input_check": input_check_text(item, learned),
    }


def write_csv(path: str | os.PathLike, rows: Iterable[dict[str, str]]) -> None:
    """Write rows to `path` atomically."""
    with atomic_open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def write_overlay(item: ScoredFile, folder: Path, used: set[str]) -> Path:
    """Save the image with its heat map as `<stem>_heatmap.png` (numbered if taken)."""
    stem = item.path.stem
    name, n = f"{stem}_heatmap.png", 1
    while name in used:
        n += 1
        name = f"{stem}_{n}_heatmap.png"
    used.add(name)
    target = folder / name
    rgb = overlay(item.image.pixels, item.prediction.heatmap)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if ok:
        atomic_write_bytes(target, encoded.tobytes())
    return target


def score_to_csv(
    predictor: Predictor,
    paths: list[Path],
    out_csv: str | os.PathLike,
    *,
    heatmap_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int, ScoredFile], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    heatmaps: bool = False,
    on_row: Callable[[ScoredFile, dict[str, str]], None] | None = None,
) -> BatchSummary:
    """Score `paths`, streaming rows into a temporary file renamed to `out_csv` at the end.

    An interrupted or cancelled run leaves no CSV at `out_csv` (an earlier one stays
    untouched): a CSV always has one row per input. `on_row` gets each file with its row
    (with its image and heat map when `heatmaps` or `heatmap_dir` asked for them).
    """
    summary, started = BatchSummary(), time.perf_counter()
    folder = Path(heatmap_dir) if heatmap_dir else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    try:
        with atomic_open(out_csv, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            results = predictor.score_files(paths, heatmaps=heatmaps or folder is not None,
                                            cancelled=cancelled)
            for done, item in enumerate(results, start=1):
                row = csv_row(item, predictor.bundle.name, predictor.threshold,
                              predictor.learned_check is not None)
                writer.writerow(row)
                if on_row:
                    on_row(item, row)
                if item.prediction:
                    summary.scored += 1
                    if folder:
                        write_overlay(item, folder, used)
                        item.image = None
                else:
                    summary.failed += 1
                    summary.refused += item.refusal is not None
                if progress:
                    progress(done, len(paths), item)
            if summary.scored + summary.failed < len(paths):
                raise _Cancelled  # inside the atomic write: the temporary CSV is discarded
    except _Cancelled:
        summary.cancelled = True
    summary.seconds = time.perf_counter() - started
    return summary


class _Cancelled(Exception):
    """A cancelled batch: its CSV must not replace `out_csv`."""
