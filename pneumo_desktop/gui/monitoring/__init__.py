"""The Monitoring dock (Qt only): figures and alerts from the audit log, reads imported from a
CSV, and "Recalibrate on my reads" with before / after on the same studies."""
