"""The learned input check: is this a frontal chest film, judged on the model's own features?

On the pooled features of the scoring forward pass (no second model run), a Mahalanobis
typicality score against the training films and a small linear "view" head that recognises
rotated, grey-scale-inverted and partial (corner) films. Fitted when a bundle is trained
(`fit_learned_check`) and stored beside the model. The tag and pixel checks that run before it
are in `imaging.checks`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.imaging.checks import Refusal

VIEW_CLASSES = ("upright", "rotated 90° anticlockwise", "rotated 180° (upside down)",
                "rotated 90° clockwise", "inverted grey scale", "a corner of the film")
PARTIAL_CONFIDENCE = 0.9  # "a corner" only when the head is this sure (real films vary)
VIEW_RATIO_LIMIT = 1.5  # up to this typicality a sure view head names what is wrong
TYPICALITY_MARGIN = 1.2  # the cut-off is 1.2 x the distance that 1 % of validation films exceed


# -- 3. Learned ---------------------------------------------------------------------------------
@dataclass
class LearnedCheck:
    """Typicality (Mahalanobis distance of the pooled features) and the view head."""

    mean: np.ndarray  # (d,)
    precision: np.ndarray  # (d, d) inverse of the shrunk covariance
    cutoff: float  # distances above it are atypical
    view_mean: np.ndarray  # (d,) standardisation of the view head's input
    view_scale: np.ndarray  # (d,)
    view_weights: np.ndarray  # (d, len(VIEW_CLASSES))
    view_bias: np.ndarray  # (len(VIEW_CLASSES),)
    info: dict[str, Any] = field(default_factory=dict)
    _whitening: np.ndarray | None = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def require_fit(self, features: int, model_name: str) -> None:
        """Raise unless the check reads as many pooled features as the model gives."""
        if self.dim != features:
            raise PneumoError(f"{model_name}: the learned input check does not fit the model "
                              f"({self.dim} features, the model has {features})")

    def typicality(self, features: np.ndarray) -> np.ndarray:
        """Distance / cut-off per row: above 1 is atypical."""
        centred = np.asarray(features, np.float64) - self.mean
        d2 = ((centred @ self.precision) * centred).sum(axis=1)
        return np.sqrt(np.maximum(d2, 0.0)) / self.cutoff

    def view_probabilities(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, np.float64) - self.view_mean) / self.view_scale
        return softmax(z @ self.view_weights + self.view_bias)

    @property
    def whitening(self) -> np.ndarray:
        """W with W W^T = precision: the squared distance is |(x - mean) W|^2."""
        if self._whitening is None:
            values, vectors = np.linalg.eigh(self.precision)
            self._whitening = vectors * np.sqrt(np.maximum(values, 0.0))
        return self._whitening

    def assess(self, features: np.ndarray) -> list[Refusal | None]:
        """One verdict per row of pooled features (N, d)."""
        features = np.asarray(features).reshape(len(features), -1)
        if features.shape[1] != self.dim:
            raise ValueError(f"learned input check expects {self.dim} features, got "
                             f"{features.shape[1]}")
        return self.verdicts(self.typicality(features), self.view_probabilities(features))

    @staticmethod
    def verdicts(ratio: np.ndarray, views: np.ndarray) -> list[Refusal | None]:
        """Verdicts from typicality ratios (N,) and view probabilities (N, classes)."""
        return [_verdict(float(r), v) for r, v in zip(ratio, views, strict=True)]

    # -- storage ---------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, mean=self.mean, precision=self.precision.astype(np.float32),
                 cutoff=np.float64(self.cutoff), view_mean=self.view_mean,
                 view_scale=self.view_scale, view_weights=self.view_weights,
                 view_bias=self.view_bias, view_classes=np.array(VIEW_CLASSES))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, info: dict[str, Any] | None = None) -> LearnedCheck:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if tuple(str(c) for c in z["view_classes"]) != VIEW_CLASSES:
                raise ValueError("view classes differ from this version's")
            check = cls(z["mean"].astype(np.float64), z["precision"].astype(np.float64),
                        float(z["cutoff"]), z["view_mean"], z["view_scale"],
                        z["view_weights"], z["view_bias"], dict(info or {}))
        if check.precision.shape != (check.dim, check.dim) or not check.cutoff > 0:
            raise ValueError("inconsistent shapes")
        return check


def _verdict(ratio: float, views: np.ndarray) -> Refusal | None:
    turned = float(views[1:5].sum()) >= 0.5  # rotated or inverted
    partial = float(views[5]) >= PARTIAL_CONFIDENCE
    if not turned and not partial and ratio <= 1.0:
        return None
    view = int(np.argmax(views[1:5])) + 1 if turned else 5
    what = VIEW_CLASSES[view]
    # a chest film, but not the right way up, round or whole: typical, or only a little
    # atypical while the view head is sure of what it sees
    if ratio <= 1.0 or ((turned or partial) and views[view] >= 0.9
                        and ratio <= VIEW_RATIO_LIMIT):
        if view == 4:
            return Refusal("inverted", "the grey scale looks inverted (bones dark): check the "
                                       "export settings (MONOCHROME1/2)")
        if view == 5:
            return Refusal("partial", "only a corner of a chest film: send the whole frontal "
                                      "film")
        return Refusal("orientation", f"the film looks {what}: check orientation")
    hint = "" if not (turned or partial) else \
        f"; it may be {what}: check orientation, grey scale and framing"
    return Refusal("atypical", "does not look like a frontal chest radiograph (typicality "
                               f"{ratio:.2f} x the limit){hint}")


def softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


# -- fitting ------------------------------------------------------------------------------------
def view_transform(images: np.ndarray, view: int,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """Training images (N, S, S) uint8 made into examples of VIEW_CLASSES[view]."""
    if view in (1, 2, 3):
        return np.ascontiguousarray(np.rot90(images, view, axes=(1, 2)))
    if view == 4:
        return 255 - images
    if view == 0:
        return images
    rng = rng or np.random.default_rng(0)
    size = images.shape[1]
    out = np.empty_like(images)
    for i, img in enumerate(images):  # a corner piece of 12-36 % of the film's area
        side = int(size * rng.uniform(0.35, 0.6))
        y, x = (int(rng.choice((0, size - side))) for _ in range(2))
        out[i] = cv2.resize(img[y:y + side, x:x + side], (size, size),
                            interpolation=cv2.INTER_LINEAR)
    return out


def jitter(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What other detectors, exposures and framings do to a film, per image: gamma
    (x0.55-1.8), contrast (x0.7-1.3), and sometimes a smaller film on a black or grey border,
    a tighter crop, blur, equalisation or noise. The learned check must not take one
    hospital's grey levels and framing for "a chest film"."""
    out = np.empty_like(images)
    size = images.shape[1]
    for i, img in enumerate(images):
        x = img
        if rng.random() < 0.25:  # a smaller film inside a border
            side = int(size * rng.uniform(0.75, 0.95))
            y0, x0 = (int(rng.integers(0, size - side + 1)) for _ in range(2))
            canvas = np.full_like(x, int(rng.choice((0, int(np.median(x)), 255))))
            canvas[y0:y0 + side, x0:x0 + side] = cv2.resize(x, (side, side),
                                                             interpolation=cv2.INTER_AREA)
            x = canvas
        elif rng.random() < 0.25:  # a tighter crop
            side = int(size * rng.uniform(0.8, 0.95))
            y0, x0 = (int(rng.integers(0, size - side + 1)) for _ in range(2))
            x = cv2.resize(x[y0:y0 + side, x0:x0 + side], (size, size),
                           interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.15:
            x = cv2.createCLAHE(clipLimit=float(rng.uniform(1.5, 3.0)),
                                tileGridSize=(8, 8)).apply(x)
        elif rng.random() < 0.1:
            x = cv2.equalizeHist(x)
        f = x.astype(np.float32) / 255.0
        if rng.random() < 0.2:
            f = cv2.GaussianBlur(f, (0, 0), float(rng.uniform(0.5, 2.0)))
        f = np.power(np.clip(f, 1e-4, 1.0), float(np.exp(rng.uniform(-0.6, 0.6))))
        f = (f - f.mean()) * rng.uniform(0.7, 1.3) + f.mean()
        if rng.random() < 0.2:
            f = f + rng.normal(0.0, rng.uniform(0.0, 0.03), f.shape).astype(np.float32)
        out[i] = np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8)
    return out


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, shrunk covariance (Ledoit & Wolf 2004, towards a scaled identity), shrinkage."""
    n, d = x.shape
    mean = x.mean(axis=0)
    xc = x - mean
    cov = xc.T @ xc / n
    mu = float(np.trace(cov)) / d
    delta = float(((cov - mu * np.eye(d)) ** 2).sum())
    beta = float(((xc ** 2).T @ (xc ** 2)).sum() / n - (cov ** 2).sum()) / n
    shrink = 0.0 if delta <= 0 else min(max(beta / delta, 0.0), 1.0)
    return mean, (1 - shrink) * cov + shrink * mu * np.eye(d), shrink


def fit_view_head(x: np.ndarray, y: np.ndarray, classes: int, l2: float = 1e-3,
                  steps: int = 500) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Multinomial logistic regression (standardised inputs, L2, Nesterov gradient descent)."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    onehot = np.eye(classes)[y]
    w, b = np.zeros((z.shape[1], classes)), np.zeros(classes)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    lr, momentum = 0.5, 0.9
    for _ in range(steps):
        gw_at, gb_at = w + momentum * vw, b + momentum * vb
        grad = (softmax(z @ gw_at + gb_at) - onehot) / len(z)
        vw = momentum * vw - lr * (z.T @ grad + l2 * gw_at)
        vb = momentum * vb - lr * grad.sum(axis=0)
        w, b = w + vw, b + vb
    return mean, scale, w, b


def fit_learned_check(features: Callable[[np.ndarray], np.ndarray], train: np.ndarray,
                      val: np.ndarray, *, seed: int = 0, max_train: int = 4000,
                      view_per_class: int = 1500) -> LearnedCheck:
    """Fit the learned check from a model's pooled-feature function and training/validation
    images (N, S, S) uint8 of the training hospital.

    Typicality: mean and Ledoit-Wolf covariance of the features of the training films, as
    they are and as other machines would give them (`jitter`); the cut-off is
    TYPICALITY_MARGIN x the distance exceeded by 1 % of the validation films. View head:
    fitted on (jittered) training films made rotated, inverted and cut to a corner
    (`view_transform`).
    """
    rng = np.random.default_rng(seed)
    if len(train) > max_train:
        train = train[np.sort(rng.choice(len(train), max_train, replace=False))]
    train_features = np.concatenate([features(train), features(jitter(train, rng))]
                                    ).astype(np.float64)
    mean, cov, shrink = ledoit_wolf(train_features)
    precision = np.linalg.pinv(cov, hermitian=True)
    val_features = features(val).astype(np.float64)
    centred = val_features - mean
    distances = np.sqrt(np.maximum(((centred @ precision) * centred).sum(axis=1), 0))
    q99 = float(np.quantile(distances, 0.99))
    cutoff = TYPICALITY_MARGIN * q99

    pick = train if len(train) <= view_per_class else \
        train[rng.choice(len(train), view_per_class, replace=False)]
    xs, ys = [], []
    for view in range(len(VIEW_CLASSES)):
        xs.append(features(view_transform(jitter(pick, rng), view, rng)).astype(np.float64))
        ys.append(np.full(len(pick), view))
    head = fit_view_head(np.concatenate(xs), np.concatenate(ys), len(VIEW_CLASSES))
    check = LearnedCheck(mean, precision, cutoff, *head)

    val_views = [check.view_probabilities(features(view_transform(val, v, rng)))
                 for v in range(len(VIEW_CLASSES))]
    verdicts = check.assess(val_features)
    check.info = {
        "method": "Mahalanobis typicality of the pooled features (Ledoit-Wolf covariance) and "
                  "a linear view head (upright / rotated 90, 180, 270 / inverted / a corner) on "
                  "the same features",
        "features": int(mean.shape[0]),
        "fitted_on": {"train_images": int(len(train)), "train_images_jittered": int(len(train)),
                      "validation_images": int(len(val)),
                      "view_images_per_class": int(len(pick))},
        "shrinkage": round(shrink, 5),
        "cutoff_rule": f"{TYPICALITY_MARGIN} x the 99th percentile of the validation films' "
                       "distances",
        "validation_distance_q99": q99,
        "cutoff": cutoff,
        "validation_refused": float(np.mean([v is not None for v in verdicts])),
        "validation_view_accuracy": {VIEW_CLASSES[v]: float(np.mean(p.argmax(axis=1) == v))
                                     for v, p in enumerate(val_views)},
    }
    return check
