"""The compute process: one child process that imports TensorFlow, keeps the loaded models and
answers calls (load, score, train, save) over a pipe (`process`, `tasks`), and the GUI-side proxy
with the Predictor's methods (`remote_predictor`). The GUI process never imports TensorFlow.

May import every package below it (imaging, model, evaluation, training, intake); never `gui`.
"""
