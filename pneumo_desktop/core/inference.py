"""Batched scoring with class activation maps from the same forward pass."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pneumo_desktop.core.architectures import FEATURES_LAYER, LOGIT_LAYER
from pneumo_desktop.core.bundle import CLASS_NAMES, ModelBundle
from pneumo_desktop.core.errors import PneumoError
from pneumo_desktop.core.heatmaps import class_activation_maps, resize_map
from pneumo_desktop.core.image_io import XRayImage, load_xray
from pneumo_desktop.core.metrics import sigmoid
from pneumo_desktop.core.preprocessing import prepare


@dataclass
class Prediction:
    """One study's result."""

    probability: float
    threshold: float
    heatmap: np.ndarray | None = None  # float32 0..1 at the image's resolution

    @property
    def label(self) -> str:
        return CLASS_NAMES[int(self.probability >= self.threshold)]


@dataclass
class ScoredFile:
    """A file from a batch: a prediction, or the error that stopped it."""

    path: Path
    prediction: Prediction | None = None
    error: str | None = None
    image: XRayImage | None = None  # kept only when heat maps were asked for


class Predictor:
    """Scores images with one bundle: compiled once, fixed batch size, parallel decoding."""

    def __init__(self, bundle: ModelBundle, *, batch_size: int = 16,
                 threshold: float | None = None, decode_workers: int | None = None):
        from pneumo_desktop.core.backend import keras_module

        keras = keras_module()
        self.bundle = bundle
        if not isinstance(batch_size, int) or batch_size < 1:
            raise PneumoError(f"Batch size {batch_size!r} must be a whole number of at least 1")
        self.batch_size = batch_size
        self.set_threshold(bundle.card.threshold if threshold is None else threshold)
        self.size = bundle.card.input_size
        self.preprocessing = bundle.card.preprocessing
        self.decode_workers = decode_workers or min(4, os.cpu_count() or 1)
        model = bundle.load_keras_model()
        self.model = model
        try:
            features = model.get_layer(FEATURES_LAYER).input
            logit = model.get_layer(LOGIT_LAYER)
        except ValueError:
            raise PneumoError(f"{bundle.name}: the model lacks the '{FEATURES_LAYER}' -> "
                              f"'{LOGIT_LAYER}' head needed for heat maps") from None
        self._cam_weights = np.asarray(logit.get_weights()[0]).reshape(-1)
        probe = keras.Model(model.inputs, [features, logit.output])
        shape = (batch_size, self.size, self.size, 1)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            forward = tf.function(lambda x: probe(x, training=False), jit_compile=False,
                                  input_signature=[tf.TensorSpec(shape, tf.float32)])
            self._forward = lambda x: [t.numpy() for t in forward(x)]
        else:
            self._forward = probe.predict_on_batch
        self._forward(np.zeros(shape, np.float32))  # compile now, not on the first study

    # -- arrays --------------------------------------------------------------------------
    def predict_inputs(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, S, S, 1) prepared inputs -> probabilities (N,) and CAMs (N, h, w) in 0..1."""
        probs, cams = [], []
        for start in range(0, len(inputs), self.batch_size):
            chunk = inputs[start:start + self.batch_size]
            batch = np.zeros((self.batch_size, self.size, self.size, 1), np.float32)
            batch[:len(chunk)] = chunk
            features, logits = self._forward(batch)
            n = len(chunk)
            probs.append(sigmoid(logits[:n, 0]))
            cams.append(class_activation_maps(features[:n], self._cam_weights))
        if not probs:
            return np.zeros(0), np.zeros((0, 1, 1), np.float32)
        return np.concatenate(probs), np.concatenate(cams)

    def predict_image(self, image: XRayImage | np.ndarray, heatmap: bool = True) -> Prediction:
        """Score one decoded image; the heat map comes at the image's own resolution."""
        pixels = image.pixels if isinstance(image, XRayImage) else image
        probs, cams = self.predict_inputs(prepare(pixels, self.size, self.preprocessing)[None])
        cam = resize_map(cams[0], pixels.shape) if heatmap else None
        return Prediction(float(probs[0]), self.threshold, cam)

    def set_threshold(self, threshold: float) -> None:
        """Decide at `threshold` from now on (an override of the model's operating point)."""
        threshold = float(threshold)
        if not 0.0 < threshold < 1.0:
            raise PneumoError(f"Threshold {threshold} must be between 0 and 1")
        self.threshold = threshold

    # -- files ---------------------------------------------------------------------------
    def model_input(self, path: Path, image: XRayImage | None = None) -> np.ndarray:
        """The model input for a file, always decoded the same way (JPEGs at the reduced
        resolution), so a study gets the same probability in the viewer and in a batch."""
        if image is None or image.format == "JPEG":
            image = load_xray(path, min_side=self.size)
        return prepare(image.pixels, self.size, self.preprocessing)

    def score_path(self, path: str | os.PathLike, *, image: XRayImage | None = None,
                   include_patient: bool = False) -> tuple[XRayImage, Prediction]:
        """Decode a study at full resolution (unless `image` is given) and score it with a
        heat map at that resolution."""
        path = Path(path)
        image = image or load_xray(path, include_patient=include_patient)
        probs, cams = self.predict_inputs(self.model_input(path, image)[None])
        return image, Prediction(float(probs[0]), self.threshold,
                                 resize_map(cams[0], image.pixels.shape))

    def _load(self, path: Path, keep_image: bool):
        image = load_xray(path) if keep_image else None
        return self.model_input(path, image), image

    def score_files(
        self,
        paths: Iterable[str | os.PathLike],
        *,
        heatmaps: bool = False,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> Iterator[ScoredFile]:
        """Score files in order, yielding one result per file; bad files yield their error.

        Decoding runs in a thread pool while the model scores the previous batch.
        Stops early (between batches) once `cancelled()` returns True.
        """
        paths = [Path(p) for p in paths]
        window = 2 * self.batch_size
        pool = ThreadPoolExecutor(self.decode_workers, thread_name_prefix="decode")
        try:
            pending: list[tuple[Path, Future]] = []
            index = 0
            while index < len(paths) or pending:
                while index < len(paths) and len(pending) < window:
                    pending.append((paths[index], pool.submit(self._load, paths[index],
                                                              heatmaps)))
                    index += 1
                chunk, pending = pending[:self.batch_size], pending[self.batch_size:]
                if cancelled():
                    return
                yield from self._score_chunk(chunk, heatmaps)
        finally:  # also when the caller stops iterating: drop queued decodes, don't wait
            pool.shutdown(wait=False, cancel_futures=True)

    def _score_chunk(self, chunk: list[tuple[Path, Future]],
                     heatmaps: bool) -> Iterator[ScoredFile]:
        results: list[ScoredFile] = []
        good: list[tuple[ScoredFile, np.ndarray]] = []
        for path, future in chunk:
            try:
                array, image = future.result()
            except PneumoError as exc:
                results.append(ScoredFile(path, error=str(exc)))
                continue
            except Exception as exc:  # a decoder bug must not lose the rest of the batch
                results.append(ScoredFile(path, error=f"{path.name}: cannot read ({exc})"))
                continue
            item = ScoredFile(path, image=image)
            results.append(item)
            good.append((item, array))
        if good:
            probs, cams = self.predict_inputs(np.stack([array for _, array in good]))
            for (item, _), prob, cam in zip(good, probs, cams, strict=True):
                heat = resize_map(cam, item.image.pixels.shape) if heatmaps else None
                item.prediction = Prediction(float(prob), self.threshold, heat)
        yield from results
