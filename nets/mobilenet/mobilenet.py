"""Generic MobileNet builder: a network is a list of ops (layer function + parameters).

Shared by MobileNet V2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
https://arxiv.org/abs/1801.04381) and MobileNet V3 / EdgeTPU (Howard et al., "Searching for
MobileNetV3", https://arxiv.org/abs/1905.02244).

A conv-def is a dict with
  `spec`: the list of `op(...)` layers, built in order; layer i (1-based) is end point `layer_i`;
  `defaults`: {(layer functions...): {arg: value}} applied as arg scopes around the whole trunk;
  `overrides` (optional): same form, applied inside the defaults.
The depth multiplier is applied per op by its `multiplier_func`, which rewrites `num_outputs`.

Helpers a user's own network code may call:
  `global_pool(input_tensor, use_reduce_mean_for_pooling=False, pool_op=tf.nn.avg_pool2d)`: the
    spatial average of a feature map, [batch, 1, 1, depth], by an average pool over the whole map or
    (with `use_reduce_mean_for_pooling`, or when the size is unknown) by `tf.reduce_mean`;
  `group_norm_defaults(defaults)`: a conv-def's layer defaults with group norm as the normaliser
    wherever they had one (and no batch-norm settings), as the group-norm variants are built;
  `set_group_norm_groups(conv_defs, groups)`: a copy of a conv-def whose `slim.group_norm`
    normalizers use `groups` channel groups (the group-norm variants of V2 and V3 use it).
"""
import collections
import contextlib
import copy
import inspect
import os

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import net_utils

_fixed_padding = net_utils.fixed_padding
_make_divisible = net_utils.make_divisible


class MobilenetError(ValueError):
  """A bad argument to the MobileNet builder (a ValueError, as in the original)."""


def apply_activation(x, name=None, activation_fn=None):
  return activation_fn(x, name=name) if activation_fn else x


@contextlib.contextmanager
def _set_arg_scope_defaults(defaults):
  """Enters one arg scope per (functions, arguments) item of `defaults`, in order."""
  items = list(defaults.items()) if hasattr(defaults, 'items') else list(defaults)
  with contextlib.ExitStack() as stack:
    for funcs, arguments in items:
      stack.enter_context(slim.arg_scope(funcs, **arguments))
    yield


@slim.add_arg_scope
def depth_multiplier(output_params, multiplier, divisible_by=8, min_depth=8, **unused_kwargs):
  """Default `multiplier_func`: scales `num_outputs`, rounded to a multiple of divisible_by."""
  if 'num_outputs' not in output_params:
    return
  output_params['num_outputs'] = _make_divisible(output_params['num_outputs'] * multiplier,
                                                 divisible_by, min_depth)


_Op = collections.namedtuple('Op', ['op', 'params', 'multiplier_func'])


def op(opfunc, multiplier_func=depth_multiplier, **params):
  """One layer of a conv-def: `opfunc(net, **params)` after multiplier_func(params, multiplier)."""
  multiplier = params.pop('multiplier_transform', multiplier_func)
  return _Op(opfunc, params=params, multiplier_func=multiplier)


class NoOpScope(object):
  """A context manager that does nothing."""

  def __enter__(self):
    return None

  def __exit__(self, exc_type, exc_value, traceback):
    return False


def safe_arg_scope(funcs, **kwargs):
  """arg_scope of the arguments that are not None (none at all: a scope that does nothing)."""
  filtered = {name: value for name, value in kwargs.items() if value is not None}
  if filtered:
    return slim.arg_scope(funcs, **filtered)
  return NoOpScope()


@contextlib.contextmanager
def _scope_all(scope, default_scope=None):
  """Variable scope and a name scope equal to it (ops and variables share one prefix)."""
  with tf.variable_scope(scope, default_name=default_scope) as s, \
       tf.name_scope(s.original_name_scope):
    yield s


def _accepts_explicit_padding(opfunc):
  """Whether a layer function pads by itself when given use_explicit_padding (expanded_conv)."""
  try:
    return 'use_explicit_padding' in inspect.signature(opfunc).parameters
  except (TypeError, ValueError):
    return False


@slim.add_arg_scope
def mobilenet_base(inputs,
                   conv_defs,
                   multiplier=1.0,
                   final_endpoint=None,
                   output_stride=None,
                   use_explicit_padding=False,
                   scope=None,
                   is_training=False):
  """Builds the layers of `conv_defs` on `inputs` (no classification head).

  Args:
    inputs: a [batch, height, width, channels] tensor.
    conv_defs: a conv-def dict (see the module docstring).
    multiplier: depth multiplier passed to each op's multiplier_func; must be > 0.
    final_endpoint: stop after this end point (`layer_<i>`); None builds every layer.
    output_stride: None, 1 or an even number: once the accumulated stride reaches it, later
      strides become atrous rates so the output keeps that resolution.
    use_explicit_padding: pad explicitly and use VALID convolutions, so output sizes do not
      depend on whether the input size is odd or even.
    scope: variable scope (default `Mobilenet`).
    is_training: batch norm mode; None leaves it to an enclosing arg scope.

  Returns:
    (output tensor, dict of end points). Besides `layer_<i>`, every op inside layer i's scope whose
    name ends with `output` is an end point `layer_<i>/<op name>` (e.g. `layer_3/expansion_output`).

  Raises:
    ValueError: multiplier <= 0, a bad output_stride, or an atrous rate conflicting with one set in
      the conv-def.
  """
  if multiplier <= 0:
    raise MobilenetError('multiplier is not greater than zero.')

  conv_defs_defaults = conv_defs.get('defaults', {})
  conv_defs_overrides = conv_defs.get('overrides', {})
  if use_explicit_padding:
    conv_defs_overrides = copy.deepcopy(conv_defs_overrides)
    conv_defs_overrides[(slim.conv2d, slim.separable_conv2d)] = {'padding': 'VALID'}

  if output_stride is not None:
    if output_stride == 0 or (output_stride > 1 and output_stride % 2):
      raise MobilenetError('Output stride must be None, 1 or a multiple of 2.')

  with _scope_all(scope, default_scope='Mobilenet'), \
       safe_arg_scope([slim.batch_norm], is_training=is_training), \
       _set_arg_scope_defaults(conv_defs_defaults), \
       _set_arg_scope_defaults(conv_defs_overrides):
    # Stride accumulated so far, and the atrous rate of later layers once output_stride is hit.
    current_stride = 1
    rate = 1
    net = inputs
    end_points = {}
    scopes = {}
    for i, opdef in enumerate(conv_defs['spec']):
      params = dict(opdef.params)
      opdef.multiplier_func(params, multiplier)
      stride = params.get('stride', 1)
      if output_stride is not None and current_stride == output_stride:
        layer_stride = 1
        layer_rate = rate
        rate *= stride
      else:
        layer_stride = stride
        layer_rate = 1
        current_stride *= stride
      params['stride'] = layer_stride
      if layer_rate > 1:
        if tuple(params.get('rate', (1,))) not in ((1,), (1, 1)):
          raise MobilenetError('Layer rate conflict: layer %d sets rate %r'
                               % (i + 1, params['rate']))
        params['rate'] = layer_rate

      if use_explicit_padding:
        if _accepts_explicit_padding(opdef.op):
          params['use_explicit_padding'] = True
        elif 'kernel_size' in params:
          net = _fixed_padding(net, params['kernel_size'], layer_rate)

      end_point = 'layer_%d' % (i + 1)
      try:
        net = opdef.op(net, **params)
      except Exception:
        tf.logging.error('Failed to create layer %d: %r with params %r', i + 1, opdef, params)
        raise
      end_points[end_point] = net
      scopes[os.path.dirname(net.name)] = end_point
      if final_endpoint is not None and end_point == final_endpoint:
        break

    # Inner outputs of each layer (identity ops named ...output) become end points too.
    for graph_op in net.graph.get_operations():
      op_scope = os.path.dirname(graph_op.name)
      if op_scope in scopes and graph_op.name.endswith('output'):
        end_points[scopes[op_scope] + '/' + os.path.basename(graph_op.name)] = graph_op.outputs[0]
    return net, end_points


def global_pool(input_tensor, use_reduce_mean_for_pooling=False, pool_op=tf.nn.avg_pool2d):
  """Averages a [batch, height, width, depth] tensor over space -> [batch, 1, 1, depth].

  Args:
    input_tensor: the feature map.
    use_reduce_mean_for_pooling: take the mean with `tf.reduce_mean` rather than `pool_op`; the
      numbers are the same, the op differs (some converters and accelerators handle one only).
    pool_op: the average-pool function, called with a kernel of the whole (static) feature map.

  Returns:
    The pooled tensor. When height or width is unknown when the graph is built, the mean is taken
    with `tf.reduce_mean` whatever `use_reduce_mean_for_pooling` says.
  """
  shape = input_tensor.get_shape().as_list()
  if use_reduce_mean_for_pooling or shape[1] is None or shape[2] is None:
    output = tf.reduce_mean(input_tensor, [1, 2], keepdims=True, name='AvgPool')
  else:
    output = pool_op(input_tensor, ksize=[1, shape[1], shape[2], 1], strides=[1, 1, 1, 1],
                     padding='VALID')
  output.set_shape([None, 1, 1, None])
  return output


def group_norm_defaults(defaults):
  """Layer defaults with `slim.group_norm` wherever `defaults` normalise (batch norm's own dropped).
  """
  return {funcs: dict(arguments, normalizer_fn=slim.group_norm)
                 if 'normalizer_fn' in arguments else dict(arguments)
          for funcs, arguments in defaults.items() if funcs != (slim.batch_norm,)}


def set_group_norm_groups(conv_defs, groups):
  """A copy of `conv_defs` whose `slim.group_norm` layers split the channels into `groups`."""
  conv_defs = copy.deepcopy(conv_defs)
  conv_defs['defaults'][(slim.group_norm,)] = {'groups': groups}
  return conv_defs


@slim.add_arg_scope
def mobilenet(inputs,
              num_classes=1001,
              prediction_fn=slim.softmax,
              reuse=None,
              scope='Mobilenet',
              base_only=False,
              use_reduce_mean_for_pooling=False,
              **mobilenet_args):
  """A MobileNet classifier: `mobilenet_base`, global average pool, dropout, 1x1 conv logits.

  Inference mode is created by default (batch norm and dropout off); enter `training_scope()` or
  pass is_training=True to build a training graph.

  Args:
    inputs: a [batch, height, width, channels] tensor.
    num_classes: number of classes; 0 or None returns the pooled features (end point `global_pool`).
    prediction_fn: applied to the logits to give end point `Predictions` (None to skip).
    reuse: reuse the variables of the scope.
    scope: variable scope.
    base_only: return the output of `mobilenet_base` (no pooling, no head).
    use_reduce_mean_for_pooling: pool with a mean instead of an average-pool op.
    **mobilenet_args: passed to `mobilenet_base` (conv_defs, multiplier, is_training, ...).

  Returns:
    (logits [batch, num_classes], or the base / pooled output; dict of end points).

  Raises:
    ValueError: the input is not of rank 4.
  """
  is_training = mobilenet_args.get('is_training', False)
  input_shape = inputs.get_shape().as_list()
  if len(input_shape) != 4:
    raise MobilenetError('Expected rank 4 input, was: %d' % len(input_shape))

  with tf.variable_scope(scope, 'Mobilenet', reuse=reuse) as scope:
    inputs = tf.identity(inputs, 'input')
    net, end_points = mobilenet_base(inputs, scope=scope, **mobilenet_args)
    if base_only:
      return net, end_points

    net = tf.identity(net, name='embedding')
    with tf.variable_scope('Logits'):
      net = global_pool(net, use_reduce_mean_for_pooling)
      end_points['global_pool'] = net
      if not num_classes:
        return net, end_points
      net = slim.dropout(net, scope='Dropout', is_training=is_training)
      # A 1x1 convolution rather than a fully connected layer keeps the published variable shape
      # [1, 1, depth, classes].
      logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                           biases_initializer=tf.zeros_initializer(), scope='Conv2d_1c_1x1')
      logits = tf.squeeze(logits, [1, 2])
      logits = tf.identity(logits, name='output')
    end_points['Logits'] = logits
    if prediction_fn:
      end_points['Predictions'] = prediction_fn(logits, scope='Predictions')
  return logits, end_points


def training_scope(is_training=True,
                   weight_decay=0.00004,
                   stddev=0.09,
                   dropout_keep_prob=0.8,
                   bn_decay=0.997):
  """Layer defaults for training (and, with is_training=False, evaluating) MobileNet V2 / V3.

  Args:
    is_training: mode of batch norm, dropout and the builders; None leaves it unset.
    weight_decay: L2 weight decay of full convolutions (not depthwise ones).
    stddev: stddev of the truncated-normal weight initializer; negative selects Xavier.
    dropout_keep_prob: keep probability of the dropout before the logits; None leaves it unset.
    bn_decay: moving-average decay of batch norm; None leaves it unset.

  Returns:
    An arg_scope.
  """
  batch_norm_params = {'decay': bn_decay, 'is_training': is_training}
  if stddev < 0:
    weight_initializer = slim.initializers.xavier_initializer()
  else:
    weight_initializer = tf.truncated_normal_initializer(stddev=stddev)

  with slim.arg_scope([slim.conv2d, slim.fully_connected, slim.separable_conv2d],
                      weights_initializer=weight_initializer,
                      normalizer_fn=slim.batch_norm), \
       safe_arg_scope([mobilenet_base, mobilenet], is_training=is_training), \
       safe_arg_scope([slim.batch_norm], **batch_norm_params), \
       safe_arg_scope([slim.dropout], is_training=is_training, keep_prob=dropout_keep_prob), \
       slim.arg_scope([slim.conv2d], weights_regularizer=slim.l2_regularizer(weight_decay)), \
       slim.arg_scope([slim.separable_conv2d], weights_regularizer=None) as s:
    return s
