"""Monitoring a deployed model from the audit log (no Qt, no TensorFlow): volume, flagged and
refused shares, agreement with the readers' reads, calibration, input drift against the
bundle's reference, and alerts that name their evidence and what to do."""
