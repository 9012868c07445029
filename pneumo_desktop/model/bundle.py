"""Model bundles: a folder with `model.keras` and `model.json` (the model card)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pneumo_desktop.atomic import atomic_directory
from pneumo_desktop.errors import BundleError
from pneumo_desktop.paths import app_root, user_data_dir

MODEL_FILE = "model.keras"
CARD_FILE = "model.json"
CHECK_FILE = "input_check.npz"  # the learned input check (optional; sha256 in the card)
TFLITE_FILE = "model.tflite"  # the same model for the LiteRT engine (sha256 in the card)
FORMAT_VERSION = 1
CLASS_NAMES = ("NORMAL", "PNEUMONIA")
REQUIRED_FIELDS = ("format_version", "name", "architecture", "input_size", "preprocessing",
                   "class_names", "threshold", "sha256")


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class ModelCard:
    """What `model.json` says about a model."""

    name: str
    architecture: str
    input_size: int
    threshold: float
    preprocessing: dict[str, Any] = field(default_factory=lambda: {"resize": "stretch",
                                                                   "interpolation": "area"})
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    threshold_rule: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    input_check: dict[str, Any] = field(default_factory=dict)  # {} = no learned check
    tflite: dict[str, Any] = field(default_factory=dict)  # {} = no .tflite (older bundles)
    local: dict[str, Any] = field(default_factory=dict)  # figures on a clinic's own studies
    heatmap: dict[str, Any] = field(default_factory=dict)  # fixed heat-map scale ({}: relative)
    # score and typicality distributions on the validation split (input-drift monitoring)
    reference: dict[str, Any] = field(default_factory=dict)
    app_version: str = ""
    sha256: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "model.json") -> ModelCard:
        missing = [key for key in REQUIRED_FIELDS if key not in data]
        if missing:
            raise BundleError(f"{where}: missing field(s) {', '.join(missing)}")
        version = data["format_version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise BundleError(f"{where}: format_version {version!r} is not a version number")
        if version > FORMAT_VERSION:
            raise BundleError(f"{where}: made by a newer Pneumo Desktop (format "
                              f"{version}); update the app")
        for key in ("name", "architecture"):
            if not isinstance(data[key], str) or not data[key].strip():
                raise BundleError(f"{where}: {key} {data[key]!r} is not a non-empty text")
        if not isinstance(data["preprocessing"], dict):
            raise BundleError(f"{where}: preprocessing {data['preprocessing']!r} is not an "
                              "object")
        if not isinstance(data["class_names"], list) or data["class_names"] != list(CLASS_NAMES):
            raise BundleError(f"{where}: class names {data['class_names']} are not "
                              f"{list(CLASS_NAMES)}")
        threshold = data["threshold"]
        if not isinstance(threshold, int | float) or not 0.0 < threshold < 1.0:
            raise BundleError(f"{where}: threshold {threshold!r} is not between 0 and 1")
        size = data["input_size"]
        if not isinstance(size, int) or not 32 <= size <= 1024:
            raise BundleError(f"{where}: input_size {size!r} is not a size in pixels")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class ModelBundle:
    """A model folder whose card has been read and whose weights file has been verified."""

    path: Path
    card: ModelCard

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def name(self) -> str:
        return self.card.name

    def load_keras_model(self):
        """The Keras model (imports TensorFlow; call off the GUI thread)."""
        from pneumo_desktop.model.backend import keras_module

        keras = keras_module()
        try:
            return keras.saving.load_model(self.model_file, compile=False)
        except Exception as exc:
            raise BundleError(f"{self.path.name}: model.keras cannot be loaded ({exc})") from None

    @property
    def has_learned_check(self) -> bool:
        return bool(self.card.input_check.get("sha256"))

    @property
    def has_tflite(self) -> bool:
        return isinstance(self.card.tflite, dict) and bool(self.card.tflite.get("sha256"))

    @property
    def tflite_file(self) -> Path:
        return self.path / TFLITE_FILE

    def verify_tflite(self) -> None:
        """Raise unless the card's `.tflite` is there and matches its checksum."""
        try:
            matches = sha256_of(self.tflite_file) == self.card.tflite["sha256"]
        except OSError as exc:
            raise BundleError(f"{self.path.name}/{TFLITE_FILE} cannot be read "
                              f"({exc.strerror})") from None
        if not matches:
            raise BundleError(f"{self.path.name}: {TFLITE_FILE} does not match the checksum in "
                              "model.json (the file is corrupt or was replaced)")

    def learned_check(self):
        """The learned input check stored with the model, or None for bundles without one."""
        from pneumo_desktop.model.input_check import LearnedCheck

        if not self.has_learned_check:
            return None
        try:
            data = (self.path / CHECK_FILE).read_bytes()
        except OSError as exc:
            raise BundleError(f"{self.path.name}/{CHECK_FILE} cannot be read "
                              f"({exc.strerror})") from None
        if hashlib.sha256(data).hexdigest() != self.card.input_check["sha256"]:
            raise BundleError(f"{self.path.name}: {CHECK_FILE} does not match the checksum in "
                              "model.json (the file is corrupt or was replaced)")
        try:
            return LearnedCheck.from_bytes(data, self.card.input_check)
        except Exception as exc:
            raise BundleError(f"{self.path.name}/{CHECK_FILE} cannot be used ({exc})") from None


def read_bundle(path: str | os.PathLike, verify: bool = True,
                verify_check: bool = True) -> ModelBundle:
    """Read a bundle's card and check that model.keras (and the learned input check, if the
    card names one) match their sha256."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"No model folder at {path}")
    card_path, model_path = path / CARD_FILE, path / MODEL_FILE
    if not card_path.is_file():
        raise BundleError(f"{path.name}: no {CARD_FILE} (not a model bundle)")
    if not model_path.is_file():
        raise BundleError(f"{path.name}: no {MODEL_FILE} (not a model bundle)")
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path.name}/{CARD_FILE} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise BundleError(f"{path.name}/{CARD_FILE} cannot be read ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path.name}/{CARD_FILE} is not a JSON object")
    card = ModelCard.from_json(data, f"{path.name}/{CARD_FILE}")
    try:
        mismatch = verify and sha256_of(model_path) != card.sha256
    except OSError as exc:
        raise BundleError(f"{path.name}/{MODEL_FILE} cannot be read ({exc.strerror})") from None
    if mismatch:
        raise BundleError(f"{path.name}: model.keras does not match the checksum in model.json "
                          "(the file is corrupt or was replaced)")
    if card.input_check and not isinstance(card.input_check, dict):
        raise BundleError(f"{path.name}/{CARD_FILE}: input_check is not an object")
    bundle = ModelBundle(path, card)
    if verify and verify_check and bundle.has_learned_check:
        bundle.learned_check()  # present and matching its checksum
    if verify and bundle.has_tflite:
        bundle.verify_tflite()
    return bundle


def write_bundle(path: str | os.PathLike, model, card: ModelCard,
                 learned_check=None) -> ModelBundle:
    """Save a Keras model, its `.tflite` for the LiteRT engine, its card and its learned
    input check as a bundle, atomically."""
    path = Path(path)
    with atomic_directory(path) as tmp:
        model.save(tmp / MODEL_FILE)
        card.tflite = _export_tflite(model, card.input_size, tmp)
        _finish_bundle(path, tmp, card, learned_check)
    return read_bundle(path)


def _export_tflite(model, size: int, folder: Path) -> dict[str, Any]:
    """Write the model's `.tflite` into `folder`; its card entry ({} for a model without the
    heat-map head, which no engine scores; the failure when the converter fails, and the
    bundle is then scored by TensorFlow, converting again once when LiteRT is asked for)."""
    from pneumo_desktop.model.tflite_export import NoHeatMapHead, export_tflite, tflite_card

    try:
        data = export_tflite(model, size)
    except NoHeatMapHead:
        return {}
    except Exception as exc:  # a converter bug must not lose a trained model
        return {"error": f"conversion failed: {exc}"[:500]}
    (folder / TFLITE_FILE).write_bytes(data)
    return tflite_card(data, TFLITE_FILE)


def attach_learned_check(path: str | os.PathLike, learned_check) -> ModelBundle:
    """Give an existing bundle a (new) learned input check; its weights file is kept as is."""
    bundle = read_bundle(path, verify_check=False)  # the old check is being replaced
    with atomic_directory(bundle.path) as tmp:
        shutil.copy2(bundle.model_file, tmp / MODEL_FILE)
        if bundle.has_tflite:
            shutil.copy2(bundle.tflite_file, tmp / TFLITE_FILE)
        _finish_bundle(bundle.path, tmp, bundle.card, learned_check)
    return read_bundle(path)


def attach_tflite(path: str | os.PathLike) -> ModelBundle:
    """Give an existing bundle its `.tflite` (converted from model.keras, which is kept byte
    for byte, as are the learned check and the README); the card records its sha256."""
    bundle = read_bundle(path)
    card = bundle.card
    with atomic_directory(bundle.path) as tmp:
        shutil.copy2(bundle.model_file, tmp / MODEL_FILE)
        card.tflite = _export_tflite(bundle.load_keras_model(), card.input_size, tmp)
        if bundle.has_learned_check:
            shutil.copy2(bundle.path / CHECK_FILE, tmp / CHECK_FILE)
        (tmp / CARD_FILE).write_text(json.dumps(card.to_json(), indent=2) + "\n", "utf-8")
        _copy_extras(bundle.path, tmp)
    return read_bundle(path)


def _finish_bundle(path: Path, tmp: Path, card: ModelCard, learned_check) -> None:
    from pneumo_desktop import __version__

    card.sha256 = sha256_of(tmp / MODEL_FILE)
    card.app_version = card.app_version or __version__
    if learned_check is None:
        card.input_check = {}  # new weights: a parent's check does not carry over
    else:
        data = learned_check.to_bytes()
        (tmp / CHECK_FILE).write_bytes(data)
        card.input_check = {**learned_check.info, "file": CHECK_FILE,
                            "sha256": hashlib.sha256(data).hexdigest()}
    (tmp / CARD_FILE).write_text(json.dumps(card.to_json(), indent=2) + "\n", "utf-8")
    _copy_extras(path, tmp)


def _copy_extras(path: Path, tmp: Path) -> None:
    """Files a bundle keeps across rewrites (its README)."""
    for extra in ("README.md",):
        if (path / extra).is_file():
            shutil.copy2(path / extra, tmp / extra)


def default_model_dirs() -> list[Path]:
    """Where bundles live: the app's own `models/` and the user's data folder."""
    return [builtin_models_dir(), user_models_dir()]


def builtin_models_dir() -> Path:
    """`models/` shipped with the app (PyInstaller bundle, wheel's package data or source
    tree: `paths.app_root`)."""
    return app_root() / "models"


def user_models_dir() -> Path:
    """The user's own models (fine-tuned in the clinic)."""
    return user_data_dir() / "models"


def default_bundle_path() -> Path:
    return builtin_models_dir() / "default"


def list_bundles(folders: list[Path] | None = None) -> list[tuple[Path, ModelBundle | BundleError]]:
    """Every folder that looks like a bundle, with its bundle or the error that stops it."""
    found: list[tuple[Path, ModelBundle | BundleError]] = []
    for folder in folders or default_model_dirs():
        if not folder.is_dir():
            continue
        for child in sorted(p for p in folder.iterdir() if p.is_dir()
                            and not p.name.startswith(".")):
            if (child / CARD_FILE).exists() or (child / MODEL_FILE).exists():
                try:
                    found.append((child, read_bundle(child)))
                except BundleError as exc:
                    found.append((child, exc))
    return found
