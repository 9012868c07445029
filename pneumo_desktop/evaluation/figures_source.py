"""Where a model's sensitivity and specificity come from, in plain words (no Qt).

A model's figures hold where they were measured. The shipped model flagged 97 % of pneumonia
cases and cleared 99 % of normal X-rays on the validation split of the hospital it was trained
on; at an unseen hospital it cleared 74 %. So every place that shows the figures (result panel,
PDF report, model manager, command line) takes its words from `performance_statement`: the
figures on the clinic's own studies first, cross-validated with their 95 % intervals, when the
card has a `local` section (`pneumo-desktop calibrate`, or fine-tuning that writes one); the
training hospital's figures second, labelled as such; and a warning in words when the training
hospital's are the only ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

#: Labelled studies per class a clinic needs before its local figures are trusted; below
#: this the intervals are wide and the clinic is warned (`training.local_calibration`).
MIN_PER_CLASS = 30

if TYPE_CHECKING:
    from pneumo_desktop.model.bundle import ModelCard

TRAINING_HOSPITAL = "at the hospital the model was trained on"
NOT_CHECKED_WARNING = (
    "Not yet checked on this clinic's studies: run Calibrate (pneumo-desktop calibrate) on "
    f"{MIN_PER_CLASS} or more of its labelled studies with pneumonia and {MIN_PER_CLASS} or "
    "more normal ones.")


@dataclass(frozen=True)
class Statement:
    """What a model's figures are and where they were measured.

    `lines`: sentences for the result panel and the report, the clinic's own figures first;
    `source`: a short label of the figures shown first; `warning`: '' or a sentence to show
    beside them; `details`: further lines for the model manager and the command line (AUC,
    the model it was adapted from, how the local figures were made); `validation_source`: a
    label of the card's `validation` figures; `local`: whether the clinic's figures exist.
    """

    source: str
    lines: tuple[str, ...]
    warning: str = ""
    details: tuple[str, ...] = ()
    validation_source: str = ""
    local: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def percent(value: float) -> str:
    """0.873 -> '87 %', with '< 1 %' and '> 99 %' at the ends."""
    if value < 0.005:
        return "< 1 %"
    if value > 0.995:
        return "> 99 %"
    return f"{value * 100:.0f} %"


def threshold_percent(value: float, *others: float) -> str:
    """A threshold as a percentage: one decimal, more near 0 and 1 so that it never rounds to
    '0.0 %' or '100.0 %' (0.9995 -> '99.95 %', 0.99999 -> '99.999 %'), and as many as it takes
    to read differently from each of `others` that differs from it (up to 8 decimals)."""
    value = min(max(float(value), 0.0), 1.0)
    gap = min(value, 1.0 - value) * 100  # percentage points to the nearer end
    decimals = 1 if gap >= 1 or gap == 0 else -math.floor(math.log10(gap) + 1e-9)

    def text(v: float, d: int) -> str:
        return f"{v * 100:.{d}f}"

    while decimals < 8 and (
            (gap and text(value, decimals) in (text(0, decimals), text(1, decimals)))
            or any(o != value and text(o, decimals) == text(value, decimals) for o in others)):
        decimals += 1
    return f"{text(value, decimals)} %"


def probability_caption(card: ModelCard | None) -> tuple[str, str]:
    """The caption above a study's probability and its tooltip: where the probability was
    calibrated. Until a card has a `local` section (Calibrate or a fine-tune on the clinic's
    own studies) only at the training hospital: at an unseen hospital films shown as 95-99 %
    were pneumonia 41 % of the time (issue 22)."""
    local = card.local if card is not None and isinstance(card.local, dict) else {}
    if local:
        n = _count(local.get("n"))
        where = f"{n} of your studies" if n is not None else "your studies"
        return (f"Probability of pneumonia (calibrated on {where})",
                "The probability was calibrated on this clinic's own labelled studies.")
    return ("Probability of pneumonia — calibrated at the training hospital only",
            "This probability was calibrated on the hospital the model was trained on. At "
            "another hospital it can be overconfident (films shown as 95-99 % were pneumonia "
            "41 % of the time at one unseen hospital): run Calibrate on this clinic's labelled "
            "studies to calibrate it here.")


def performance_statement(card: ModelCard, threshold: float | None = None) -> Statement:
    """The sentences that show `card`'s figures with their source.

    With `threshold` different from the card's (a user override), the figures do not apply
    and the lines say so instead of giving them.
    """
    local = card.local if isinstance(card.local, dict) else {}
    validation = card.validation if isinstance(card.validation, dict) else {}
    validation_source = _validation_source(card, validation)
    has_validation = _rates(validation) is not None
    if local:
        source = _local_source(local)
    elif has_validation:
        source = validation_source
    else:
        source = "no figures in the model card"
    warning = _local_warning(local) if local else _no_local_warning(card, validation)
    details = _details(card, local, validation, validation_source)

    if threshold is not None and abs(threshold - card.threshold) > 1e-9:
        if local or has_validation:
            lines = (f"The model's own threshold is {percent(card.threshold)}; the sensitivity "
                     f"and specificity measured at it ({source}) do not apply to this one.",)
        else:
            lines = (f"The model's own threshold is {percent(card.threshold)}; the model card "
                     "gives no validated sensitivity or specificity.",)
        return Statement(source, lines, warning, details, validation_source, bool(local))

    lines = []
    if local:
        lines.append(_local_line(local))
    lines.append(_validation_line(card, validation, second=bool(local)))
    return Statement(source, tuple(lines), warning, details, validation_source, bool(local))


# -- sources -------------------------------------------------------------------------------
def _studies(n: Any) -> str:
    return f"{n} studies" if _count(n) is not None else ""


def _validation_source(card: ModelCard, validation: dict[str, Any]) -> str:
    """'the training hospital's validation split (741 studies)' or its fine-tuning form."""
    studies = _studies(validation.get("n"))
    where = f" ({studies})" if studies else ""
    if _out_of_fold(validation):
        return f"out-of-fold predictions on the studies it was fine-tuned on{where}"
    if _fine_tuned_from(card):
        return f"the validation split of the studies it was fine-tuned on{where}"
    return f"the training hospital's validation split{where}"


def _local_source(local: dict[str, Any]) -> str:
    n = _count(local.get("n"))
    return f"{n} of your studies, cross-validated" if n is not None else \
        "your studies, cross-validated"


def _out_of_fold(validation: dict[str, Any]) -> bool:
    """The figures come from cross-fitting on the local studies (`training.fine_tuning`)."""
    split = validation.get("split")
    return isinstance(split, str) and split.startswith("out-of-fold")


def _fine_tuned_from(card: ModelCard) -> str:
    training = card.training if isinstance(card.training, dict) else {}
    parent = training.get("fine_tuned_from")
    return parent if isinstance(parent, str) and parent else ""


# -- lines ---------------------------------------------------------------------------------
def _local_line(local: dict[str, Any]) -> str:
    n = _count(local.get("n"))
    where = f"On {n} of your studies, cross-validated" if n is not None else \
        "On your studies, cross-validated"
    rates = _rates(local)
    if rates is None:
        return f"{where}: the model card records no sensitivity or specificity."
    sens, spec = rates
    return (f"{where}: it flagged {_whole(sens)} of pneumonia cases (sensitivity"
            f"{_ci_text(local.get('sensitivity_ci95'))}) and cleared {_whole(spec)} of normal "
            f"X-rays (specificity{_ci_text(local.get('specificity_ci95'))}).")


def _validation_line(card: ModelCard, validation: dict[str, Any], second: bool) -> str:
    studies = _studies(validation.get("n"))
    if _out_of_fold(validation):
        where = ("Out of fold on the studies it was fine-tuned on" + (
            f" ({studies})" if studies else "") + ", at the threshold fitted on them")
    elif _fine_tuned_from(card):
        where = "On the validation split of the studies it was fine-tuned on" + (
            f" ({studies})" if studies else "")
    else:
        where = (TRAINING_HOSPITAL[0].upper() + TRAINING_HOSPITAL[1:] + " (validation split"
                 + (f", {studies})" if studies else ")"))
    measured_at = _fraction(validation.get("threshold"))
    if measured_at is not None and abs(measured_at - card.threshold) > 1e-9:
        where += f", at the threshold set there ({percent(measured_at)})"
    rates = _rates(validation)
    if rates is None:
        if second:
            return f"{where}: the model card records no sensitivity or specificity."
        return "The model card gives no validated sensitivity or specificity."
    sens, spec = rates
    if second:
        return f"{where}: sensitivity {_whole(sens)}, specificity {_whole(spec)}."
    return (f"{where}, it flagged {_whole(sens)} of pneumonia cases (sensitivity) and cleared "
            f"{_whole(spec)} of normal X-rays (specificity).")


def _no_local_warning(card: ModelCard, validation: dict[str, Any]) -> str:
    if _fine_tuned_from(card):
        studies = _studies(validation.get("n"))
        few = f"only {studies} held back" if studies else "a held-back split"
        return (f"Not cross-validated: these figures come from {few}, without intervals. "
                "For figures this clinic can rely on, run Calibrate (pneumo-desktop "
                f"calibrate) on {MIN_PER_CLASS} or more of its labelled studies with "
                f"pneumonia and {MIN_PER_CLASS} or more normal ones.")
    return NOT_CHECKED_WARNING


def _local_warning(local: dict[str, Any]) -> str:
    pos, neg = _count(local.get("n_pneumonia")), _count(local.get("n_normal"))
    if pos is None or neg is None:
        return ""
    if min(pos, neg) < MIN_PER_CLASS:
        return (f"Measured on few studies ({pos} with pneumonia, {neg} normal; fewer than "
                f"{MIN_PER_CLASS} of a class): the figures are uncertain, see the intervals.")
    return ""


def _details(card: ModelCard, local: dict[str, Any], validation: dict[str, Any],
             validation_source: str) -> tuple[str, ...]:
    details = []
    if local:
        pos, neg = _count(local.get("n_pneumonia")), _count(local.get("n_normal"))
        n = _count(local.get("n"))
        counts = f" ({pos} with pneumonia, {neg} normal)" if pos is not None and \
            neg is not None else ""
        auc = _fraction(local.get("auc"))
        details.append(f"Your studies: {n if n is not None else 'number not recorded'}{counts}"
                       + (f"; AUC {auc:.3f}" if auc is not None else "") + ".")
        left_out = [f"{c} {what}" for c, what in (
            (_count(local.get("refused_by_input_check")), "refused by the input check"),
            (_count(local.get("unreadable")), "unreadable")) if c]
        if left_out:
            details.append(f"Left out: {', '.join(left_out)}.")
        before = local.get("active_model")
        if isinstance(before, dict) and _rates(before) is not None:
            sens, spec = _rates(before)
            name = before.get("name") if isinstance(before.get("name"), str) else ""
            at = before.get("threshold")
            at_text = f" at its threshold of {percent(at)}" if isinstance(at, int | float) \
                and not isinstance(at, bool) else " at its own threshold"
            details.append(
                f"The model it was adapted from{f' ({name})' if name else ''}{at_text}, on "
                f"the same studies: sensitivity {_whole(sens)}"
                f"{_ci_text(before.get('sensitivity_ci95'), bare=True)}, specificity "
                f"{_whole(spec)}{_ci_text(before.get('specificity_ci95'), bare=True)}.")
        if isinstance(local.get("method"), str) and local["method"]:
            details.append(f"Method: {local['method']}.")
    auc = _fraction(validation.get("auc"))
    if auc is not None:
        details.append(f"AUC {auc:.3f} on {validation_source}.")
    return tuple(details)


# -- numbers -------------------------------------------------------------------------------
def _fraction(value: Any) -> float | None:
    """A number between 0 and 1, or None (missing, text, NaN, out of range)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _rates(data: dict[str, Any]) -> tuple[float, float] | None:
    sens, spec = _fraction(data.get("sensitivity")), _fraction(data.get("specificity"))
    return None if sens is None or spec is None else (sens, spec)


def _whole(value: float) -> str:
    """0.9659 -> '97 %' (whole percent; 1.0 stays '100 %')."""
    return f"{value * 100:.0f} %"


def _ci_text(interval: Any, bare: bool = False) -> str:
    """[0.861, 0.983] -> ', 95 % CI 86–98 %' ('' when missing or malformed)."""
    if not isinstance(interval, list | tuple) or len(interval) != 2:
        return ""
    low, high = _fraction(interval[0]), _fraction(interval[1])
    if low is None or high is None or low > high:
        return ""
    text = f"95 % CI {low * 100:.0f}–{high * 100:.0f} %"
    return f" ({text})" if bare else f", {text}"
