"""Makes tf-slim 1.1.0 run on TensorFlow 2.21, once per process.

Import this module before `tf_slim` (every entry point and package in this project does).
It repairs four breakages, each documented in `../shared/reference/compat.md`:

1. `slim.batch_norm` builds a legacy Keras layer that TensorFlow lazy-loads from
   `tf_keras.legacy_tf_layers.normalization`, while tf-keras 2.21 ships it under
   `tf_keras.src.legacy_tf_layers`.  We register the real modules under the names TF asks for.
2. tf-slim calls `control_flow_ops.cond/case/while_loop/Assert`, which moved to their own modules.
   We alias them back (the image decoder of `tfexample_decoder` needs `cond` and `case`).
3. tf-slim refers to `ops.Tensor` (batch norm without update collections or on rank-2 input,
   gradient multipliers, `optimize_loss`); TF 2.21 keeps the class in `framework.tensor` only.
4. `slim.learning.train` runs the Supervisor's threads, which see TF 2's eager mode unless eager
   execution is disabled for the whole process before any graph is built.
"""
import importlib
import os
import sys

# Keep TensorFlow's C++ start-up chatter out of the user's terminal unless they asked for it.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow.compat.v1 as tf  # noqa: E402

_APPLIED = False


def _register_legacy_keras_layers():
  """Expose tf_keras.src.legacy_tf_layers as tf_keras.legacy_tf_layers (what TF 2.21 imports)."""
  try:
    legacy = importlib.import_module('tf_keras.src.legacy_tf_layers')
    normalization = importlib.import_module('tf_keras.src.legacy_tf_layers.normalization')
  except ImportError as e:  # pragma: no cover - only without tf-keras installed
    raise ImportError(
        'tf-keras is required by slim.batch_norm on TensorFlow 2.21; '
        'install it with: pip install "tf-keras==2.21.*"') from e
  sys.modules.setdefault('tf_keras.legacy_tf_layers', legacy)
  sys.modules.setdefault('tf_keras.legacy_tf_layers.normalization', normalization)


def _restore_control_flow_aliases():
  from tensorflow.python.ops import control_flow_ops
  from tensorflow.python.ops import cond as cond_lib
  from tensorflow.python.ops import control_flow_assert
  from tensorflow.python.ops import control_flow_case
  from tensorflow.python.ops import while_loop
  for name, fn in (('cond', cond_lib.cond), ('case', control_flow_case.case),
                   ('while_loop', while_loop.while_loop),
                   ('Assert', control_flow_assert.Assert)):
    if not hasattr(control_flow_ops, name):
      setattr(control_flow_ops, name, fn)


def _restore_ops_tensor():
  from tensorflow.python.framework import ops
  from tensorflow.python.framework import tensor
  if not hasattr(ops, 'Tensor'):
    ops.Tensor = tensor.Tensor


def apply():
  """Applies every fix; safe to call many times."""
  global _APPLIED
  if _APPLIED:
    return
  _register_legacy_keras_layers()
  _restore_control_flow_aliases()
  _restore_ops_tensor()
  tf.disable_eager_execution()
  # TF1 `==`/hash on tensors and variables: slim's layers put variables in sets, and under TF 2's
  # equality each hash asks whether eager runs outside functions, which made graph building grow
  # with the square of the variable count (35-45% of an Inception-ResNet-V2 build).
  tf.disable_tensor_equality()
  _APPLIED = True


apply()
