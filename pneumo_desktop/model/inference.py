"""Batched scoring with class activation maps and the input check from the same forward pass."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.imaging.checks import Refusal, check_image
from pneumo_desktop.imaging.dicom_header import check_dicom_tags
from pneumo_desktop.imaging.image_io import XRayImage, load_xray
from pneumo_desktop.imaging.preprocessing import prepare
from pneumo_desktop.model.bundle import CLASS_NAMES, ModelBundle
from pneumo_desktop.model.heatmaps import (
    HeatScale,
    absolute_maps,
    relative_maps,
    resize_map,
)
from pneumo_desktop.model.logits import sigmoid

ENGINES = ("litert", "tensorflow")
ENGINE_VARIABLE = "PNEUMO_ENGINE"  # the default engine, for the app and the compute process


def default_engine() -> str:
    """`PNEUMO_ENGINE` when set to an engine's name, else LiteRT."""
    chosen = os.environ.get(ENGINE_VARIABLE, "").strip().lower()
    return chosen if chosen in ENGINES else "litert"


def engine_device(engine: str) -> str:
    """'CPU (LiteRT)' for the LiteRT engine; TensorFlow's device ('CPU' or 'GPU (name)')."""
    if engine == "litert":
        return "CPU (LiteRT)"
    from pneumo_desktop.model.backend import device_description

    return device_description()


def open_forward(bundle: ModelBundle, engine: str, batch_size: int, check):
    """The forward pass of `engine` for `bundle`, and a line saying what runs it. LiteRT uses
    the bundle's `.tflite`, or converts model.keras once (cached); when it cannot, TensorFlow
    scores instead and the line says why."""
    if engine not in ENGINES:
        raise PneumoError(f"Unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    note = ""
    if engine == "litert":
        from pneumo_desktop.model.litert_engine import LiteRTForward, litert_model

        path, note = litert_model(bundle)
        if path is not None:
            forward = LiteRTForward(path)
            if check is not None:
                check.require_fit(forward.features, bundle.name)
            return forward, note
    from pneumo_desktop.model.tf_engine import TensorFlowForward

    return TensorFlowForward(bundle, batch_size, check), note or "TensorFlow (model.keras)"


@dataclass
class Prediction:
    """One study's result. With a `refusal` the input check objected: the score must not be
    shown unless the user asks for it, and then marked as outside the intended use."""

    probability: float
    threshold: float
    heatmap: np.ndarray | None = None  # float32 0..1 at the image's resolution (see below)
    refusal: Refusal | None = None
    evidence: np.ndarray | None = None  # (h, w) class activation in logit units, low-res
    heat_scale: HeatScale | None = None  # the model's fixed scale; None: relative maps
    logit: float | None = None  # the model's raw output (drift monitoring)
    typicality: float | None = None  # the learned check's distance / cut-off (None: no check)

    @property
    def heatmap_is_relative(self) -> bool:
        """True when `heatmap` is normalised per film (a bundle without a fixed scale)."""
        return self.heat_scale is None

    @property
    def heatmap_shown(self) -> bool:
        """Whether a map is shown by default: below the scale's `show_from` probability no
        region raised the score, and viewer, report, `score --heatmaps` and PACS images show
        none (the relative view stays available on request)."""
        return self.heat_scale is None or self.heat_scale.shown(self.probability)

    @property
    def display_heatmap(self) -> np.ndarray | None:
        """`heatmap` as every view shows it by default: all zero (uncoloured) below the
        display rule; None when no map was computed."""
        if self.heatmap is None or self.heatmap_shown:
            return self.heatmap
        return np.zeros_like(self.heatmap)

    def relative_heatmap(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The per-film normalised map at `shape` (h, w): the view a user may ask for."""
        if self.evidence is None:
            return None
        return resize_map(relative_maps(self.evidence[None])[0], shape)

    @property
    def label(self) -> str:
        return CLASS_NAMES[int(self.probability >= self.threshold)]

    @property
    def outside_use_note(self) -> str:
        """'' for a study that passed the check; otherwise the mark a forced score carries."""
        if self.refusal is None:
            return ""
        return f"outside what the model was made for: {self.refusal.reason}"


@dataclass
class ScoredFile:
    """A file from a batch: a prediction, or the error (or input-check refusal) that stopped
    it. A refused study keeps its withheld score in `withheld` for an explicit "score anyway"."""

    path: Path
    prediction: Prediction | None = None
    error: str | None = None
    image: XRayImage | None = None  # kept only when heat maps were asked for
    withheld: Prediction | None = None
    model_input: np.ndarray | None = None  # (S, S, 1), kept only when asked for
    #: refused by its DICOM tags from the header alone: never decoded, so no score withheld
    tag_refusal: Refusal | None = None

    @property
    def refusal(self) -> Refusal | None:
        return self.withheld.refusal if self.withheld else self.tag_refusal


class Predictor:
    """Scores images with one bundle: parallel decoding, batches through one forward pass on
    `engine` ("litert", the default unless PNEUMO_ENGINE says otherwise, or "tensorflow");
    `engine_note` says what runs it."""

    def __init__(self, bundle: ModelBundle, *, batch_size: int = 16,
                 threshold: float | None = None, decode_workers: int | None = None,
                 input_check: bool = True, learned_check: bool = True,
                 engine: str | None = None):
        self.bundle = bundle
        self.input_check = input_check  # False: score everything, marking what it would refuse
        # a DICOM whose header tags refuse it is not decoded (False: decode first, as before
        # issue 23; for benchmarks)
        self.tags_first = True
        # the bundle's learned check (None: it has none, or `learned_check=False` for benchmarks)
        self.learned_check = bundle.learned_check() if learned_check else None
        if not isinstance(batch_size, int) or batch_size < 1:
            raise PneumoError(f"Batch size {batch_size!r} must be a whole number of at least 1")
        self.batch_size = batch_size
        self.set_threshold(bundle.card.threshold if threshold is None else threshold)
        self.size = bundle.card.input_size
        self.preprocessing = bundle.card.preprocessing
        self.decode_workers = decode_workers or min(4, os.cpu_count() or 1)
        self._forward, self.engine_note = open_forward(bundle, engine or default_engine(),
                                                       batch_size, self.learned_check)
        self.engine: str = self._forward.name
        self._keras_model = getattr(self._forward, "model", None)
        self.heat_scale = HeatScale.from_card(bundle.card.heatmap)

    @property
    def model(self):
        """The bundle's Keras model (loaded on first use with the LiteRT engine: imports
        TensorFlow)."""
        if self._keras_model is None:
            self._keras_model = self.bundle.load_keras_model()
        return self._keras_model

    # -- arrays --------------------------------------------------------------------------
    def predict_inputs(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, S, S, 1) prepared inputs -> probabilities (N,) and CAMs (N, h, w) in 0..1, each
        normalised to its own peak (heat-map focus measures are per film)."""
        probs, cams, _ = self.predict_with_features(inputs)
        return probs, cams

    def predict_with_features(self, inputs: np.ndarray
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities (N,), relative CAMs (N, h, w) and pooled features (N, C), one pass."""
        probs, evidence, pooled, _, _, _ = self._run(inputs)
        return probs, relative_maps(evidence), pooled

    def _run(self, inputs: np.ndarray):
        """Probabilities, evidence maps (logit units), pooled features, the learned check's
        verdicts, the logits and the typicality ratios (NaN without a learned check)."""
        probs, cams, pooled, verdicts, raw, ratios = [], [], [], [], [], []
        check = self.learned_check
        for start in range(0, len(inputs), self.batch_size):
            logits, evidence, features, checked = self._forward(
                inputs[start:start + self.batch_size])
            probs.append(sigmoid(logits))
            raw.append(np.asarray(logits, np.float64))
            cams.append(np.asarray(evidence, np.float32))
            pooled.append(features)
            if check is None:
                ratios.append(np.full(len(logits), np.nan))
                verdicts.extend(checked or [None] * len(logits))
                continue
            ratio = check.typicality(features)  # once: for the log and, unless the engine
            ratios.append(ratio)  # ran the check in its graph, for the verdicts
            verdicts.extend(checked if checked is not None else
                            check.verdicts(ratio, check.view_probabilities(features)))
        if not probs:
            return (np.zeros(0), np.zeros((0, 1, 1), np.float32), np.zeros((0, 1), np.float32),
                    [], np.zeros(0), np.zeros(0))
        return (np.concatenate(probs), np.concatenate(cams), np.concatenate(pooled), verdicts,
                np.concatenate(raw), np.concatenate(ratios))

    def predict_image(self, image: XRayImage | np.ndarray, heatmap: bool = True) -> Prediction:
        """Score one decoded image; the heat map comes at the image's own resolution. The
        input check runs (its verdict is in `refusal`) but never withholds the score here."""
        pixels = image.pixels if isinstance(image, XRayImage) else image
        x = prepare(pixels, self.size, self.preprocessing)
        return self._predictions([x], [self.precheck(image, x)], [pixels.shape] if heatmap
                                 else [None])[0]

    def predict_images(self, images: list[np.ndarray]) -> list[Prediction]:
        """Score decoded uint8 grey images in batches, without heat maps; each Prediction
        carries its input-check verdict (pixels and learned; arrays have no DICOM tags)."""
        inputs = [prepare(pixels, self.size, self.preprocessing) for pixels in images]
        pre = [self.precheck(pixels, x) for pixels, x in zip(images, inputs, strict=True)]
        return self._predictions(inputs, pre, [None] * len(inputs)) if inputs else []

    def precheck(self, image: XRayImage | np.ndarray, model_input: np.ndarray
                 ) -> Refusal | None:
        """DICOM tags and pixels, before the model (see `model.input_check`)."""
        return check_image(image, model_input)

    def _predictions(self, inputs: list[np.ndarray], pre: list[Refusal | None],
                     shapes: list[tuple[int, int] | None]) -> list[Prediction]:
        """Score prepared inputs; each Prediction carries its input-check verdict."""
        probs, evidence, _, learned, logits, ratios = self._run(np.stack(inputs))
        scale = self.heat_scale
        shown = absolute_maps(evidence, scale) if scale else relative_maps(evidence)
        return [Prediction(float(p), self.threshold,
                           resize_map(cam, shape) if shape else None, first or second,
                           ev, scale, float(z), None if np.isnan(r) else float(r))
                for p, cam, ev, first, second, shape, z, r in zip(
                    probs, shown, evidence, pre, learned, shapes, logits, ratios, strict=True)]

    @property
    def has_learned_check(self) -> bool:
        return self.learned_check is not None

    def set_threshold(self, threshold: float) -> None:
        """Decide at `threshold` from now on (an override of the model's operating point)."""
        threshold = float(threshold)
        if not 0.0 < threshold < 1.0:
            raise PneumoError(f"Threshold {threshold} must be between 0 and 1")
        self.threshold = threshold

    # -- files ---------------------------------------------------------------------------
    def model_input(self, path: Path, image: XRayImage | None = None
                    ) -> tuple[np.ndarray, Refusal | None]:
        """The model input for a file and the pre-model input check, always decoded the same
        way (JPEGs at the reduced resolution), so a study gets the same probability and the
        same verdict in the viewer and in a batch."""
        if image is None or image.format == "JPEG":
            image = load_xray(path, min_side=self.size)
        x = prepare(image.pixels, self.size, self.preprocessing)
        return x, self.precheck(image, x)

    def score_path(self, path: str | os.PathLike, *, image: XRayImage | None = None,
                   include_patient: bool = False) -> tuple[XRayImage, Prediction]:
        """Decode a study at full resolution (unless `image` is given) and score it with a
        heat map at that resolution. The prediction carries the input check's verdict in
        `refusal`: callers show it instead of the score (see `ScoredFile`)."""
        path = Path(path)
        image = image or load_xray(path, include_patient=include_patient)
        x, pre = self.model_input(path, image)
        return image, self._predictions([x], [pre], [image.pixels.shape])[0]

    def as_scored_file(self, path: Path, prediction: Prediction,
                       image: XRayImage | None = None) -> ScoredFile:
        """A result row: scored, or (input check on and refused) withheld with the reason."""
        if prediction.refusal is not None and self.input_check:
            return ScoredFile(path, error=prediction.refusal.message, image=image,
                              withheld=prediction)
        return ScoredFile(path, prediction=prediction, image=image)

    def _load(self, path: Path, keep_image: bool, tags_first: bool
              ) -> tuple[np.ndarray | None, Refusal | None, XRayImage | None]:
        """(model input, pre-model verdict, full image if kept) of one file. With
        `tags_first`, a DICOM that its header's tags refuse comes back as (None, refusal, None)
        without its pixels being decoded."""
        if tags_first:
            refusal = check_dicom_tags(path)
            if refusal is not None:
                return None, refusal, None
        image = load_xray(path) if keep_image else None
        return (*self.model_input(path, image), image)

    def score_files(
        self,
        paths: Iterable[str | os.PathLike],
        *,
        heatmaps: bool = False,
        cancelled: Callable[[], bool] = lambda: False,
        keep_inputs: bool = False,
    ) -> Iterator[ScoredFile]:
        """Score files in order, yielding one result per file; bad files yield their error.

        Decoding runs in a thread pool while the model scores the previous batch.
        Stops early (between batches) once `cancelled()` returns True. `keep_inputs` keeps
        each readable file's model input in `model_input` (for a second look without decoding
        again).

        With the input check on, a DICOM is first checked on its header's tags (`tags_first`):
        one they refuse is neither decoded nor scored and comes back with `tag_refusal` (no
        withheld score). `keep_inputs` and `input_check=False` decode and score every file.
        """
        paths = [Path(p) for p in paths]
        tags_first = self.tags_first and self.input_check and not keep_inputs
        window = 2 * self.batch_size
        pool = ThreadPoolExecutor(self.decode_workers, thread_name_prefix="decode")
        try:
            pending: list[tuple[Path, Future]] = []
            index = 0
            while index < len(paths) or pending:
                while index < len(paths) and len(pending) < window:
                    pending.append((paths[index], pool.submit(self._load, paths[index],
                                                              heatmaps, tags_first)))
                    index += 1
                chunk, pending = pending[:self.batch_size], pending[self.batch_size:]
                if cancelled():
                    return
                yield from self._score_chunk(chunk, heatmaps, keep_inputs)
        finally:  # also when the caller stops iterating: drop queued decodes, don't wait
            pool.shutdown(wait=False, cancel_futures=True)

    def _score_chunk(self, chunk: list[tuple[Path, Future]], heatmaps: bool,
                     keep_inputs: bool = False) -> Iterator[ScoredFile]:
        results: list[ScoredFile | None] = []
        good: list[tuple[int, Path, np.ndarray, Refusal | None, XRayImage | None]] = []
        for path, future in chunk:
            try:
                array, pre, image = future.result()
            except PneumoError as exc:
                results.append(ScoredFile(path, error=str(exc)))
                continue
            except Exception as exc:  # a decoder bug must not lose the rest of the batch
                results.append(ScoredFile(path, error=f"{path.name}: cannot read ({exc})"))
                continue
            if array is None:  # refused by its tags before decoding
                results.append(ScoredFile(path, error=pre.message, tag_refusal=pre))
                continue
            good.append((len(results), path, array, pre, image))
            results.append(None)
        if good:
            predictions = self._predictions(
                [g[2] for g in good], [g[3] for g in good],
                [g[4].pixels.shape if heatmaps else None for g in good])
            for (index, path, array, _, image), prediction in zip(good, predictions,
                                                                   strict=True):
                results[index] = self.as_scored_file(path, prediction, image)
                if keep_inputs:
                    results[index].model_input = array
        yield from results
