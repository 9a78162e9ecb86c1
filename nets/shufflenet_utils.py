"""What ShuffleNet V1 and V2 share: channel shuffle, grouped convolution, arg scope, scope handling.

Channel shuffle is the operation of Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional
Neural Network for Mobile Devices" (CVPR 2018, https://arxiv.org/abs/1707.01083), section 3.1.
"""
import contextlib
import functools

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import net_utils

reduced_kernel_size_for_small_input = net_utils.reduced_kernel_size_for_small_input


def _dims(inputs):
  """[batch, height, width] of `inputs`, static where known, dynamic where not."""
  static = inputs.shape.as_list()
  dynamic = tf.shape(inputs)
  return [static[i] if static[i] is not None else dynamic[i] for i in range(3)]


def channel_shuffle(inputs, groups, scope=None):
  """Interleaves the channels of `groups` groups (paper, section 3.1).

  The channel axis of size g * n is reshaped to (g, n), transposed to (n, g) and flattened, so
  output channel i * g + j is input channel j * n + i: every group of the next grouped convolution
  receives channels from every group of the previous one.

  Args:
    inputs: a [batch, height, width, channels] tensor, channels divisible by `groups`.
    groups: number of groups g.
    scope: optional name scope.

  Returns:
    A tensor with the shape of `inputs`.
  """
  with tf.name_scope(scope, 'ChannelShuffle', [inputs]):
    channels = inputs.shape.as_list()[-1]
    if channels % groups:
      raise ValueError('channel_shuffle: %d channels do not split into %d groups'
                       % (channels, groups))
    # One [pixels, g, n] -> [pixels, n, g] transpose: the same permutation as a 5-D transpose of
    # [batch, height, width, g, n], but a 3-D one is a fast kernel everywhere (TFLite included).
    net = tf.reshape(inputs, [-1, groups, channels // groups])
    net = tf.transpose(net, [0, 2, 1])
    return tf.reshape(net, _dims(inputs) + [channels])


GROUPED_CONV_FORMULATIONS = ('block_diagonal', 'split', 'grouped')


def block_diagonal_kernel(weights, groups):
  """The dense [kh, kw, groups * n, m] kernel equal to the grouped kernel `weights` [kh, kw, n, m].

  Input channels g * n ... (g + 1) * n - 1 feed only the m / groups outputs of group g (TensorFlow's
  grouped-convolution layout); every other entry is zero. Built as the grouped kernel, reshaped to
  [kh, kw, 1, n, groups, m / groups], times the identity of the groups broadcast over the blocks.
  """
  kh, kw, group_in, num_outputs = weights.shape.as_list()
  group_out = num_outputs // groups
  blocks = tf.reshape(weights, [kh, kw, 1, group_in, groups, group_out])
  mask = tf.reshape(tf.eye(groups, dtype=weights.dtype), [1, 1, groups, 1, groups, 1])
  return tf.reshape(blocks * mask, [kh, kw, groups * group_in, num_outputs], name='BlockDiagonal')


def _base_name(input_name):
  return input_name.lstrip('^').split(':')[0]


def grouped_convs_from_block_diagonal(graph_def):
  """Points every Conv2D of a frozen `graph_def` that reads a block-diagonal kernel (the
  `<layer>/BlockDiagonal` of `block_diagonal_kernel`, from `<layer>/weights`) at the grouped
  weights themselves, in place: TensorFlow's Conv2D takes the groups from the filter's shape.
  Same outputs; the kernel assembly is left unused (Grappler prunes it). For a TensorFlow that
  runs grouped convolutions fused with their batch norm (oneDNN on, on CPU); exported files
  keep the portable form. Returns the number of convolutions changed.
  """
  nodes = {node.name: node for node in graph_def.node}
  changed = 0
  for node in graph_def.node:
    if node.op != 'Conv2D' or len(node.input) < 2:
      continue
    kernel = nodes.get(_base_name(node.input[1]))
    if kernel is None or kernel.op != 'Reshape' or not kernel.name.endswith('/BlockDiagonal'):
      continue
    weights_name = kernel.name[:-len('BlockDiagonal')] + 'weights'
    product = nodes.get(_base_name(kernel.input[0]))
    if product is None or product.op != 'Mul':
      continue
    for factor in product.input:
      blocks = nodes.get(_base_name(factor))
      if blocks is not None and blocks.op == 'Reshape' and _reads(nodes, blocks.input[0],
                                                                   weights_name):
        node.input[1] = blocks.input[0]
        changed += 1
        break
  return changed


def _reads(nodes, input_name, name):
  """True when `input_name` is the node `name` or Identities of it (a frozen variable read)."""
  node = nodes.get(_base_name(input_name))
  while node is not None and node.name != name and node.op == 'Identity' and node.input:
    node = nodes.get(_base_name(node.input[0]))
  return node is not None and node.name == name


@slim.add_arg_scope
def grouped_conv2d(inputs,
                   num_outputs,
                   kernel_size,
                   groups=1,
                   stride=1,
                   padding='SAME',
                   activation_fn=tf.nn.relu,
                   normalizer_fn=None,
                   normalizer_params=None,
                   weights_initializer=None,
                   weights_regularizer=None,
                   variables_collections=None,
                   outputs_collections=None,
                   trainable=True,
                   reuse=None,
                   scope=None,
                   formulation='block_diagonal'):
  """A convolution whose input and output channels are cut into `groups` independent groups.

  Variables follow the slim naming of `slim.conv2d` with a normalizer: `<scope>/weights` of shape
  [kh, kw, in_channels / groups, num_outputs] (the layout of TensorFlow's native grouped
  convolution: output channel o belongs to group o // (num_outputs / groups)), and the normalizer's
  variables under `<scope>/BatchNorm`. No biases: every use here is followed by batch norm.

  TensorFlow 2.21 runs a grouped `Conv2D` forward on CPU but cannot compute its gradient there.
  `formulation` picks how the groups are computed instead (same variable, same outputs):
    'block_diagonal' (default): one dense convolution whose [kh, kw, in_channels, num_outputs]
      kernel is assembled in the graph from the variable, zero outside the diagonal blocks. It
      does `groups` times the multiply-adds of the grouped convolution but is one kernel with no
      split or concat of the activations, so batch norm and relu fuse into it (TensorFlow's
      remapper, TFLite's converter); on the CPU that is faster than `groups` small convolutions.
    'split': each group convolved separately and the results concatenated (the formulation of
      the first port, kept to compare against).
    'grouped': TensorFlow's own grouped `Conv2D` (the [kh, kw, in_channels / groups, m] variable
      as its filter): the grouped multiply-adds only. For inference graphs that are converted,
      not run by TensorFlow: the float TFLite export uses it (TFLite's CONV_2D runs groups
      natively). Not for training (no CPU gradient) nor for TF sessions on CPU: once the
      remapper fuses batch norm into it, the fused kernel rejects groups unless oneDNN is on.
  """
  with tf.variable_scope(scope, 'GroupedConv2d', [inputs], reuse=reuse) as sc:
    in_channels = inputs.shape.as_list()[-1]
    if in_channels % groups or num_outputs % groups:
      raise ValueError('grouped_conv2d %s: %d input and %d output channels must both be divisible '
                       'by groups=%d' % (sc.name, in_channels, num_outputs, groups))
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    collections = slim.utils.get_variable_collections(variables_collections, 'weights')
    weights = slim.model_variable(
        'weights',
        shape=[kh, kw, in_channels // groups, num_outputs],
        initializer=weights_initializer or tf.glorot_uniform_initializer(),
        regularizer=weights_regularizer,
        collections=collections,
        trainable=trainable)
    if formulation not in GROUPED_CONV_FORMULATIONS:
      raise ValueError('grouped_conv2d %s: formulation must be one of %s, not %r'
                       % (sc.name, ', '.join(GROUPED_CONV_FORMULATIONS), formulation))
    strides = [1, stride, stride, 1]
    if groups == 1 or formulation == 'grouped':
      outputs = tf.nn.conv2d(inputs, weights, strides, padding)
    elif formulation == 'block_diagonal':
      outputs = tf.nn.conv2d(inputs, block_diagonal_kernel(weights, groups), strides, padding)
    else:
      outputs = tf.concat(
          [tf.nn.conv2d(x, w, strides, padding)
           for x, w in zip(tf.split(inputs, groups, axis=3), tf.split(weights, groups, axis=3))],
          axis=3)
    if normalizer_fn is not None:
      outputs = normalizer_fn(outputs, **(normalizer_params or {}))
    if activation_fn is not None:
      outputs = activation_fn(outputs)
    return slim.utils.collect_named_outputs(outputs_collections, sc.name, outputs)


@contextlib.contextmanager
def network_scope(scope, default_name, inputs):
  """Variable scope of a network trunk that keeps op names as short as its variable names.

  The classifier opens the network's scope and hands the scope object to the trunk. Re-entering a
  scope object opens a second name scope ('ShufflenetV1/ShufflenetV1/Conv1/Relu', as in slim's
  own nets); re-entering its original name scope instead keeps 'ShufflenetV1/Conv1/Relu'.
  """
  if isinstance(scope, tf.VariableScope):
    with tf.variable_scope(scope, auxiliary_name_scope=False) as sc:
      with tf.name_scope(sc.original_name_scope):
        yield sc
  else:
    with tf.variable_scope(scope, default_name, [inputs]) as sc:
      yield sc


def shufflenet_arg_scope(is_training=True,
                         weight_decay=4e-5,
                         stddev=0.09,
                         regularize_depthwise=False,
                         batch_norm_decay=0.9997,
                         batch_norm_epsilon=0.001,
                         batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS):
  """The layer defaults both ShuffleNets share (see shufflenet_v1_arg_scope for the arguments)."""
  batch_norm_params = {
      'center': True,
      'scale': True,
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'updates_collections': batch_norm_updates_collections,
  }
  initializer = tf.truncated_normal_initializer(stddev=stddev)
  regularizer = slim.l2_regularizer(weight_decay)
  depthwise_regularizer = regularizer if regularize_depthwise else None
  bn_defaults = {} if is_training is None else {'is_training': is_training}
  with slim.arg_scope([slim.conv2d, slim.separable_conv2d, grouped_conv2d],
                      weights_initializer=initializer,
                      activation_fn=tf.nn.relu,
                      normalizer_fn=slim.batch_norm,
                      normalizer_params=batch_norm_params):
    with slim.arg_scope([slim.conv2d, grouped_conv2d], weights_regularizer=regularizer):
      with slim.arg_scope([slim.separable_conv2d], weights_regularizer=depthwise_regularizer):
        with slim.arg_scope([slim.batch_norm], **bn_defaults) as sc:
          return sc


def classification_head(net, end_points, num_classes, dropout_keep_prob, prediction_fn,
                        spatial_squeeze, global_pool):
  """Pooling, dropout and the 1x1 logits conv under `Logits`; returns (logits, end_points).

  With no `num_classes` the pooled features are returned in place of the logits.
  """
  with tf.variable_scope('Logits'):
    if global_pool:
      net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
      end_points['global_pool'] = net
    else:
      kernel_size = reduced_kernel_size_for_small_input(net, [7, 7])
      net = slim.avg_pool2d(net, kernel_size, padding='VALID', scope='AvgPool')
      end_points['AvgPool'] = net
    if not num_classes:
      return net, end_points
    net = slim.dropout(net, keep_prob=dropout_keep_prob, scope='Dropout')
    logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                         biases_initializer=tf.zeros_initializer(), scope='Conv2d_1c_1x1')
    if spatial_squeeze:
      logits = tf.squeeze(logits, [1, 2], name='SpatialSqueeze')
  end_points['Logits'] = logits
  if prediction_fn:
    end_points['Predictions'] = prediction_fn(logits, scope='Predictions')
  return logits, end_points


def wrapped_partial(func, *args, **kwargs):
  """functools.partial that keeps the wrapped function's name, docstring and default_image_size."""
  partial_func = functools.partial(func, *args, **kwargs)
  functools.update_wrapper(partial_func, func)
  return partial_func
