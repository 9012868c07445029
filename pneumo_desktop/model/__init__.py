"""The model: the Keras backend and custom layers, architectures, mixed precision, bundles on disk
(`bundle`: model.keras + model.tflite + model.json card + learned input check), inference with
heat maps (`inference`, `heatmaps`) on LiteRT (`litert_engine`, the default) or TensorFlow
(`tf_engine`), the export to `.tflite` (`tflite_export`), the learned input check, and batch
scoring to CSV (`scoring`).

Imports `imaging` and the foundation modules only. Keras/TensorFlow are imported inside
functions (`backend.keras_module`), so importing this package does not start TensorFlow.
"""
