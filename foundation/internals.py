"""Makes tf-slim 1.1.0 run on TensorFlow 2.21, once per process.

Import this module before `tf_slim` (every entry point and package in this project does).
It repairs four breakages, each documented in `../shared/reference/compat.md`:

1. `slim.batch_norm` builds a legacy Keras layer that TensorFlow lazy-loads from
   `tf_keras.legacy_tf_layers.normalization`, while tf-keras 2.21 ships it under
   `tf_keras.src.legacy_tf_layers`.  An import hook answers the names TF asks for with the real
   modules, when first asked (importing tf-keras cost about 0.5 s of every script's start-up, and
   the fused batch norm below never needs it).
2. tf-slim calls `control_flow_ops.cond/case/while_loop/Assert`, which moved to their own modules.
   We alias them back (the image decoder of `tfexample_decoder` needs `cond` and `case`).
3. tf-slim refers to `ops.Tensor` (batch norm without update collections or on rank-2 input,
   gradient multipliers, `optimize_loss`); TF 2.21 keeps the class in `framework.tensor` only.
4. `slim.learning.train` runs the Supervisor's threads, which see TF 2's eager mode unless eager
   execution is disabled for the whole process before any graph is built.

And one speed fix: `slim.batch_norm` takes tf-slim's own fused implementation (the same variables,
collections, update ops and arithmetic) wherever tf-slim itself would only have wrapped the same
fused kernel in a legacy Keras layer, whose Python cost was 60% of building an Inception V3.
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

# Keep TensorFlow's C++ start-up chatter out of the user's terminal unless they asked for it.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow.compat.v1 as tf  # noqa: E402

_APPLIED = False


_TF_KERAS_MISSING = ('tf-keras is required by slim.batch_norm on TensorFlow 2.21; '
                     'install it with: pip install "tf-keras==2.21.*"')


class _LegacyKerasLayers(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """Imports of tf_keras.legacy_tf_layers[.normalization] (what TF 2.21 asks for) get
  tf_keras.src.legacy_tf_layers[...] (where tf-keras 2.21 has them)."""

  ALIASES = {'tf_keras.legacy_tf_layers': 'tf_keras.src.legacy_tf_layers',
             'tf_keras.legacy_tf_layers.normalization':
                 'tf_keras.src.legacy_tf_layers.normalization'}

  def find_spec(self, fullname, path=None, target=None):
    if fullname not in self.ALIASES:
      return None
    return importlib.machinery.ModuleSpec(fullname, self, is_package=not fullname.endswith(
        '.normalization'))

  def create_module(self, spec):
    try:
      return importlib.import_module(self.ALIASES[spec.name])
    except ImportError as e:  # pragma: no cover - only without tf-keras installed
      raise ImportError(_TF_KERAS_MISSING) from e

  def exec_module(self, module):
    pass  # the real module ran when it was imported


def _register_legacy_keras_layers():
  if importlib.util.find_spec('tf_keras') is None:  # pragma: no cover - only without tf-keras
    raise ImportError(_TF_KERAS_MISSING)
  if not any(isinstance(finder, _LegacyKerasLayers) for finder in sys.meta_path):
    sys.meta_path.insert(0, _LegacyKerasLayers())


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


def _batch_norm_without_keras_layer():
  """Routes fusable `slim.batch_norm` calls to tf-slim's `_fused_batch_norm`.

  tf-slim sends a fusable call (no batch weights, renorm or adjustment; rank 2 or 4) to its own
  `_fused_batch_norm` only when the update collection is not the default one, and otherwise to a
  legacy Keras layer that runs the same `FusedBatchNormV3` kernel and the same moving-average
  updates into `UPDATE_OPS`. Both create `beta`, `gamma`, `moving_mean`, `moving_variance` model
  variables under the `BatchNorm` scope. The replacement keeps the original's arg-scope key, so
  `arg_scope([slim.batch_norm], ...)` reaches it wherever it was written.
  """
  from tf_slim.layers import layers as slim_layers
  from tf_slim.ops import arg_scope as arg_scope_lib
  original = slim_layers.batch_norm
  if getattr(original, '_without_keras_layer', False):
    return
  undecorated = original._tf_decorator.decorated_target
  update_ops = tf.GraphKeys.UPDATE_OPS

  def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001, activation_fn=None,
                 param_initializers=None, param_regularizers=None, updates_collections=update_ops,
                 is_training=True, reuse=None, variables_collections=None,
                 outputs_collections=None, trainable=True, batch_weights=None, fused=None,
                 data_format='NHWC', zero_debias_moving_mean=False, scope=None, renorm=False,
                 renorm_clipping=None, renorm_decay=0.99, adjustment=None):
    rank = tf.convert_to_tensor(inputs).get_shape().ndims
    if (fused is None or fused) and batch_weights is None and not renorm and adjustment is None \
        and rank in (2, 4):
      return slim_layers._fused_batch_norm(
          inputs, decay=decay, center=center, scale=scale, epsilon=epsilon,
          activation_fn=activation_fn, param_initializers=param_initializers,
          param_regularizers=param_regularizers, updates_collections=updates_collections,
          is_training=is_training, reuse=reuse, variables_collections=variables_collections,
          outputs_collections=outputs_collections, trainable=trainable, data_format=data_format,
          zero_debias_moving_mean=zero_debias_moving_mean, scope=scope)
    return undecorated(
        inputs, decay=decay, center=center, scale=scale, epsilon=epsilon,
        activation_fn=activation_fn, param_initializers=param_initializers,
        param_regularizers=param_regularizers, updates_collections=updates_collections,
        is_training=is_training, reuse=reuse, variables_collections=variables_collections,
        outputs_collections=outputs_collections, trainable=trainable,
        batch_weights=batch_weights, fused=fused, data_format=data_format,
        zero_debias_moving_mean=zero_debias_moving_mean, scope=scope, renorm=renorm,
        renorm_clipping=renorm_clipping, renorm_decay=renorm_decay, adjustment=adjustment)

  batch_norm.__doc__ = undecorated.__doc__
  batch_norm._key_op = original._key_op  # the same arg-scope identity as the original
  replacement = arg_scope_lib.add_arg_scope(batch_norm)
  replacement._without_keras_layer = True
  replacement.keras_layer_batch_norm = original  # the untouched original, for tests
  import tf_slim
  from tf_slim import layers as slim_layers_package
  for module in (slim_layers, slim_layers_package, tf_slim):
    if getattr(module, 'batch_norm', None) is original:
      module.batch_norm = replacement


def apply():
  """Applies every fix; safe to call many times."""
  global _APPLIED
  if _APPLIED:
    return
  _register_legacy_keras_layers()
  _restore_control_flow_aliases()
  _restore_ops_tensor()
  _batch_norm_without_keras_layer()
  tf.disable_eager_execution()
  # TF1 `==`/hash on tensors and variables: slim's layers put variables in sets, and under TF 2's
  # equality each hash asks whether eager runs outside functions, which made graph building grow
  # with the square of the variable count (35-45% of an Inception-ResNet-V2 build).
  tf.disable_tensor_equality()
  _APPLIED = True


apply()
