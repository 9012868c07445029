"""The TensorFlow (Keras) forward pass: compiled once at a fixed batch size, the learned input
check inside the same graph. `--engine tensorflow` and the reference the LiteRT engine is
measured against (`model.litert_engine`)."""

from __future__ import annotations

import numpy as np

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.imaging.checks import Refusal
from pneumo_desktop.model.architectures import FEATURES_LAYER, LOGIT_LAYER
from pneumo_desktop.model.input_check import softmax


class TensorFlowForward:
    """(N <= batch, S, S, 1) float32 -> logits (N,), raw CAMs (N, h, w), pooled features (N, C)
    and, when the learned check runs in the graph, its verdicts (else None)."""

    name = "tensorflow"

    def __init__(self, bundle, batch_size: int, check=None):
        from pneumo_desktop.model.backend import keras_module

        keras = keras_module()
        model = bundle.load_keras_model()
        self.model = model
        self.batch_size = batch_size
        try:
            features = model.get_layer(FEATURES_LAYER).input
            logit = model.get_layer(LOGIT_LAYER)
        except ValueError:
            raise PneumoError(f"{bundle.name}: the model lacks the '{FEATURES_LAYER}' -> "
                              f"'{LOGIT_LAYER}' head needed for heat maps") from None
        self.cam_weights = np.asarray(logit.get_weights()[0]).reshape(-1)
        self.features = len(self.cam_weights)
        if check is not None:
            check.require_fit(self.features, bundle.name)
        self.check = check
        probe = keras.Model(model.inputs, [features, logit.output])
        size = bundle.card.input_size
        self._shape = (batch_size, size, size, 1)
        if keras.backend.backend() == "tensorflow":
            self._forward = self._tf_function(probe, self.check)
        else:
            self.check = None
            self._forward = probe.predict_on_batch
        self._forward(np.zeros(self._shape, np.float32))  # compile now, not on the first study

    def _tf_function(self, probe, check):
        import tensorflow as tf

        def run(x):
            features, logit = probe(x, training=False)
            if check is None:
                return features, logit
            # the learned check's matrix products run in TensorFlow's thread pool, not in
            # NumPy's BLAS, whose spinning threads slowed scoring by 15 % on 2 cores
            pooled = tf.reduce_mean(features, axis=(1, 2))
            whitened = tf.matmul(pooled - check.mean.astype(np.float32),
                                 check.whitening.astype(np.float32))
            views = tf.matmul((pooled - check.view_mean.astype(np.float32))
                              / check.view_scale.astype(np.float32),
                              check.view_weights.astype(np.float32)) \
                + check.view_bias.astype(np.float32)
            return features, logit, tf.reduce_sum(tf.square(whitened), axis=1), views

        forward = tf.function(run, jit_compile=False,
                              input_signature=[tf.TensorSpec(self._shape, tf.float32)])
        return lambda x: [t.numpy() for t in forward(x)]

    def __call__(self, inputs: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Refusal | None] | None]:
        n = len(inputs)
        batch = np.zeros(self._shape, np.float32)
        batch[:n] = inputs
        outputs = self._forward(batch)
        features, logits = outputs[0][:n], outputs[1][:n, 0]
        cams = np.tensordot(features, self.cam_weights, axes=([3], [0]))
        verdicts = None
        if self.check is not None:
            ratio = np.sqrt(np.maximum(outputs[2][:n], 0.0)) / self.check.cutoff
            verdicts = self.check.verdicts(ratio, softmax(outputs[3][:n]))
        return logits, cams, features.mean(axis=(1, 2)), verdicts
