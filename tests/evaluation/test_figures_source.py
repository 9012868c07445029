"""Where the figures come from: `performance_statement` names the source of every figure."""

from __future__ import annotations

import numpy as np
import pytest

from pneumo_desktop.evaluation.figures_source import (
    NOT_CHECKED_WARNING,
    TRAINING_HOSPITAL,
    performance_statement,
)
from pneumo_desktop.model.bundle import ModelCard

VALIDATION = {"n": 741, "n_pneumonia": 557, "n_normal": 184, "threshold": 0.9549,
              "sensitivity": 0.9659, "specificity": 0.9946, "auc": 0.9993}
LOCAL = {"n": 120, "n_pneumonia": 60, "n_normal": 60, "refused_by_input_check": 1,
         "unreadable": 0, "auc": 0.987, "sensitivity": 0.949, "specificity": 0.983,
         "sensitivity_ci95": [0.861, 0.983], "specificity_ci95": [0.911, 0.997],
         "method": "Platt recalibration, 5-fold cross-validation by patient",
         "active_model": {"name": "shipped", "threshold": 0.9549, "sensitivity": 0.983,
                          "specificity": 1.0, "sensitivity_ci95": [0.911, 0.997],
                          "specificity_ci95": [0.94, 1.0]}}


def card(threshold: float = 0.9549, **fields) -> ModelCard:
    return ModelCard(name="m", architecture="compact_cnn", input_size=224, threshold=threshold,
                     **fields)


def test_training_hospital_figures_are_named_and_warned_about():
    statement = performance_statement(card(validation=VALIDATION))
    assert not statement.local
    assert statement.lines == (
        "At the hospital the model was trained on (validation split, 741 studies), it flagged "
        "97 % of pneumonia cases (sensitivity) and cleared 99 % of normal X-rays "
        "(specificity).",)
    assert statement.source == "the training hospital's validation split (741 studies)"
    assert statement.warning == NOT_CHECKED_WARNING
    assert "Not yet checked on this clinic's studies: run Calibrate" in statement.warning
    assert statement.warning == (
        "Not yet checked on this clinic's studies: run Calibrate (pneumo-desktop calibrate) on "
        "30 or more of its labelled studies with pneumonia and 30 or more normal ones.")
    assert statement.details == ("AUC 0.999 on the training hospital's validation split "
                                 "(741 studies).",)


def test_local_figures_come_first_with_intervals_then_the_training_hospital():
    statement = performance_statement(card(threshold=0.62, validation=VALIDATION, local=LOCAL))
    assert statement.local and statement.warning == ""
    assert statement.source == "120 of your studies, cross-validated"
    local, training = statement.lines
    assert local == ("On 120 of your studies, cross-validated: it flagged 95 % of pneumonia "
                     "cases (sensitivity, 95 % CI 86–98 %) and cleared 98 % of normal X-rays "
                     "(specificity, 95 % CI 91–100 %).")
    # the card's validation figures were measured at the parent's threshold, not this one
    assert training == ("At the hospital the model was trained on (validation split, 741 "
                        "studies), at the threshold set there (95 %): sensitivity 97 %, "
                        "specificity 99 %.")
    details = "\n".join(statement.details)
    assert "Your studies: 120 (60 with pneumonia, 60 normal); AUC 0.987." in details
    assert "Left out: 1 refused by the input check." in details
    assert ("The model it was adapted from (shipped) at its threshold of 95 %, on the same "
            "studies: sensitivity 98 % (95 % CI 91–100 %), specificity 100 % (95 % CI "
            "94–100 %).") in details
    assert "Method: Platt recalibration" in details


def test_ci_formatting_rounds_to_whole_percent_and_skips_bad_intervals():
    for interval, expected in (([0.0, 0.2775], ", 95 % CI 0–28 %"),
                               ((0.8882, 0.9785), ", 95 % CI 89–98 %"),
                               ([0.9, 0.8], ""), ([0.1], ""), ("0.1-0.2", ""),
                               ([None, 0.5], ""), ([-0.1, 0.5], ""), (None, "")):
        local = {"n": 40, "sensitivity": 0.5, "specificity": 0.5,
                 "sensitivity_ci95": interval}
        line = performance_statement(card(local=local)).lines[0]
        assert f"(sensitivity{expected})" in line, (interval, line)


def test_missing_fields_never_break_the_wording():
    empty = performance_statement(card())
    assert empty.lines == ("The model card gives no validated sensitivity or specificity.",)
    assert empty.source == "no figures in the model card"
    assert empty.warning == NOT_CHECKED_WARNING and empty.details == ()
    # validation without a count, a local section without counts or rates
    no_n = performance_statement(card(validation={"sensitivity": 0.9, "specificity": 0.8}))
    assert no_n.lines[0].startswith("At the hospital the model was trained on (validation "
                                     "split), it flagged 90 %")
    bare = performance_statement(card(local={"method": "x"}, validation={"n": "many"}))
    assert bare.local and bare.source == "your studies, cross-validated"
    assert bare.lines == ("On your studies, cross-validated: the model card records no "
                          "sensitivity or specificity.",
                          "At the hospital the model was trained on (validation split): the "
                          "model card records no sensitivity or specificity.")
    assert bare.warning == ""
    assert "Your studies: number not recorded." in bare.details
    # wrong types are ignored, not formatted
    odd = performance_statement(card(validation={"sensitivity": "high", "specificity": True,
                                                 "n": True}))
    assert odd.lines == ("The model card gives no validated sensitivity or specificity.",)


def test_few_local_studies_are_warned_about():
    local = {**LOCAL, "n": 24, "n_pneumonia": 12, "n_normal": 12}
    statement = performance_statement(card(validation=VALIDATION, local=local))
    assert statement.warning == ("Measured on few studies (12 with pneumonia, 12 normal; fewer "
                                 "than 30 of a class): the figures are uncertain, see the "
                                 "intervals.")


def test_fine_tuned_model_without_local_figures_names_its_split():
    statement = performance_statement(card(validation={**VALIDATION, "n": 38},
                                           training={"fine_tuned_from": "shipped"}))
    assert statement.lines[0].startswith("On the validation split of the studies it was "
                                         "fine-tuned on (38 studies), it flagged 97 %")
    assert TRAINING_HOSPITAL not in statement.lines[0]
    assert statement.warning.startswith("Not cross-validated: these figures come from only 38 "
                                        "studies held back, without intervals.")


@pytest.mark.parametrize("local", [{}, LOCAL])
def test_an_overridden_threshold_says_the_figures_do_not_apply(local):
    statement = performance_statement(card(validation=VALIDATION, local=local), threshold=0.3)
    (line,) = statement.lines
    assert line.startswith("The model's own threshold is 95 %; the sensitivity and "
                           f"specificity measured at it ({statement.source}) do not apply")
    # the card's own threshold (or none given) shows the figures
    assert performance_statement(card(validation=VALIDATION, local=local),
                                 threshold=0.9549).lines == \
        performance_statement(card(validation=VALIDATION, local=local)).lines


def test_an_overridden_threshold_without_figures_says_there_are_none():
    assert performance_statement(card(), threshold=0.3).lines == (
        "The model's own threshold is 95 %; the model card gives no validated sensitivity or "
        "specificity.",)


def test_cross_fitted_fine_tuning_names_its_out_of_fold_figures():
    """`train --init-from` by cross-fitting: local figures first, then the out-of-fold ones,
    which are not the training hospital's nor a held-back split."""
    statement = performance_statement(card(
        validation={**VALIDATION, "n": 120, "split": "out-of-fold (all local studies)"},
        local=LOCAL, training={"fine_tuned_from": "shipped"}))
    local, oof = statement.lines
    assert local.startswith("On 120 of your studies, cross-validated")
    assert oof.startswith("Out of fold on the studies it was fine-tuned on (120 studies), at "
                          "the threshold fitted on them")
    assert TRAINING_HOSPITAL not in oof and "validation split" not in oof
    assert statement.validation_source.startswith("out-of-fold predictions")


def test_threshold_percent_never_reads_100_and_tells_thresholds_apart():
    from pneumo_desktop.evaluation.figures_source import threshold_percent

    assert threshold_percent(0.955) == "95.5 %" and threshold_percent(0.5) == "50.0 %"
    assert threshold_percent(0.9995) == "99.95 %" and threshold_percent(0.99999) == "99.999 %"
    assert threshold_percent(0.00004) == "0.004 %" and threshold_percent(1.0) == "100.0 %"
    for value in (0.9999999, 0.99951, 0.999, 0.9949, 1e-7, 0.00051):
        assert 0 < float(threshold_percent(value).rstrip(" %")) < 100
    # two different thresholds never read the same, however close
    assert threshold_percent(0.99951, 0.99952) == "99.951 %"
    assert threshold_percent(0.99952, 0.99951) == "99.952 %"
    assert threshold_percent(0.955, 0.955) == "95.5 %"  # equal ones may read the same
    rng = np.random.default_rng(0)
    for a, b in 1 - rng.uniform(0, 1e-3, (200, 2)):
        assert threshold_percent(a, b) != threshold_percent(b, a) or a == b
        assert "100.0" not in threshold_percent(a, b)


def test_probability_caption_says_where_the_probability_was_calibrated():
    from pneumo_desktop.evaluation.figures_source import probability_caption

    card = ModelCard(name="m", architecture="a", input_size=224, threshold=0.9)
    caption, tip = probability_caption(card)
    assert caption.endswith("calibrated at the training hospital only") and "Calibrate" in tip
    assert probability_caption(None)[0] == caption
    card.local = {"n": 147, "n_pneumonia": 115, "n_normal": 32}
    caption, tip = probability_caption(card)
    assert caption == "Probability of pneumonia (calibrated on 147 of your studies)"
    assert "training hospital" not in caption
