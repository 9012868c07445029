"""Dataset layouts, patient ids and patient-level splits."""

from pathlib import Path

import cv2
import pytest

from pneumo_desktop.errors import DatasetError
from pneumo_desktop.evaluation.datasets import (
    build_cache,
    patient_folds,
    patient_id,
    patient_split,
    scan_dataset,
)
from pneumo_desktop.imaging.synthetic import synthetic_chest


def write_kermany_like(root: Path, normals: int = 12, patients: int = 10, per_patient: int = 3):
    (root / "normal").mkdir(parents=True)  # lower case on purpose
    (root / "PNEUMONIA").mkdir(parents=True)
    img = synthetic_chest(160)
    for i in range(normals):
        name = f"IM-{i:04d}-0001.jpeg" if i % 2 else f"NORMAL2-IM-{i:04d}-0001.jpeg"
        cv2.imwrite(str(root / "normal" / name), img)
    for p in range(patients):
        for k in range(per_patient):
            kind = "bacteria" if k % 2 else "virus"
            cv2.imwrite(str(root / "PNEUMONIA" / f"person{p}_{kind}_{k}.jpeg"), img)


@pytest.mark.parametrize("name, expected", [
    ("person12_bacteria_3.jpeg", "PERSON12"),
    ("person12_virus_40.jpeg", "PERSON12"),
    ("IM-0115-0001.jpeg", "IM-0115"),
    ("NORMAL2-IM-0115-0001.jpeg", "NORMAL2-IM-0115"),
])
def test_patient_id_from_kermany_names(name, expected):
    assert patient_id(Path(name)) == expected


def test_patient_id_falls_back_to_the_file():
    assert patient_id(Path("/x/scan_7.png")) == "file:/x/scan_7.png"


def test_flat_layout_is_case_insensitive_and_counted(tmp_path):
    write_kermany_like(tmp_path)
    scan = scan_dataset(tmp_path)
    assert scan.layout == "flat"
    assert scan.class_counts() == {"NORMAL": 12, "PNEUMONIA": 30}


def test_kaggle_layout_counts_per_split(tmp_path):
    write_kermany_like(tmp_path / "train")
    write_kermany_like(tmp_path / "test", normals=4, patients=2, per_patient=2)
    scan = scan_dataset(tmp_path)
    assert scan.layout == "kaggle"
    assert scan.counts()["test"] == {"NORMAL": 4, "PNEUMONIA": 4}
    assert scan.counts()["train"] == {"NORMAL": 12, "PNEUMONIA": 30}


def test_missing_class_and_too_few_images_are_refused(tmp_path):
    write_kermany_like(tmp_path, normals=2)
    with pytest.raises(DatasetError, match="too few"):
        scan_dataset(tmp_path)
    only = tmp_path / "only"
    (only / "PNEUMONIA").mkdir(parents=True)
    cv2.imwrite(str(only / "PNEUMONIA" / "a.png"), synthetic_chest(140))
    with pytest.raises(DatasetError, match="no NORMAL"):
        scan_dataset(only)


def test_no_patient_on_both_sides_of_a_split(tmp_path):
    write_kermany_like(tmp_path, normals=40, patients=30, per_patient=4)
    samples = scan_dataset(tmp_path).samples
    splits = patient_split(samples, 0.2, 0.2, seed=7)
    sets = {k: {s.patient for s in v} for k, v in splits.items()}
    assert not sets["train"] & sets["val"]
    assert not sets["train"] & sets["test"]
    assert not sets["val"] & sets["test"]
    assert sum(len(v) for v in splits.values()) == len(samples)
    # stratified: both classes on every side
    for part in splits.values():
        assert {s.label for s in part} == {0, 1}
    assert patient_split(samples, 0.2, 0.2, seed=7) == splits  # same seed, same split
    assert patient_split(samples, 0.2, 0.2, seed=8) != splits


def test_folds_partition_patients(tmp_path):
    write_kermany_like(tmp_path, normals=20, patients=20, per_patient=2)
    samples = scan_dataset(tmp_path).samples
    folds = patient_folds(samples, 4, seed=1)
    seen = []
    for train, val in folds:
        assert not {s.patient for s in train} & {s.patient for s in val}
        seen += [s.path for s in val]
    assert sorted(seen) == sorted(s.path for s in samples)


def test_holdout_excludes_same_file_names(tmp_path):
    write_kermany_like(tmp_path / "data")
    hold = tmp_path / "hold" / "PNEUMONIA"
    hold.mkdir(parents=True)
    cv2.imwrite(str(hold / "person0_virus_0.jpeg"), synthetic_chest(160))
    scan = scan_dataset(tmp_path / "data", holdout=[tmp_path / "hold"])
    assert "person0_virus_0.jpeg" not in {s.path.name for s in scan.samples}
    assert len(scan.samples) == 41


def test_cache_lists_unreadable_files_and_keeps_going(tmp_path):
    write_kermany_like(tmp_path)
    (tmp_path / "normal" / "IM-9999-0001.jpeg").write_bytes(b"\xff\xd8\xff broken")
    scan = scan_dataset(tmp_path)
    cache = build_cache(scan.samples, 32)
    assert cache.images.shape == (42, 32, 32)
    assert len(cache.unreadable) == 1 and "IM-9999" in str(cache.unreadable[0][0])
