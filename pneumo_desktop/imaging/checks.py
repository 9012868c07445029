"""Is this a frontal chest radiograph of a child? The tag and pixel checks, run on every study
before a score is shown (the learned check on the model's features is `model.input_check`).

Three layers, cheapest first; the first that objects gives the reason:

1. DICOM tags (`check_tags`): modality, body part, lateral/oblique view, adult age. A missing
   tag never refuses by itself.
2. Pixels (`check_pixels`): too small, colour, blank, noise.
3. Learned (`model.input_check.LearnedCheck`), on the model's own features.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np

PREFIX = "not scored: "
RADIOGRAPHY = frozenset({"CR", "DX", "DR", "RG"})
MODALITY_NAMES = {
    "CT": "computed tomography", "MR": "magnetic resonance", "US": "ultrasound",
    "PT": "PET", "NM": "nuclear medicine", "XA": "angiography", "RF": "fluoroscopy",
    "MG": "mammography", "OT": "other / secondary capture", "SC": "secondary capture",
    "IO": "intra-oral", "PX": "panoramic dental", "ES": "endoscopy", "XC": "photograph",
    "OP": "ophthalmic photograph", "OPT": "ophthalmic tomography", "SM": "microscopy",
    "DOC": "document", "SR": "structured report", "BMD": "bone densitometry",
}
#: Words of BodyPartExamined meaning chest (several languages); matched as word prefixes.
CHEST_WORDS = ("CHEST", "THORA", "TORAX", "TORACE", "TORAC", "LUNG", "BRUST", "POITRINE",
               "PECHO", "BORST", "PETTO", "TORSO", "RIB", "KLATKA", "GRUDN")
UNKNOWN_VALUES = frozenset({"", "UNKNOWN", "OTHER", "NONE", "-", "N/A", "NA", "UNK"})
LATERAL_VIEWS = {"LL": "lateral", "RL": "lateral", "LAT": "lateral", "LATERAL": "lateral",
                 "LLO": "oblique", "RLO": "oblique", "OBLIQUE": "oblique"}
#: Words naming a lateral view in SeriesDescription / ProtocolName (lateral decubitus excepted:
#: that is a frontal projection of a patient lying on one side).
LATERAL_WORDS = frozenset({"LAT", "LATERAL", "LATERALE", "SEITLICH", "PROFIL", "PERFIL", "LL",
                           "RL"})
ADULT_AGE = 18  # years; the model was trained on children aged 1 to 5
MIN_SIDE = 128  # pixels; smaller files are thumbnails, not radiographs
COLOUR_FRACTION = 0.05  # share of clearly coloured pixels that makes an image a colour picture
BLANK_STD = 4.0  # grey levels (0..255) of the model input
NOISE_CORRELATION = 0.5  # neighbouring-pixel correlation below this: no structure, noise



@dataclass(frozen=True)
class Refusal:
    """Why a study is not scored. `code` is stable (filters, logs); `reason` is for people."""

    code: str
    reason: str

    @property
    def message(self) -> str:
        return PREFIX + self.reason


# -- 1. DICOM tags ------------------------------------------------------------------------------
def check_tags(tags: dict[str, str], age_years: float | None = None) -> Refusal | None:
    """Refuse non-radiographs, other body parts, lateral/oblique views and adults."""
    modality = tags.get("Modality", "").strip().upper()
    if modality and modality not in RADIOGRAPHY:
        name = MODALITY_NAMES.get(modality)
        return Refusal("modality", f"DICOM modality {modality}"
                       + (f" ({name})" if name else "")
                       + "; only chest radiographs (CR, DX) are read")
    part = tags.get("BodyPartExamined", "").strip().upper()
    if part not in UNKNOWN_VALUES and not _is_chest(part):
        return Refusal("body_part", f"body part {part}; only chest films are read")
    view = re.sub(r"[^A-Z]", "", tags.get("ViewPosition", "").upper())
    if view in LATERAL_VIEWS:
        return Refusal("view", f"{LATERAL_VIEWS[view]} view ({view}): the model reads frontal "
                               "PA/AP films")
    for key in ("SeriesDescription", "ProtocolName"):  # often the only place a CR names it
        words = set(re.split(r"[^A-Z]+", tags.get(key, "").upper()))
        if words & LATERAL_WORDS and not words & {"DECUB", "DECUBITUS"}:
            return Refusal("view", f"lateral view ({key} '{tags[key].strip()}'): the model "
                                   "reads frontal PA/AP films")
    if age_years is not None and age_years >= ADULT_AGE:
        return Refusal("age", f"adult patient (age {int(age_years)} years): the model reads "
                              "children's films (trained on ages 1 to 5)")
    return None


def _is_chest(part: str) -> bool:
    words = re.split(r"[^A-Z]+", part)
    return any(word.startswith(CHEST_WORDS) for word in words if word)


def age_in_years(patient_age: str | None, birth_date: str | None = None,
                 study_date: str | None = None) -> float | None:
    """PatientAge ('045Y', '006M', '010W', '003D', or a bare number of years), else the
    difference of two DICOM dates; None when neither can be read."""
    text = (patient_age or "").strip().upper()
    match = re.fullmatch(r"(\d{1,3})\s*([YMWD]?)", text)
    if match:
        value = int(match.group(1))
        return value / {"Y": 1, "": 1, "M": 12, "W": 52.18, "D": 365.25}[match.group(2)]
    born, seen = _dicom_date(birth_date), _dicom_date(study_date)
    if born and seen and seen >= born:
        return (seen - born).days / 365.25
    return None


def _dicom_date(text: str | None) -> date | None:
    text = (text or "").strip()
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


# -- 2. Pixels ----------------------------------------------------------------------------------
def colour_fraction(pixels: np.ndarray) -> float:
    """Share of clearly coloured pixels (channel spread > 10 % of the range) in a colour image;
    0 for a grey one, also when stored as RGB."""
    if pixels.ndim != 3 or pixels.shape[2] < 3:
        return 0.0
    step = max(1, max(pixels.shape[:2]) // 256)
    small = pixels[::step, ::step, :3].astype(np.float32)
    top = 255.0 if pixels.dtype == np.uint8 else max(float(small.max()), 1.0)
    spread = (small.max(axis=2) - small.min(axis=2)) / top
    return float((spread > 0.1).mean())


def check_pixels(model_input: np.ndarray, source_shape: tuple[int, int],
                 colourfulness: float = 0.0) -> Refusal | None:
    """Refuse thumbnails, colour pictures, blank frames and noise (on the model's input)."""
    h, w = source_shape
    if min(h, w) < MIN_SIDE:
        return Refusal("too_small", f"image too small ({w} x {h} pixels) to be a radiograph; "
                                    "send the full-resolution image")
    if colourfulness > COLOUR_FRACTION:
        return Refusal("colour", f"colour image ({colourfulness:.0%} of pixels coloured): a "
                                 "photograph or screen capture, not a radiograph")
    x = np.asarray(model_input, np.float32).reshape(model_input.shape[:2])
    if float(x.std()) < BLANK_STD:
        return Refusal("blank", "blank or uniform frame (no image content)")
    if structure(x) < NOISE_CORRELATION:
        return Refusal("noise", "the image looks like noise (no anatomical structure)")
    return None


def check_image(image, model_input: np.ndarray) -> Refusal | None:
    """Tags, then pixels, of a decoded image: an `XRayImage`, or a bare grey array."""
    if isinstance(image, np.ndarray):
        return check_pixels(model_input, image.shape[:2])
    return check_tags(image.metadata, image.age_years) or check_pixels(
        model_input, image.source_shape, image.colourfulness)


def structure(x: np.ndarray) -> float:
    """Mean correlation of neighbouring pixels (horizontal and vertical): about 0.9-1 for a
    radiograph at the model's input size, about 0 for noise."""
    def corr(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a - a.mean(), b - b.mean()
        den = float(np.sqrt((a * a).sum() * (b * b).sum()))
        return float((a * b).sum() / den) if den > 0 else 1.0

    return 0.5 * (corr(x[:, 1:], x[:, :-1]) + corr(x[1:], x[:-1]))
