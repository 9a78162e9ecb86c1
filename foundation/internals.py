"""Every use of a private TensorFlow, tf-slim or Python name in the project, in one module.

These are the lines the next TensorFlow release may break; `tests/test_internals.py` checks that
each private name still has the shape used here, so a change shows up as one named failure.

Three kinds:

* **Repairs** (`apply_repairs`, run when `nets`, `datasets`, `preprocessing` or `deployment` is
  imported): what tf-slim 1.1.0 needs to import and build on TensorFlow 2.21. They only add names
  that TensorFlow 2.21 removed or moved; nothing that was there before changes meaning.
* **Speed-ups** (`apply_speedups` and the factories below it), used by the application layer:
  the same graphs, variables and numbers by a shorter road. `SLIM_TF_SPEEDUPS=0` in the
  environment turns every one of them off, leaving TensorFlow's and tf-slim's own code paths.
* **Helpers** the application needs that TensorFlow offers only under a private name.
"""
import collections
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

import tensorflow.compat.v1 as tf

# Off with SLIM_TF_SPEEDUPS=0 (or false/no/off): read once, when this module is first imported.
SPEEDUPS = os.environ.get('SLIM_TF_SPEEDUPS', '1').strip().lower() not in ('0', 'false', 'no',
                                                                            'off')

_TF_KERAS_MISSING = ('tf-keras is required by slim.batch_norm on TensorFlow 2.21; '
                     'install it with: pip install "tf-keras==2.21.*"')


# ---------------------------------------------------------------------------------------------
# Repairs (TensorFlow 2.21, tf-keras 2.21, tf-slim 1.1.0)

class _LegacyKerasLayers(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """Since TF 2.16: TensorFlow lazy-loads `tf_keras.legacy_tf_layers[.normalization]` for
  `slim.batch_norm`, while tf-keras 2.21 ships them under `tf_keras.src.legacy_tf_layers`. This
  import hook answers the old names with the real modules, only when something asks for them (so a
  process whose batch norms are all fused never loads tf-keras)."""

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
  """Since TF 2.13 `control_flow_ops.cond/case/while_loop/Assert` live in their own modules;
  tf-slim's example decoder (`cond`, `case`) and learning loop still look for them there."""
  from tensorflow.python.ops import cond as cond_lib
  from tensorflow.python.ops import control_flow_assert
  from tensorflow.python.ops import control_flow_case
  from tensorflow.python.ops import control_flow_ops
  from tensorflow.python.ops import while_loop
  for name, fn in (('cond', cond_lib.cond), ('case', control_flow_case.case),
                   ('while_loop', while_loop.while_loop),
                   ('Assert', control_flow_assert.Assert)):
    if not hasattr(control_flow_ops, name):
      setattr(control_flow_ops, name, fn)


def _restore_ops_tensor():
  """Since TF 2.14 `ops.Tensor` is gone (the class is `framework.tensor.Tensor`); tf-slim uses it in
  batch norm without update collections or on rank-2 input, gradient multipliers, optimize_loss."""
  from tensorflow.python.framework import ops
  from tensorflow.python.framework import tensor
  if not hasattr(ops, 'Tensor'):
    ops.Tensor = tensor.Tensor


_REPAIRED = False


def apply_repairs():
  """Makes tf-slim importable and buildable on TF 2.21; safe to call many times."""
  global _REPAIRED
  if not _REPAIRED:
    _register_legacy_keras_layers()
    _restore_control_flow_aliases()
    _restore_ops_tensor()
    _REPAIRED = True


# ---------------------------------------------------------------------------------------------
# Speed-ups (off with SLIM_TF_SPEEDUPS=0)

def _fused_batch_norm_route():
  """`slim.batch_norm` without the legacy Keras layer (tf-slim 1.1.0 on TF 2.21).

  A fusable call (no batch weights, renorm or adjustment; rank 2 or 4) goes to tf-slim's own
  `_fused_batch_norm`, which tf-slim itself takes only for non-default update collections: the
  same `FusedBatchNormV3` kernel, variables, collections and update ops as the Keras layer it
  otherwise wraps, whose Python cost dominated building an Inception net. The replacement keeps
  the original's arg-scope key, so `arg_scope([slim.batch_norm], ...)` reaches either.
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
    common = dict(decay=decay, center=center, scale=scale, epsilon=epsilon,
                  activation_fn=activation_fn, param_initializers=param_initializers,
                  param_regularizers=param_regularizers, updates_collections=updates_collections,
                  is_training=is_training, reuse=reuse, variables_collections=variables_collections,
                  outputs_collections=outputs_collections, trainable=trainable,
                  data_format=data_format, zero_debias_moving_mean=zero_debias_moving_mean,
                  scope=scope)
    rank = tf.convert_to_tensor(inputs).get_shape().ndims
    if (fused is None or fused) and batch_weights is None and not renorm and adjustment is None \
        and rank in (2, 4):
      return slim_layers._fused_batch_norm(inputs, **common)
    return undecorated(inputs, batch_weights=batch_weights, fused=fused, renorm=renorm,
                       renorm_clipping=renorm_clipping, renorm_decay=renorm_decay,
                       adjustment=adjustment, **common)

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


def apply_speedups():
  """Process-wide speed-ups the scripts turn on (nothing when SLIM_TF_SPEEDUPS=0). Call it before
  the networks are imported: their arg scopes take `slim.batch_norm` as a default argument."""
  apply_repairs()
  if SPEEDUPS:
    _fused_batch_norm_route()


def keras_layer_batch_norm():
  """tf-slim's own `batch_norm` (through the legacy Keras layer), whatever route is installed."""
  import tf_slim as slim
  return getattr(slim.batch_norm, 'keras_layer_batch_norm', slim.batch_norm)


class _CheckpointSaverHookWithoutFirstSave(tf.train.CheckpointSaverHook):
  """TensorFlow's hook, minus the checkpoint it writes when the session is created.

  That save copied the initial or warm-started weights (which the original's Supervisor never
  wrote) and serialised the graph three more times; the graph still goes to the events file once.
  Uses the hook's private `_global_step_tensor`, `_summary_writer` and `_timer` (TF 2.21).
  """

  def after_create_session(self, session, coord):
    del coord
    step = session.run(self._global_step_tensor)
    self._summary_writer.add_graph(tf.get_default_graph())
    self._timer.update_last_triggered_step(step)


def checkpoint_saver_hook(checkpoint_dir, **kwargs):
  """A `tf.train.CheckpointSaverHook` (without its save at session creation, with speed-ups on)."""
  cls = _CheckpointSaverHookWithoutFirstSave if SPEEDUPS else tf.train.CheckpointSaverHook
  return cls(checkpoint_dir, **kwargs)


class _ScaffoldWithoutReadyChecks(tf.train.Scaffold):
  """A Scaffold whose SessionManager runs no readiness checks after initialisation.

  For one process training alone they cannot fail (the init op initialises every global variable
  and a restore fails by itself on a missing one), but they are two report_uninitialized_variables
  graphs to build and run. A constant is passed so that `finalize()` builds no default check;
  the properties then answer None, which SessionManager reads as "no check".
  """

  def __init__(self, **kwargs):
    unused = tf.constant([], tf.string, name='no_ready_check')
    super(_ScaffoldWithoutReadyChecks, self).__init__(
        ready_op=unused, ready_for_local_init_op=unused, **kwargs)

  @property
  def ready_op(self):
    return None

  @property
  def ready_for_local_init_op(self):
    return None


def _scaffold(checks_cannot_fail, **kwargs):
  """A `tf.train.Scaffold`; without readiness checks (speed-up) where they cannot fail."""
  cls = _ScaffoldWithoutReadyChecks if checks_cannot_fail and SPEEDUPS else tf.train.Scaffold
  return cls(**kwargs)


def training_scaffold(alone, **kwargs):
  """A `tf.train.Scaffold`; without readiness checks for a process training `alone` (speed-up)."""
  return _scaffold(alone, **kwargs)


def restoring_scaffold(saver, restored):
  """A `tf.train.Scaffold` with `saver`, for a session restored from a checkpoint; without
  readiness checks (speed-up) when the `restored` variables are every global variable of the
  graph, so that nothing the checks look at can be left uninitialised (a restore fails by itself
  on a variable the checkpoint lacks)."""
  complete = {v.op.name for v in restored} >= {v.op.name for v in tf.global_variables()}
  return _scaffold(complete, saver=saver)


# What the JPEG-window input path needs of a descriptor's TFExampleDecoder.
PlainImageDecoding = collections.namedtuple('PlainImageDecoding', [
    'keys_to_features', 'items_to_handlers', 'image_key', 'channels'])


def plain_image_decoding(decoder):
  """The parsing spec of a TFExampleDecoder whose `image` item is a plain uint8
  `tfexample_decoder.Image` (one image, 1 or 3 channels, no fixed shape or DCT method), else None.

  tf-slim keeps these in private attributes of the decoder and its handlers (tf-slim 1.1.0). With
  them, the input pipeline parses a record once and decodes only the crop a preprocessing keeps.
  None with SLIM_TF_SPEEDUPS=0: the descriptor's own `decode` is used.
  """
  if not SPEEDUPS:
    return None
  import tf_slim as slim
  handlers = getattr(decoder, '_items_to_handlers', None) or {}
  features = getattr(decoder, '_keys_to_features', None)
  image = handlers.get('image')
  if (features is None or 'label' not in handlers
      or type(image) is not slim.tfexample_decoder.Image  # noqa: E721 (exactly, not a subclass)
      or image._repeated or image._shape is not None or image._dtype != tf.uint8
      or image._channels not in (1, 3) or getattr(image, '_dct_method', '') != ''):
    return None
  return PlainImageDecoding(features, handlers, image._image_key, image._channels)


# ---------------------------------------------------------------------------------------------
# Helpers

def onednn_enabled():
  """True when this process's TensorFlow runs oneDNN kernels (TF 2.21's private port query)."""
  from tensorflow.python.util import _pywrap_util_port
  return bool(_pywrap_util_port.IsMklEnabled())


def silence_deprecation_warnings():
  """Stops TensorFlow's once-per-function deprecation notices for the v1 APIs slim uses on purpose
  (the module-level switch of `tensorflow.python.util.deprecation`, TF 2.21)."""
  from tensorflow.python.util import deprecation
  deprecation._PRINT_DEPRECATION_WARNINGS = False


def treat_cancelled_as_closed(queue_runner):
  """Makes a queue runner end quietly when its pending op is cancelled at session close (its
  private list of "queue closed" exception types, TF 2.21), instead of logging a traceback."""
  queue_runner._queue_closed_exception_types = (
      tuple(queue_runner._queue_closed_exception_types) + (tf.errors.CancelledError,))


def exit_now(code):
  """Ends the process at once, without waiting for threads stuck in TensorFlow's C++ (os._exit)."""
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)


# ---------------------------------------------------------------------------------------------
# Graph rewriting (quantize/)

def reroute_input(op, index, tensor):
  """Makes input `index` of the existing `op` read `tensor` instead (an in-place graph edit, as
  `tf.contrib.graph_editor` did for `tf.contrib.quantize`): TF 2.21's `Operation._update_input`,
  for which it has no public equivalent."""
  op._update_input(index, tensor)
