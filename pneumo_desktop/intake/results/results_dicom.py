"""What the DICOM result objects of one radiograph share: the finding they report, their
UIDs, and the source's identity. `result_sr` makes the SR, `result_sc` the Secondary Capture.

Patient and study identity is copied verbatim from the source. UIDs are derived from the
source's SOP Instance UID, the model version and the object kind, so an object made again
(after a crash) has the same UID and a PACS stores it once.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

from pydicom import Dataset
from pydicom.uid import UID
from pydicom.valuerep import DA, TM

MANUFACTURER = "Pneumo Desktop"
LOCAL_SCHEME = "99PNEUMO"  # private coding scheme: concepts without a standard code
DISCLAIMER = "Decision support only - not a diagnosis"
SR_SERIES_NUMBER, SC_SERIES_NUMBER = 9901, 9902
SR_SERIES = "Pneumonia AI result (decision support only)"
SC_SERIES = "Pneumonia AI heat map (decision support only)"

#: Patient, General Study attributes and the character set, copied verbatim from the source
IDENTITY = ("SpecificCharacterSet", "PatientName", "PatientID", "IssuerOfPatientID",
            "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime",
            "ReferringPhysicianName", "StudyID", "AccessionNumber", "StudyDescription")
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
          "StudyTime", "AccessionNumber", "StudyID", "ReferringPhysicianName")


@dataclass(frozen=True)
class Finding:
    """What the SR says about one radiograph (`reason` set: not scored)."""

    model: str
    model_version: str
    input_check: str  # the verdict, as in results.csv's input_check column
    probability: float | None = None
    threshold: float | None = None
    suspected: bool | None = None
    reason: str = ""  # why it was not scored

    @property
    def scored(self) -> bool:
        return self.probability is not None

    @classmethod
    def from_row(cls, row: dict[str, str], model_version: str) -> Finding:
        """From a results.csv row (`model.scoring.CSV_COLUMNS`): the probability as written."""
        probability = float(row["probability"]) if row.get("probability") else None
        return cls(model=row.get("model", "") or "unknown model",
                   model_version=model_version or "unknown",
                   input_check=row.get("input_check", "") or "not run",
                   probability=probability,
                   threshold=float(row["threshold"]) if row.get("threshold") else None,
                   suspected=row.get("prediction") == "PNEUMONIA" if probability is not None
                   else None,
                   reason="" if probability is not None
                   else (row.get("error", "") or "not scored"))


def derived_uid(*parts: str) -> UID:
    """A `2.25.` UID from a hash of `parts` (the same parts give the same UID)."""
    digest = hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()
    return UID(f"2.25.{int(digest[:30], 16)}")


def result_uids(source: Dataset, model_version: str, kind: str) -> tuple[UID, UID]:
    """(series, instance) UIDs of the `kind` ('sr' or 'sc') result of `source`: one result
    series per study and kind, one instance per source and model."""
    study, sop = str(source.get("StudyInstanceUID", "")), str(source.SOPInstanceUID)
    return (derived_uid(study, kind, "series"), derived_uid(sop, model_version, kind))


def has_study(source: Dataset) -> bool:
    """Results need the source's study and instance UIDs."""
    return bool(source.get("StudyInstanceUID")) and bool(source.get("SOPInstanceUID"))


def _parses(keyword: str, value) -> bool:
    try:
        if keyword in ("PatientBirthDate", "StudyDate"):
            DA(value)
        elif keyword == "StudyTime":
            TM(value)
        elif keyword == "PatientSex":
            return value in ("", None, "M", "F", "O")
    except (ValueError, TypeError):
        return False
    return True


def reference(source: Dataset) -> Dataset:
    """The source's header (no pixels) as highdicom accepts it: values it would reject
    (an invalid date, sex) blanked, absent Type 2 attributes empty, stand-ins for a missing
    Modality or series UID."""
    ref = Dataset()
    for elem in source:
        if elem.tag.group != 0x7FE0:
            ref.add(elem)
    for keyword in ("PatientBirthDate", "StudyDate", "StudyTime", "PatientSex"):
        if keyword in source and not _parses(keyword, source[keyword].value):
            setattr(ref, keyword, None)
    if not ref.get("Modality"):
        ref.Modality = "OT"
    if not ref.get("SeriesInstanceUID"):
        ref.SeriesInstanceUID = derived_uid(str(source.SOPInstanceUID), "source-series")
    for keyword in _TYPE2:
        if keyword not in ref:
            setattr(ref, keyword, None)
    return ref


def copy_identity(result: Dataset, source: Dataset) -> None:
    """Patient and study identity exactly as the source has it (its invalid values too: the
    PACS must file the result with its source)."""
    for keyword in IDENTITY:
        if keyword in source:
            result[keyword] = copy.deepcopy(source[keyword])


def instance_number(source: Dataset) -> int:
    try:
        return max(1, int(source.get("InstanceNumber") or 1))
    except (TypeError, ValueError):
        return 1
