"""Scoring many files into a CSV: one row per input, bad files included, written atomically."""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pneumo_desktop.atomic import atomic_open, atomic_write_bytes
from pneumo_desktop.model.heatmaps import overlay
from pneumo_desktop.model.inference import Prediction, Predictor, ScoredFile

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


def heatmap_image(gray: np.ndarray, prediction: Prediction, opacity: float = 0.4
                  ) -> np.ndarray:
    """The film with its heat map on the model's fixed scale, as every exported image shows
    it: below the scale's `show_from` probability the film stays uncoloured (no region raised
    the score); a bundle without a fixed scale gets the per-film map, captioned relative."""
    if prediction.heatmap is None or not prediction.heatmap_shown:
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
        if prediction.heat_scale is not None:
            caption(rgb, f"no heat map: probability below {prediction.heat_scale.show_from:.0%}"
                         " (no region raised the score)")
        return rgb
    rgb = overlay(gray, prediction.heatmap, opacity)
    if prediction.heatmap_is_relative:
        caption(rgb, "heat map relative to this film's own peak (no fixed scale)")
    return rgb


def caption(rgb: np.ndarray, text: str) -> None:
    """Write `text` at the bottom-left of an RGB image, white on a dark band, in place."""
    h, w = rgb.shape[:2]
    scale = max(0.4, w / 1400)
    thickness = max(1, round(scale * 2))
    (_tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    top = max(0, h - th - base - 2 * thickness - 6)
    rgb[top:] = (rgb[top:].astype(np.float32) * 0.35).astype(np.uint8)
    cv2.putText(rgb, text, (6, h - base - 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), thickness, cv2.LINE_AA)


def write_overlay(item: ScoredFile, folder: Path, used: set[str]) -> Path:
    """Save the image with its heat map as `<stem>_heatmap.png` (numbered if taken)."""
    stem = item.path.stem
    name, n = f"{stem}_heatmap.png", 1
    while name in used:
        n += 1
        name = f"{stem}_{n}_heatmap.png"
    used.add(name)
    target = folder / name
    rgb = heatmap_image(item.image.pixels, item.prediction)
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
