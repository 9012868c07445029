"""Making models: the run's configuration and progress callbacks (`config`), training from
scratch (`train`), augmentation, fine-tuning a bundle on a clinic's small set (`fine_tuning`,
`recipe`), calibrating a bundle on local studies (`local_calibration`), the wizard's sessions
(`session`) and the `train` command's console output (`console`).

Imports `evaluation`, `model`, `imaging` and the foundation modules; nothing above it.
"""
