"""Building blocks shared by NASNet-A and PNASNet-5: the searched cells and their helpers.

NASNet-A: B. Zoph, V. Vasudevan, J. Shlens, Q. V. Le, "Learning Transferable Architectures for
Scalable Image Recognition", https://arxiv.org/abs/1707.07012.
PNASNet-5: C. Liu et al., "Progressive Neural Architecture Search",
https://arxiv.org/abs/1712.00559.

A cell turns its input and the previous cell's output ("hidden states" 0 and 1) into five new
states; each new state is the sum of two operations applied to earlier states. The cell's output is
the concatenation of the states that no operation of the cell consumed (`used_hiddenstates` == 0).
Data-format dependent helpers take `data_format` from an arg scope that the builders open.

`arg_scope` is `slim.arg_scope`, reachable through this module as in the original.
"""
import re

import tensorflow.compat.v1 as tf
import tf_slim as slim


arg_scope = slim.arg_scope

DATA_FORMAT_NCHW = 'NCHW'
DATA_FORMAT_NHWC = 'NHWC'
INVALID = 'null'
# Bound applied after the cell operations when activations are bounded (ReLU6 models, for
# quantisation).
CLIP_BY_VALUE_CAP = 6


class DataFormatError(ValueError):
  """A data format other than NHWC / NCHW, or none given (outside the builders' arg scope)."""


def _check_data_format(data_format):
  if data_format not in (DATA_FORMAT_NHWC, DATA_FORMAT_NCHW):
    raise DataFormatError(
        'data_format must be NHWC or NCHW (set it directly or through slim.arg_scope), got %r'
        % data_format)


def calc_reduction_layers(num_cells, num_reduction_layers):
  """Cell indices before which the resolution halves: evenly spaced through the `num_cells`."""
  return [int(float(k) / (num_reduction_layers + 1) * num_cells)
          for k in range(1, num_reduction_layers + 1)]


@slim.add_arg_scope
def get_channel_index(data_format=INVALID):
  """Axis of the channels: 3 for NHWC, 1 for NCHW."""
  _check_data_format(data_format)
  return 3 if data_format == DATA_FORMAT_NHWC else 1


@slim.add_arg_scope
def get_channel_dim(shape, data_format=INVALID):
  """Number of channels of a rank-4 `shape`."""
  _check_data_format(data_format)
  if len(shape) != 4:
    raise ValueError('Expected a rank-4 shape, got %s' % (shape,))
  return int(shape[get_channel_index(data_format=data_format)])


@slim.add_arg_scope
def global_avg_pool(x, data_format=INVALID):
  """Mean over the spatial dimensions of a rank-4 tensor: [B, C] in either data format."""
  _check_data_format(data_format)
  if x.shape.ndims != 4:
    raise ValueError('global_avg_pool expects a rank-4 tensor, got shape %s' % x.shape)
  spatial_axes = [1, 2] if data_format == DATA_FORMAT_NHWC else [2, 3]
  return tf.reduce_mean(x, spatial_axes)


@slim.add_arg_scope
def factorized_reduction(net, output_filters, stride, data_format=INVALID):
  """Brings `net` to `output_filters` channels and divides its resolution by `stride`.

  With stride 2 two half-width 1x1 convolutions see the even and the odd pixel grid (the second path
  is shifted by one pixel), so no input pixel is skipped, and their outputs are concatenated.
  """
  _check_data_format(data_format)
  if stride == 1:
    net = slim.conv2d(net, output_filters, 1, scope='path_conv')
    return slim.batch_norm(net, scope='path_bn')

  if data_format == DATA_FORMAT_NHWC:
    strides = [1, stride, stride, 1]
    shift_pad = [[0, 0], [0, 1], [0, 1], [0, 0]]
  else:
    strides = [1, 1, stride, stride]
    shift_pad = [[0, 0], [0, 0], [0, 1], [0, 1]]

  def subsample(x):
    return tf.nn.avg_pool2d(x, [1, 1, 1, 1], strides, 'VALID', data_format=data_format)

  half = int(output_filters / 2)
  path1 = slim.conv2d(subsample(net), half, 1, scope='path1_conv')

  shifted = tf.pad(net, shift_pad)
  if data_format == DATA_FORMAT_NHWC:
    shifted = shifted[:, 1:, 1:, :]
  else:
    shifted = shifted[:, :, 1:, 1:]
  # An odd filter count gives the extra filter to the second path.
  path2 = slim.conv2d(subsample(shifted), half + int(output_filters % 2), 1, scope='path2_conv')

  net = tf.concat([path1, path2], axis=get_channel_index(data_format=data_format))
  return slim.batch_norm(net, scope='final_path_bn')


@slim.add_arg_scope
def drop_path(net, keep_prob, is_training=True):
  """Zeroes whole examples of `net` with probability 1 - keep_prob, rescaling the kept ones."""
  if not is_training:
    return net
  noise_shape = [tf.shape(net)[0], 1, 1, 1]
  # floor(keep_prob + U[0, 1)) is 1 with probability keep_prob.
  keep_mask = tf.floor(keep_prob + tf.random_uniform(noise_shape, dtype=tf.float32))
  keep_mask = tf.cast(keep_mask, net.dtype)
  return net * tf.cast(1.0 / keep_prob, net.dtype) * keep_mask


def _kernel_size(operation):
  """'separable_5x5_2' -> 5 and 'max_pool_3x3' -> 3 (square kernels only)."""
  match = re.search(r'(\d+)x(\d+)', operation)
  if not match or match.group(1) != match.group(2):
    raise ValueError('Only square kernels are supported: %s' % operation)
  return int(match.group(1))


def _num_layers(operation):
  """'separable_5x5_2' -> 2 stacked layers; an operation without a trailing count has 1."""
  last = operation.split('_')[-1]
  return 1 if 'x' in last else int(last)


def _activation(use_bounded_activation):
  return tf.nn.relu6 if use_bounded_activation else tf.nn.relu


def _stacked_separable_conv(net, stride, operation, filter_size, use_bounded_activation):
  """Activation, separable conv and batch norm, repeated; only the first layer strides."""
  kernel = _kernel_size(operation)
  activation_fn = _activation(use_bounded_activation)
  for layer in range(1, _num_layers(operation) + 1):
    net = activation_fn(net)
    net = slim.separable_conv2d(
        net, filter_size, kernel, depth_multiplier=1, stride=stride,
        scope='separable_{0}x{0}_{1}'.format(kernel, layer))
    net = slim.batch_norm(net, scope='bn_sep_{0}x{0}_{1}'.format(kernel, layer))
    stride = 1
  return net


def _pooling(net, stride, operation, use_bounded_activation):
  """'avg_pool_3x3' / 'max_pool_3x3' with SAME padding."""
  kind = operation.split('_')[0]
  kernel = _kernel_size(operation)
  if use_bounded_activation:
    net = tf.nn.relu6(net)
  if kind == 'avg':
    return slim.avg_pool2d(net, kernel, stride=stride, padding='SAME')
  if kind == 'max':
    return slim.max_pool2d(net, kernel, stride=stride, padding='SAME')
  raise NotImplementedError('Unimplemented pooling type: %s' % kind)


class NasNetABaseCell(object):
  """A cell defined by its ten operations and the hidden states they read.

  Args:
    num_conv_filters: filters of a cell at filter scaling 1.
    operations: ten operation names; entries 2k and 2k+1 are the left and right input of new
      state k.
    used_hiddenstates: one flag per hidden state (2 inputs + 5 new); unused ones form the output.
    hiddenstate_indices: the hidden state each of the ten operations reads.
    drop_path_keep_prob: final keep probability of drop-path (1.0 disables it).
    total_num_cells: number of cells of the network, to scale drop-path by depth.
    total_training_steps: steps over which drop-path ramps in.
    use_bounded_activation: ReLU6 and clipping instead of ReLU.
  """

  def __init__(self, num_conv_filters, operations, used_hiddenstates, hiddenstate_indices,
               drop_path_keep_prob, total_num_cells, total_training_steps,
               use_bounded_activation=False):
    self._num_conv_filters = num_conv_filters
    self._operations = operations
    self._used_hiddenstates = used_hiddenstates
    self._hiddenstate_indices = hiddenstate_indices
    self._drop_path_keep_prob = drop_path_keep_prob
    self._total_num_cells = total_num_cells
    self._total_training_steps = total_training_steps
    self._use_bounded_activation = use_bounded_activation

  def _reduce_prev_layer(self, prev_layer, curr_layer):
    """Matches the previous cell's output to this cell's resolution and filter count."""
    if prev_layer is None:
      return curr_layer
    activation_fn = _activation(self._use_bounded_activation)
    if int(curr_layer.shape[2]) != int(prev_layer.shape[2]):
      prev_layer = activation_fn(prev_layer)
      return factorized_reduction(prev_layer, self._filter_size, stride=2)
    if get_channel_dim(prev_layer.shape) != self._filter_size:
      prev_layer = activation_fn(prev_layer)
      prev_layer = slim.conv2d(prev_layer, self._filter_size, 1, scope='prev_1x1')
      return slim.batch_norm(prev_layer, scope='prev_bn')
    return prev_layer

  def _cell_base(self, net, prev_layer):
    """The two input hidden states: [1x1-projected input, adapted previous output]."""
    prev_layer = self._reduce_prev_layer(prev_layer, net)
    net = _activation(self._use_bounded_activation)(net)
    net = slim.conv2d(net, self._filter_size, 1, scope='1x1')
    net = slim.batch_norm(net, scope='beginning_bn')
    return [net, prev_layer]

  def __call__(self, net, scope=None, filter_scaling=1, stride=1, prev_layer=None, cell_num=-1,
               current_step=None):
    """Builds the cell in variable scope `scope` and returns its output."""
    self._cell_num = cell_num
    self._filter_scaling = filter_scaling
    # The drop-path keep probability depends only on the cell and the step: built once per cell.
    self._cell_keep_prob = None
    self._filter_size = int(self._num_conv_filters * filter_scaling)

    with tf.variable_scope(scope):
      states = self._cell_base(net, prev_layer)
      for iteration in range(5):
        with tf.variable_scope('comb_iter_{}'.format(iteration)):
          branches = []
          for side, position in (('left', 2 * iteration), ('right', 2 * iteration + 1)):
            index = self._hiddenstate_indices[position]
            with tf.variable_scope(side):
              branches.append(self._apply_conv_operation(
                  states[index], self._operations[position], stride,
                  is_from_original_input=index < 2, current_step=current_step))
          with tf.variable_scope('combine'):
            new_state = branches[0] + branches[1]
            if self._use_bounded_activation:
              new_state = tf.nn.relu6(new_state)
          states.append(new_state)

      with tf.variable_scope('cell_output'):
        return self._combine_unused_states(states)

  def _apply_conv_operation(self, net, operation, stride, is_from_original_input, current_step):
    """One operation of the cell, followed by drop-path unless it is the identity."""
    # New states already have the cell's output resolution: only the inputs are strided.
    if not is_from_original_input:
      stride = 1
    input_filters = get_channel_dim(net.shape)
    filter_size = self._filter_size
    bounded = self._use_bounded_activation
    if 'separable' in operation:
      net = _stacked_separable_conv(net, stride, operation, filter_size, bounded)
      if bounded:
        net = tf.clip_by_value(net, -CLIP_BY_VALUE_CAP, CLIP_BY_VALUE_CAP)
    elif operation == 'none':
      if bounded:
        net = tf.nn.relu6(net)
      # The identity still has to match the cell's stride and filter count.
      if stride > 1 or input_filters != filter_size:
        if not bounded:
          net = tf.nn.relu(net)
        net = slim.conv2d(net, filter_size, 1, stride=stride, scope='1x1')
        net = slim.batch_norm(net, scope='bn_1')
        if bounded:
          net = tf.clip_by_value(net, -CLIP_BY_VALUE_CAP, CLIP_BY_VALUE_CAP)
    elif 'pool' in operation:
      net = _pooling(net, stride, operation, bounded)
      if input_filters != filter_size:
        net = slim.conv2d(net, filter_size, 1, stride=1, scope='1x1')
        net = slim.batch_norm(net, scope='bn_1')
      if bounded:
        net = tf.clip_by_value(net, -CLIP_BY_VALUE_CAP, CLIP_BY_VALUE_CAP)
    else:
      raise ValueError('Unimplemented operation %s' % operation)

    if operation != 'none':
      net = self._apply_drop_path(net, current_step=current_step)
    return net

  def _combine_unused_states(self, states):
    """Concatenates the unused states, first reducing those whose shape differs from the last."""
    if len(states) != len(self._used_hiddenstates):
      raise ValueError('The cell has %d hidden states but %d used flags'
                       % (len(states), len(self._used_hiddenstates)))
    final_size = int(states[-1].shape[2])
    final_filters = get_channel_dim(states[-1].shape)
    outputs = []
    for index, (state, used) in enumerate(zip(states, self._used_hiddenstates)):
      if used:
        continue
      size = int(state.shape[2])
      if size != final_size or get_channel_dim(state.shape) != final_filters:
        with tf.variable_scope('reduction_{}'.format(index)):
          state = factorized_reduction(state, final_filters, 2 if size != final_size else 1)
      outputs.append(state)
    return tf.concat(outputs, axis=get_channel_index())

  def _drop_path_keep_prob_now(self, current_step):
    """Keep probability for this cell: lower in deeper cells and ramping in over training."""
    if self._cell_num == -1:
      raise ValueError('drop-path needs the cell number (cell_num) of the cell')
    # Deeper cells drop more: the full rate is reached only at the last cell.
    depth_ratio = (self._cell_num + 1) / float(self._total_num_cells)
    keep_prob = 1 - depth_ratio * (1 - self._drop_path_keep_prob)
    # Dropping starts at zero and reaches the full rate after total_training_steps.
    if current_step is None:
      current_step = tf.train.get_or_create_global_step()
    progress = tf.minimum(1.0, tf.cast(current_step, tf.float32) / self._total_training_steps)
    return 1 - progress * (1 - keep_prob)

  def _apply_drop_path(self, net, current_step=None):
    if self._drop_path_keep_prob < 1.0:
      if getattr(self, '_cell_keep_prob', None) is None:
        self._cell_keep_prob = self._drop_path_keep_prob_now(current_step)
      net = drop_path(net, self._cell_keep_prob)
    return net


class NasNetANormalCell(NasNetABaseCell):
  """The NASNet-A normal cell (keeps the resolution)."""

  def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells, total_training_steps,
               use_bounded_activation=False):
    operations = ['separable_5x5_2', 'separable_3x3_2',
                  'separable_5x5_2', 'separable_3x3_2',
                  'avg_pool_3x3', 'none',
                  'avg_pool_3x3', 'avg_pool_3x3',
                  'separable_3x3_2', 'none']
    used_hiddenstates = [1, 0, 0, 0, 0, 0, 0]
    hiddenstate_indices = [0, 1, 1, 1, 0, 1, 1, 1, 0, 0]
    super(NasNetANormalCell, self).__init__(
        num_conv_filters, operations, used_hiddenstates, hiddenstate_indices,
        drop_path_keep_prob, total_num_cells, total_training_steps, use_bounded_activation)


class NasNetAReductionCell(NasNetABaseCell):
  """The NASNet-A reduction cell (built with stride 2)."""

  def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells, total_training_steps,
               use_bounded_activation=False):
    operations = ['separable_5x5_2', 'separable_7x7_2',
                  'max_pool_3x3', 'separable_7x7_2',
                  'avg_pool_3x3', 'separable_5x5_2',
                  'none', 'avg_pool_3x3',
                  'separable_3x3_2', 'max_pool_3x3']
    used_hiddenstates = [1, 1, 1, 0, 0, 0, 0]
    hiddenstate_indices = [0, 1, 0, 1, 0, 1, 3, 2, 2, 0]
    super(NasNetAReductionCell, self).__init__(
        num_conv_filters, operations, used_hiddenstates, hiddenstate_indices,
        drop_path_keep_prob, total_num_cells, total_training_steps, use_bounded_activation)


class PNasNetNormalCell(NasNetABaseCell):
  """The PNASNet-5 cell; PNASNet reduces resolution by building it with stride 2."""

  def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells, total_training_steps,
               use_bounded_activation=False):
    operations = ['separable_5x5_2', 'max_pool_3x3',
                  'separable_7x7_2', 'max_pool_3x3',
                  'separable_5x5_2', 'separable_3x3_2',
                  'separable_3x3_2', 'max_pool_3x3',
                  'separable_3x3_2', 'none']
    used_hiddenstates = [1, 1, 0, 0, 0, 0, 0]
    hiddenstate_indices = [1, 1, 0, 0, 0, 0, 4, 0, 1, 0]
    super(PNasNetNormalCell, self).__init__(
        num_conv_filters, operations, used_hiddenstates, hiddenstate_indices,
        drop_path_keep_prob, total_num_cells, total_training_steps, use_bounded_activation)
