"""The result SR: a Comprehensive 3D SR holding a TID 1500 measurement report with one
TID 1501 measurement group about pneumonia on the source image.

Codes: finding SCT 233604007 "Pneumonia"; evaluation SCT 415684004 "Suspected", or the local
99PNEUMO "Not suspected" / "Not scored" (no standard code says either without claiming more);
DCM 122157 "Probability" and DCM 122411 "Threshold Value" (UCUM "1", no units); the input
check and the reason a study was not scored as 99PNEUMO TEXT items; the disclaimer as DCM
121106 "Comment"; procedure SCT 399208008 "Plain X-ray of chest".
"""

from __future__ import annotations

import warnings

import highdicom as hd
from pydicom import Dataset
from pydicom.sr.codedict import codes

from pneumo_desktop.intake.results.results_dicom import (
    DISCLAIMER,
    LOCAL_SCHEME,
    MANUFACTURER,
    SR_SERIES,
    SR_SERIES_NUMBER,
    Finding,
    copy_identity,
    derived_uid,
    instance_number,
    reference,
    result_uids,
)

_C = hd.sr.CodedConcept
PNEUMONIA = _C("233604007", "SCT", "Pneumonia")
SUSPECTED = _C("415684004", "SCT", "Suspected")
NOT_SUSPECTED = _C("NOT-SUSPECTED", LOCAL_SCHEME, "Not suspected")
NOT_SCORED = _C("NOT-SCORED", LOCAL_SCHEME, "Not scored")
PROBABILITY = _C("122157", "DCM", "Probability")
THRESHOLD = _C("122411", "DCM", "Threshold Value")
NO_UNITS = _C("1", "UCUM", "no units")
INPUT_CHECK = _C("INPUT-CHECK", LOCAL_SCHEME, "Input check")
WHY_NOT_SCORED = _C("WHY-NOT-SCORED", LOCAL_SCHEME, "Reason not scored")
COMMENT = _C("121106", "DCM", "Comment")
CHEST_XRAY = _C("399208008", "SCT", "Plain X-ray of chest")


def _text(name: hd.sr.CodedConcept, value: str) -> hd.sr.TextContentItem:
    return hd.sr.TextContentItem(name=name, value=value,
                                 relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)


def measurement_report(source: Dataset, finding: Finding) -> hd.sr.MeasurementReport:
    """The report about `source` (a header highdicom accepts, see `results_dicom.reference`)."""
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=derived_uid("device", finding.model, finding.model_version), name=finding.model,
        manufacturer_name=MANUFACTURER, model_name=finding.model_version)
    observer = hd.sr.ObserverContext(observer_type=codes.cid270.Device,
                                     observer_identifying_attributes=device)
    algorithm = hd.sr.AlgorithmIdentification(
        name=finding.model, version=finding.model_version,
        parameters=[f"threshold={finding.threshold:.6f}"] if finding.threshold is not None
        else None)
    measurements = None
    if finding.scored:
        measurements = [
            hd.sr.Measurement(name=PROBABILITY, value=finding.probability, unit=NO_UNITS)]
        if finding.threshold is not None:
            measurements.append(
                hd.sr.Measurement(name=THRESHOLD, value=finding.threshold, unit=NO_UNITS))
        evaluation = SUSPECTED if finding.suspected else NOT_SUSPECTED
    else:
        evaluation = NOT_SCORED
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=derived_uid(str(source.SOPInstanceUID), finding.model_version, "tracking"),
            identifier="Pneumonia assessment"),
        finding_type=PNEUMONIA, algorithm_id=algorithm, measurements=measurements,
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(PNEUMONIA, evaluation)],
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source)])
    items = group[0].ContentSequence
    items.append(_text(INPUT_CHECK, finding.input_check))
    if not finding.scored:
        items.append(_text(WHY_NOT_SCORED, finding.reason))
    items.append(_text(COMMENT, DISCLAIMER))
    return hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=CHEST_XRAY, imaging_measurements=[group])


def make_sr(source: Dataset, finding: Finding) -> hd.sr.Comprehensive3DSR:
    """The SR for `source` (its header is enough), in its study, in a new series."""
    series_uid, sop_uid = result_uids(source, finding.model_version, "sr")
    ref = reference(source)
    with warnings.catch_warnings():  # highdicom warns about one-component person names
        warnings.simplefilter("ignore", UserWarning)
        sr = hd.sr.Comprehensive3DSR(
            evidence=[ref], content=measurement_report(ref, finding)[0],
            series_instance_uid=series_uid, series_number=SR_SERIES_NUMBER,
            sop_instance_uid=sop_uid, instance_number=instance_number(source),
            manufacturer=MANUFACTURER, is_complete=True, is_final=False, is_verified=False,
            series_description=SR_SERIES)
    copy_identity(sr, source)
    scheme = Dataset()
    scheme.CodingSchemeDesignator = LOCAL_SCHEME
    scheme.CodingSchemeName = "Pneumo Desktop local codes"
    scheme.CodingSchemeResponsibleOrganization = MANUFACTURER
    sr.CodingSchemeIdentificationSequence = [scheme]
    return sr
