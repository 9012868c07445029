"""The LiteRT forward pass: a bundle's `.tflite` run by `ai-edge-litert`, without TensorFlow.

It gives what the TensorFlow forward pass gives (`model.tf_engine`): logits, raw class
activation maps and pooled features for the learned input check; probabilities agree within
1e-5 on real films (tests/model/test_litert_engine.py).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from pneumo_desktop.errors import BundleError
from pneumo_desktop.model.backend import filtered_native_stderr

# what the runtime prints when it builds its CPU delegate
_NOISE = (r"Created TensorFlow Lite XNNPACK delegate for CPU",)


def default_threads() -> int:
    """Threads for one interpreter: at most 2 (more gained nothing on a 1-image graph and
    competes with the decoding threads)."""
    return max(1, min(2, os.cpu_count() or 1))


class LiteRTForward:
    """(N, S, S, 1) float32 -> logits (N,), raw CAMs (N, h, w), pooled features (N, C) and
    None (the learned check runs on the pooled features in NumPy). An interpreter is not
    thread-safe: calls take turns."""

    name = "litert"

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        from pneumo_desktop.model.tflite_export import OUTPUTS, SIGNATURE

        self.path = Path(path)
        try:
            with filtered_native_stderr(_NOISE):
                self._interpreter = Interpreter(model_path=str(self.path),
                                                num_threads=num_threads or default_threads())
                self._interpreter.allocate_tensors()
            signature = self._interpreter._get_full_signature_list()[SIGNATURE]
            self._input = signature["inputs"]["image"]
            self._outputs = [signature["outputs"][name] for name in OUTPUTS]
        except (ValueError, RuntimeError, KeyError) as exc:
            raise BundleError(f"{self.path.name} cannot be used by LiteRT ({exc})") from None
        details = {d["index"]: d for d in self._interpreter.get_output_details()}
        self.input_shape = tuple(int(n) for n in
                                 self._interpreter.get_input_details()[0]["shape"])
        self.features = int(details[self._outputs[2]]["shape"][-1])
        self._lock = threading.Lock()

    def __call__(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, None]:
        inputs = np.asarray(inputs, np.float32)
        if inputs.shape[1:] != self.input_shape[1:]:
            raise ValueError(f"inputs {inputs.shape[1:]} do not fit the model "
                             f"{self.input_shape[1:]}")
        with self._lock:
            return (*self._run(inputs), None)

    def _run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        logits, cams, pooled = [], [], []
        for x in inputs:
            self._interpreter.set_tensor(self._input, x[None])
            self._interpreter.invoke()
            logit, cam, pool = (self._interpreter.get_tensor(i) for i in self._outputs)
            logits.append(logit.reshape(-1)[0])
            cams.append(cam[0].copy())
            pooled.append(pool[0].copy())
        if not logits:
            return (np.zeros(0, np.float32), np.zeros((0, 1, 1), np.float32),
                    np.zeros((0, self.features), np.float32))
        return np.asarray(logits, np.float32), np.stack(cams), np.stack(pooled)


def litert_model(bundle) -> tuple[Path | None, str]:
    """The `.tflite` to score `bundle` with and a line saying where it comes from: the
    bundle's own, or (older bundles) model.keras converted once and cached. (None, why) when
    LiteRT cannot be used: the caller scores with TensorFlow."""
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        return None, "TensorFlow (ai-edge-litert is not installed)"
    if bundle.has_tflite:
        return bundle.tflite_file, f"LiteRT ({bundle.tflite_file.name})"
    from pneumo_desktop.model.tflite_export import NoHeatMapHead, cached_path, convert_and_cache

    cached = cached_path(bundle.card.sha256).is_file()
    try:
        path = convert_and_cache(bundle)
    except NoHeatMapHead as exc:
        raise NoHeatMapHead(f"{bundle.name}: {exc}") from None
    except Exception as exc:  # a converter failure must leave scoring working
        return None, f"TensorFlow (model.keras could not be converted for LiteRT: {exc})"
    how = "converted earlier" if cached else "converted now, once"
    return path, f"LiteRT (this bundle has no .tflite; model.keras {how}, cached in {path})"
