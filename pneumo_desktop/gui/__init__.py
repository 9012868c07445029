"""Qt desktop interface (PySide6). Never imports TensorFlow at import time: models load in a worker
thread through the headless core."""
