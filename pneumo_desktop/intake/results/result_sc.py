"""The result Secondary Capture: the film with its heat map, a colour legend, the decision,
the probability, the model and "decision support only - not a diagnosis" burned into the
pixels, in lines short and large enough to read on a PACS thumbnail (longest side 128 px).
"""

from __future__ import annotations

import warnings

import cv2
import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from pneumo_desktop.evaluation.figures_source import percent
from pneumo_desktop.intake.results.results_dicom import (
    MANUFACTURER,
    SC_SERIES,
    SC_SERIES_NUMBER,
    Finding,
    copy_identity,
    instance_number,
    reference,
    result_uids,
)
from pneumo_desktop.model.heatmaps import overlay

WIDTH = 1280  # pixels across: wide, so that the lines stay large on a thumbnail
FILM_HEIGHT = 640  # the most the film takes up and down
FONT = cv2.FONT_HERSHEY_DUPLEX
WHITE, GREY, YELLOW = (255, 255, 255), (200, 200, 200), (255, 210, 0)
RED, GREEN = (255, 90, 70), (110, 230, 110)
Line = tuple[str, int, tuple[int, int, int]]  # text, cap height in pixels, RGB colour


def text_block(lines: list[Line], width: int = WIDTH, margin: float = 0.04) -> np.ndarray:
    """`lines` centred on black, one under the other; a line too long is set smaller."""
    rows = []
    room = width * (1 - 2 * margin)
    for text, cap, colour in lines:
        thickness = max(2, round(cap / 11))
        scale = cap / cv2.getTextSize("H", FONT, 1.0, thickness)[0][1]
        size = cv2.getTextSize(text, FONT, scale, thickness)[0]
        if size[0] > room:
            scale *= room / size[0]
            size = cv2.getTextSize(text, FONT, scale, thickness)[0]
        real_cap = cv2.getTextSize("H", FONT, scale, thickness)[0][1]
        row = np.zeros((int(real_cap * 1.55) + 8, width, 3), np.uint8)
        cv2.putText(row, text, ((width - size[0]) // 2, int(real_cap * 1.25) + 4), FONT,
                    scale, colour, thickness, cv2.LINE_AA)
        rows.append(row)
    return np.concatenate(rows, axis=0)


def legend(height: int, width: int = 120) -> np.ndarray:
    """The heat map's colour bar (JET, high at the top), labelled, on black."""
    out = np.zeros((height, width, 3), np.uint8)
    bar_h, bar_w, x0, y0 = int(height * 0.6), 36, 10, int(height * 0.2)
    ramp = np.linspace(255, 0, bar_h).astype(np.uint8)[:, None].repeat(bar_w, axis=1)
    out[y0:y0 + bar_h, x0:x0 + bar_w] = cv2.cvtColor(
        cv2.applyColorMap(ramp, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    for text, y in (("high", y0 - 12), ("low", y0 + bar_h + 34)):
        cv2.putText(out, text, (x0 - 4, y), FONT, 0.9, WHITE, 2, cv2.LINE_AA)
    return out


def render(gray: np.ndarray, heatmap: np.ndarray, finding: Finding) -> np.ndarray:
    """The picture of a scored film: `gray` (uint8, bone bright) with `heatmap` (0..1, any
    size) blended in -> (h, WIDTH, 3) uint8 RGB."""
    h, w = gray.shape
    bar = legend(FILM_HEIGHT)
    film_w = min(WIDTH - 2 * bar.shape[1], round(w * FILM_HEIGHT / h))
    film_h = round(h * film_w / w)
    film = overlay(cv2.resize(gray, (film_w, film_h), interpolation=cv2.INTER_AREA), heatmap)
    middle = np.zeros((max(film_h, FILM_HEIGHT), WIDTH, 3), np.uint8)
    x, y = (WIDTH - film_w) // 2, (middle.shape[0] - film_h) // 2
    middle[y:y + film_h, x:x + film_w] = film
    middle[:FILM_HEIGHT, x + film_w:x + film_w + bar.shape[1]] = bar[:, :WIDTH - x - film_w]
    top, bottom = banners(finding)
    return np.concatenate([text_block(top), middle, text_block(bottom)], axis=0)


def banners(finding: Finding) -> tuple[list[Line], list[Line]]:
    """The lines above the film and below it."""
    decision = "SUSPECTED" if finding.suspected else "NOT SUSPECTED"
    threshold = (f"  (threshold {percent(finding.threshold)})"
                 if finding.threshold is not None else "")
    top = [(f"PNEUMONIA {decision}", 95, RED if finding.suspected else GREEN),
           (f"P {percent(finding.probability)}{threshold}", 80, WHITE)]
    bottom = [("DECISION SUPPORT ONLY", 90, YELLOW), ("NOT A DIAGNOSIS", 90, YELLOW),
              (f"AI: {finding.model}", 75, WHITE), (f"version {finding.model_version}", 34, GREY),
              ("heat map: one scale on every film, none if no area raised the score", 30,
               GREY)]
    return top, bottom


def make_sc(source: Dataset, gray: np.ndarray, heatmap: np.ndarray,
            finding: Finding) -> hd.sc.SCImage:
    """The Secondary Capture of a scored `source` in its study, in a new series."""
    series_uid, sop_uid = result_uids(source, finding.model_version, "sc")
    rgb = render(gray, heatmap, finding)
    with warnings.catch_warnings():  # highdicom warns about one-component person names
        warnings.simplefilter("ignore", UserWarning)
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=reference(source), pixel_array=rgb,
            photometric_interpretation="RGB", bits_allocated=8, coordinate_system="PATIENT",
            series_instance_uid=series_uid, series_number=SC_SERIES_NUMBER,
            sop_instance_uid=sop_uid, instance_number=instance_number(source),
            manufacturer=MANUFACTURER, patient_orientation=("L", "F"),  # replaced below
            transfer_syntax_uid=ExplicitVRLittleEndian, series_description=SC_SERIES)
    copy_identity(sc, source)
    # highdicom takes single letters only: the source's value (e.g. A\FL) or empty (Type 2C)
    sc.PatientOrientation = source.get("PatientOrientation", "") or ""
    sc.BodyPartExamined = "CHEST"  # an unpaired part: dciodvfy then wants no Laterality
    sc.BurnedInAnnotation = "YES"
    return sc
