"""`pneumo-desktop self-test`: the default model loads, scores and heat-maps a synthetic image."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def run_self_test(report: Callable[[str], None] = print, bundle_path: Path | None = None,
                  engine: str | None = None) -> bool:
    """True when everything works; each step is reported in one line. `engine`: "litert"
    (the default) or "tensorflow"."""
    from pneumo_desktop import __version__
    from pneumo_desktop.errors import PneumoError
    from pneumo_desktop.evaluation.figures_source import performance_statement
    from pneumo_desktop.imaging.synthetic import synthetic_chest
    from pneumo_desktop.model.bundle import default_bundle_path, read_bundle

    started = time.perf_counter()
    report(f"Pneumo Desktop {__version__} self-test")
    try:
        bundle = read_bundle(bundle_path or default_bundle_path())
        report(f"model: {bundle.name} ({bundle.card.architecture}, {bundle.card.input_size} px, "
               f"threshold {bundle.card.threshold:.3f}) checksum ok")
        report(f"model folder: {bundle.path}")
        statement = performance_statement(bundle.card)
        for line in statement.lines:
            report(f"figures: {line}")
        if statement.warning:
            report(f"warning: {statement.warning}")
        from pneumo_desktop.model.inference import Predictor, engine_device

        predictor = Predictor(bundle, batch_size=1, engine=engine)
        report(f"engine: {predictor.engine_note}")
        report(f"device: {engine_device(predictor.engine)}")
        image = synthetic_chest(600, width=500)
        prediction = predictor.predict_image(image, heatmap=True)
        blank = predictor.predict_image(np.full((600, 500), 128, np.uint8), heatmap=False)
    except PneumoError as exc:
        report(f"FAILED: {exc}")
        return False
    heat = prediction.heatmap
    checks = {
        "probability in [0, 1]": 0.0 <= prediction.probability <= 1.0,
        "heat map at image size": heat is not None and heat.shape == image.shape,
        "heat map finite, 0..1": heat is not None and bool(np.isfinite(heat).all())
        and float(heat.min()) >= 0.0 and float(heat.max()) <= 1.0,
        "input check refuses a blank frame": blank.refusal is not None,
    }
    report("learned input check: " + ("present" if predictor.learned_check else
                                      "missing (only DICOM tags and pixels are checked)"))
    verdict = prediction.refusal.message if prediction.refusal else "passed"
    report(f"input check on the synthetic (drawn, not radiographic) image: {verdict}")
    for label, ok in checks.items():
        report(f"{'ok  ' if ok else 'FAIL'} {label}")
    report(f"probability {prediction.probability:.4f} -> {prediction.label}; "
           f"{time.perf_counter() - started:.1f} s")
    return all(checks.values())

