"""The `train` command's console face: progress printed to stderr, a JSON summary on stdout."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pneumo_desktop.training.config import (
    BatchProgress,
    EpochProgress,
    TrainConfig,
    TrainingCallbacks,
)
from pneumo_desktop.training.fine_tuning import fine_tune_local
from pneumo_desktop.training.train import cross_validate, save_result, summary, train


class PrintingCallbacks(TrainingCallbacks):
    """Progress on stderr for the CLI."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.last = 0.0

    def on_message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def on_cache_progress(self, done: int, total: int) -> None:
        if done == total or time.perf_counter() - self.last > 1:
            self.last = time.perf_counter()
            end = "\n" if done == total else ""
            print(f"\rdecoding images {done}/{total}", end=end, file=self.stream, flush=True)

    def on_batch(self, p: BatchProgress) -> None:
        if p.batch == p.batches or time.perf_counter() - self.last > 1:
            self.last = time.perf_counter()
            print(f"\repoch {p.epoch}/{p.epochs} batch {p.batch}/{p.batches} loss {p.loss:.4f} "
                  f"auc {p.auc:.4f} {p.images_per_second:.1f} img/s ETA {p.eta_seconds:.0f}s",
                  end="", file=self.stream, flush=True)

    def on_epoch(self, p: EpochProgress) -> None:
        mark = " *" if p.improved else ""
        print(f"\repoch {p.epoch}/{p.epochs}: loss {p.loss:.4f} auc {p.auc:.4f} | val loss "
              f"{p.val_loss:.4f} val auc {p.val_auc:.4f}{mark} ({p.seconds:.0f}s)",
              file=self.stream, flush=True)


def run_training_cli(data_dir: str, out_dir: str, config: TrainConfig,
                     name: str | None = None) -> int:
    """`pneumo-desktop train`: optional cross-validation, then train, calibrate and save."""
    if config.init_from and config.cross_fit_folds:  # a clinic's small set: training.fine_tuning
        return run_fine_tuning_cli(data_dir, out_dir, config, name)
    callbacks = PrintingCallbacks()
    cv = cross_validate(data_dir, config, callbacks) if config.folds else None
    if cv:
        callbacks.on_message(f"cross-validation: AUC {cv['auc_mean']:.4f} ± {cv['auc_sd']:.4f}")
    result = train(data_dir, config, callbacks, name=name or Path(out_dir).name)
    if cv:
        result.card.training["cross_validation"] = cv
    bundle = save_result(result, out_dir)
    v = result.card.validation
    callbacks.on_message(
        f"saved {bundle.path}: validation AUC {v['auc']:.4f}, threshold {bundle.card.threshold:.4f}"
        f" -> sensitivity {v['sensitivity']:.3f}, specificity {v['specificity']:.3f}")
    if "test" in result.card.training:
        t = result.card.training["test"]
        callbacks.on_message(f"held-out test split: AUC {t['auc']:.4f}, accuracy "
                             f"{t['accuracy']:.3f}, sensitivity {t['sensitivity']:.3f}, "
                             f"specificity {t['specificity']:.3f}")
    print(json.dumps(summary(v), indent=None), file=sys.stdout)
    return 0


def local_figures_text(local: dict[str, Any]) -> list[str]:
    """Lines summarising a `local` section for the command line."""
    def rates(d: dict) -> str:
        out = []
        for key in ("sensitivity", "specificity"):
            low, high = d.get(f"{key}_ci95", [np.nan, np.nan])
            out.append(f"{key} {d[key]:.3f} [{low:.3f}, {high:.3f}]")
        return ", ".join(out)

    active = local["active_model"]
    lines = [f"on {local['n']} local studies ({local['n_pneumonia']} pneumonia, "
             f"{local['n_normal']} normal), cross-validated: AUC {local['auc']:.4f}, "
             + rates(local),
             f"active model {active['name']} at its threshold {active['threshold']:.4f} on the "
             f"same studies: AUC {active['auc']:.4f}, " + rates(active)]
    lines += [f"warning: {w}" for w in local.get("warnings", [])]
    return lines


def run_fine_tuning_cli(data_dir: str | Path, out_dir: str | Path, config: TrainConfig,
                        name: str | None = None) -> int:
    """`pneumo-desktop train DATA --init-from DIR`: cross-fitted fine-tuning, then save."""
    callbacks = PrintingCallbacks()
    done = fine_tune_local(data_dir, config, callbacks, name=name or Path(out_dir).name)
    bundle = save_result(done.result, out_dir)
    callbacks.on_message(f"saved {bundle.path}: threshold {bundle.card.threshold:.4f} "
                         f"({done.result.card.training['seconds']:.0f} s)")
    for line in local_figures_text(bundle.card.local):
        callbacks.on_message(line)
    local = bundle.card.local
    print(json.dumps({k: local[k] for k in ("n", "auc", "sensitivity", "specificity",
                                            "sensitivity_ci95", "specificity_ci95")}),
          file=sys.stdout)
    return 0
