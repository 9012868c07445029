"""The model: the Keras backend and custom layers, architectures, mixed precision, bundles on disk
(`bundle`: model.keras + model.json card + learned input check), inference with heat maps
(`inference`, `heatmaps`), the learned input check, and batch scoring to CSV (`scoring`).

Imports `imaging` and the foundation modules only. Keras/TensorFlow are imported inside
functions (`backend.keras_module`), so importing this package does not start TensorFlow.
"""
