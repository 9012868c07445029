"""Labelled X-ray folders: layouts, patient ids, patient-level splits, in-memory caches."""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pneumo_desktop.errors import DatasetError, PneumoError
from pneumo_desktop.imaging.checks import check_image
from pneumo_desktop.imaging.discovery import scan_folder
from pneumo_desktop.imaging.image_io import load_xray
from pneumo_desktop.imaging.preprocessing import prepare
from pneumo_desktop.model.bundle import CLASS_NAMES

SPLITS = ("train", "val", "test")
MIN_PER_CLASS = 4

_PATIENT_PATTERNS = (
    re.compile(r"^(person\d+)_", re.IGNORECASE),  # person123_bacteria_45.jpeg
    re.compile(r"^(NORMAL2-IM-\d+)-", re.IGNORECASE),  # NORMAL2-IM-0123-0001.jpeg
    re.compile(r"^(IM-\d+)-", re.IGNORECASE),  # IM-0123-0001.jpeg
    re.compile(r"^(patient-[0-9a-f]+)_", re.IGNORECASE),  # reads exported from the worklist
)


def patient_id(path: Path) -> str:
    """The patient id in a Kermany file name; otherwise the file itself is its own patient."""
    for pattern in _PATIENT_PATTERNS:
        match = pattern.match(path.name)
        if match:
            return match.group(1).upper()
    return f"file:{path}"


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # 0 NORMAL, 1 PNEUMONIA
    patient: str
    split: str | None = None  # the folder's own split in the Kaggle layout


@dataclass
class DatasetScan:
    """What a folder holds: samples, counts per class and split, the layout found."""

    root: Path
    layout: str  # "kaggle" or "flat"
    samples: list[Sample] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """{split or "all": {class name: count}}."""
        table: dict[str, Counter] = defaultdict(Counter)
        for s in self.samples:
            table[s.split or "all"][CLASS_NAMES[s.label]] += 1
        return {split: {name: c[name] for name in CLASS_NAMES} for split, c in table.items()}

    def class_counts(self) -> dict[str, int]:
        c = Counter(CLASS_NAMES[s.label] for s in self.samples)
        return {name: c[name] for name in CLASS_NAMES}


def _class_dirs(folder: Path) -> dict[int, Path]:
    found = {}
    for child in folder.iterdir() if folder.is_dir() else ():
        if child.is_dir() and child.name.upper() in CLASS_NAMES:
            found[CLASS_NAMES.index(child.name.upper())] = child
    return found


def scan_dataset(root: str | os.PathLike, holdout: list[Path] | None = None) -> DatasetScan:
    """Find NORMAL/PNEUMONIA images in `root` (flat) or `root/{train,val,test}/` (Kaggle).

    `holdout`: folders whose file names are excluded (e.g. the same studies at another size).
    Raises DatasetError when a class is missing or has too few images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"No folder at {root}")
    split_dirs = {c.name.lower(): c for c in root.iterdir()
                  if c.is_dir() and c.name.lower() in SPLITS}
    excluded = {p.name for folder in holdout or [] for p in scan_folder(Path(folder))}
    scan = DatasetScan(root, "kaggle" if split_dirs else "flat")
    sources = [(split, d) for split, d in sorted(split_dirs.items())] or [(None, root)]
    for split, folder in sources:
        for label, class_dir in sorted(_class_dirs(folder).items()):
            for path in scan_folder(class_dir):
                if path.name not in excluded:
                    scan.samples.append(Sample(path, label, patient_id(path), split))
    counts = scan.class_counts()
    missing = [name for name, n in counts.items() if n == 0]
    if missing:
        raise DatasetError(
            f"{root}: no {' or '.join(missing)} images. Put images in folders named NORMAL and "
            "PNEUMONIA (optionally inside train/, val/, test/).")
    few = [f"{name} ({n})" for name, n in counts.items() if n < MIN_PER_CLASS]
    if few:
        raise DatasetError(f"{root}: too few images to train: {', '.join(few)}; at least "
                           f"{MIN_PER_CLASS} per class are needed")
    return scan


def _patients_by_label(samples: list[Sample]) -> dict[int, list[str]]:
    """Each patient under their majority label, in a stable order."""
    votes: dict[str, Counter] = defaultdict(Counter)
    for s in samples:
        votes[s.patient][s.label] += 1
    by_label: dict[int, list[str]] = defaultdict(list)
    for patient in sorted(votes):
        by_label[votes[patient].most_common(1)[0][0]].append(patient)
    return by_label


def patient_split(samples: list[Sample], val_fraction: float = 0.15,
                  test_fraction: float = 0.15, seed: int = 42) -> dict[str, list[Sample]]:
    """Stratified split by patient: no patient on two sides. Returns train/val/test lists."""
    rng = np.random.default_rng(seed)
    assignment: dict[str, str] = {}
    for _label, patients in sorted(_patients_by_label(samples).items()):
        order = [patients[i] for i in rng.permutation(len(patients))]
        n_val = max(1, round(val_fraction * len(order))) if val_fraction > 0 else 0
        n_test = max(1, round(test_fraction * len(order))) if test_fraction > 0 else 0
        for i, patient in enumerate(order):
            assignment[patient] = "val" if i < n_val else "test" if i < n_val + n_test else "train"
    out: dict[str, list[Sample]] = {name: [] for name in SPLITS}
    for s in samples:
        out[assignment[s.patient]].append(s)
    return out


def patient_folds(samples: list[Sample], k: int, seed: int = 42) -> list[tuple[list[Sample],
                                                                                list[Sample]]]:
    """k (train, val) pairs, stratified by label at patient level."""
    if k < 2:
        raise PneumoError("Cross-validation needs at least 2 folds")
    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    for _label, patients in sorted(_patients_by_label(samples).items()):
        for i, j in enumerate(rng.permutation(len(patients))):
            fold_of[patients[j]] = i % k
    return [([s for s in samples if fold_of[s.patient] != f],
             [s for s in samples if fold_of[s.patient] == f]) for f in range(k)]


@dataclass
class ImageCache:
    """Images decoded once at the model's input size, kept in memory as uint8."""

    images: np.ndarray  # (N, S, S) uint8
    labels: np.ndarray  # (N,) float32
    samples: list[Sample]
    unreadable: list[tuple[Path, str]]


def build_cache(samples: list[Sample], size: int, preprocessing: dict | None = None,
                progress: Callable[[int, int], None] | None = None,
                workers: int | None = None) -> ImageCache:
    """Decode every sample once (in parallel); unreadable files and files the input check
    refuses (DICOM tags, pixels: see `model.input_check`) are listed, never learned from."""
    def load(sample: Sample):
        try:
            image = load_xray(sample.path, min_side=size)
            x = prepare(image.pixels, size, preprocessing)
        except PneumoError as exc:
            return None, str(exc)
        refusal = check_image(image, x)
        if refusal:
            return None, f"{sample.path.name}: {refusal.message}"
        return x[:, :, 0].astype(np.uint8), None

    images, kept, unreadable = [], [], []
    with ThreadPoolExecutor(workers or min(4, os.cpu_count() or 1)) as pool:
        for i, (sample, (array, error)) in enumerate(zip(samples, pool.map(load, samples),
                                                         strict=True)):
            if array is None:
                unreadable.append((sample.path, error))
            else:
                images.append(array)
                kept.append(sample)
            if progress and (i % 64 == 0 or i == len(samples) - 1):
                progress(i + 1, len(samples))
    stacked = np.stack(images) if images else np.zeros((0, size, size), np.uint8)
    labels = np.array([s.label for s in kept], np.float32)
    return ImageCache(stacked, labels, kept, unreadable)
