"""How good is a model, and where do its figures come from: metrics (ROC/AUC, operating points,
calibration, Wilson intervals), labelled datasets and patient-level splits (`datasets`), the
`evaluate` report on a labelled folder, shortcut measures (heat-map focus, border masking) and
the wording of where a card's figures were measured (`figures_source`).

Imports `model`, `imaging` and the foundation modules; never `training` or anything above.
"""
