"""Real films through the intake pipeline with the shipped model: the training hospital's 120
native films raise no drift alert; a batch of heavily shifted films (CLAHE) after them does."""

from __future__ import annotations

import cv2
import pytest
from conftest import shared_data

from pneumo_desktop.evaluation.datasets import scan_dataset
from pneumo_desktop.imaging.image_io import load_xray
from pneumo_desktop.imaging.site_shift import shifted
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.pipeline import Arrival, IntakePipeline, predictor_scorer, sha256_file
from pneumo_desktop.model.bundle import default_bundle_path, read_bundle
from pneumo_desktop.monitoring.report import monitor


@pytest.mark.slow
def test_native_films_no_drift_then_shifted_films_raise_it(tmp_path):
    from pneumo_desktop.model.inference import Predictor

    samples = scan_dataset(shared_data("chest_xray_native", "train")).samples
    bundle = read_bundle(default_bundle_path())
    with AuditLog(tmp_path / "audit.sqlite") as log:
        pipeline = IntakePipeline(predictor_scorer(Predictor(bundle)), log)
        pipeline.start()
        for s in samples:
            pipeline.submit(Arrival(s.path, "folder", sha256_file(s.path)))
        pipeline.wait_idle(600)
        for s in samples:
            log.log_read(next(x.id for x in log.studies() if x.path == str(s.path)),
                         "pneumonia" if s.label else "normal")
        home = monitor(log, bundle.card)
        assert home.scored == 120 and home.drift["n"] == 120
        assert home.drift["value"] < home.drift["alert_level"]
        assert [a.kind for a in home.alerts] == []
        for i, s in enumerate(samples[:100]):
            path = tmp_path / f"clahe_{i:03d}.png"
            cv2.imwrite(str(path), shifted(load_xray(s.path).pixels, "CLAHE"))
            pipeline.submit(Arrival(path, "folder", sha256_file(path)))
        pipeline.wait_idle(600)
        pipeline.stop()
        after = monitor(log, bundle.card)
        assert after.drift["n"] == 200
        assert after.drift["value"] >= after.drift["alert_level"]
        assert "drift" in [a.kind for a in after.alerts]
        print(f"\nnative 120: PSI {home.drift['value']:.3f} (level "
              f"{home.drift['alert_level']:.3f}); +100 CLAHE: PSI {after.drift['value']:.3f} "
              f"(level {after.drift['alert_level']:.3f})")
