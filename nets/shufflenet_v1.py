"""ShuffleNet V1 in the slim idiom.

Zhang, Zhou, Lin, Sun: "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile
Devices", CVPR 2018, https://arxiv.org/abs/1707.01083.

Layout (paper, Table 1), for a 224 x 224 input:

  Conv1      3x3 conv, stride 2, 24 channels              112 x 112
  MaxPool    3x3, stride 2                                  56 x 56
  Stage2     1 unit of stride 2, then 3 of stride 1         28 x 28 x c
  Stage3     1 unit of stride 2, then 7 of stride 1         14 x 14 x 2c
  Stage4     1 unit of stride 2, then 3 of stride 1          7 x 7 x 4c
  pooling, 1000-way classifier

where c is 144, 200, 240, 272, 384 for 1, 2, 3, 4, 8 groups at width 1.0x. A unit (Figure 2) is a
1x1 group convolution to c / 4 bottleneck channels (batch norm, relu), a channel shuffle, a 3x3
depthwise convolution (batch norm, no relu), a 1x1 group convolution (batch norm), then either the
identity shortcut added (stride 1) or a 3x3 average pool of the input concatenated (stride 2), and a
relu. The first 1x1 convolution of Stage2 is not grouped: it has only 24 input channels.

ShuffleNet was never part of the original slim; the scope names below are this library's own.
No published checkpoint uses them.
"""

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import shufflenet_utils


class ShufflenetConfigError(ValueError):
  """An unsupported number of groups or width multiplier."""


# Output channels of Stage2 at width 1.0x, by number of groups (paper, Table 1); every later stage
# doubles them.
STAGE2_CHANNELS = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
CONV1_CHANNELS = 24
# Units per stage (the first one of each has stride 2).
STAGE_UNITS = (('Stage2', 4), ('Stage3', 8), ('Stage4', 4))
END_POINTS = (['Conv1', 'MaxPool']
              + ['%s/Unit%d' % (stage, unit) for stage, units in STAGE_UNITS
                 for unit in range(1, units + 1)])


def _round_to_multiple(value, divisor):
  return max(divisor, int(value / divisor + 0.5) * divisor)


def stage_channels(groups, depth_multiplier):
  """[Conv1, Stage2, Stage3, Stage4] output channels for `groups` and width `depth_multiplier`.

  "ShuffleNet s x" scales every layer's filters by s (paper, section 4.1.1). Where s x c is not a
  whole number of groups of bottleneck channels, it is rounded to the nearest multiple of 4 * groups
  (the bottleneck has a quarter of a unit's channels and must split into `groups`); at the widths of
  the paper's tables (0.25x, 0.5x, 1x, 1.5x, 2x with 3 groups, and 1x with any groups) no
  rounding happens.
  """
  if groups not in STAGE2_CHANNELS:
    raise ShufflenetConfigError('ShuffleNet V1 groups must be one of %s, not %r'
                                % (sorted(STAGE2_CHANNELS), groups))
  if not depth_multiplier > 0:
    raise ShufflenetConfigError('depth_multiplier must be greater than zero, not %r'
                                % (depth_multiplier,))
  stage2 = _round_to_multiple(STAGE2_CHANNELS[groups] * depth_multiplier, 4 * groups)
  conv1 = _round_to_multiple(CONV1_CHANNELS * depth_multiplier, groups)
  return [conv1, stage2, 2 * stage2, 4 * stage2]


def shufflenet_unit(inputs, depth, groups, stride, group_first_conv=True, scope=None):
  """One ShuffleNet unit (paper, Figure 2 (b) for stride 1, (c) for stride 2).

  Args:
    inputs: [batch, height, width, in_channels] tensor.
    depth: output channels of the unit. With stride 2 the residual branch produces
      depth - in_channels channels and the pooled input fills the rest.
    groups: groups of the two 1x1 convolutions.
    stride: 1 or 2.
    group_first_conv: False for the first unit of Stage2, whose first 1x1 convolution is dense.
    scope: variable scope.

  Returns:
    The unit's output, [batch, height / stride, width / stride, depth].
  """
  with tf.variable_scope(scope, 'Unit', [inputs]):
    in_depth = inputs.shape.as_list()[-1]
    residual_depth = depth - in_depth if stride == 2 else depth
    first_groups = groups if group_first_conv else 1
    net = shufflenet_utils.grouped_conv2d(inputs, depth // 4, [1, 1], groups=first_groups,
                                          scope='Conv2d_0a_1x1')
    # Shuffling only helps after a grouped convolution; after a dense one it is a fixed
    # permutation the next layer's weights absorb.
    if first_groups > 1:
      net = shufflenet_utils.channel_shuffle(net, groups)
    net = slim.separable_conv2d(net, None, [3, 3], depth_multiplier=1, stride=stride,
                                activation_fn=None, scope='DepthwiseConv2d_0b_3x3')
    net = shufflenet_utils.grouped_conv2d(net, residual_depth, [1, 1], groups=groups,
                                          activation_fn=None, scope='Conv2d_0c_1x1')
    if stride == 1:
      if in_depth != depth:
        raise ValueError('a stride-1 ShuffleNet unit needs %d input channels, got %d'
                         % (depth, in_depth))
      net = tf.add(inputs, net, name='Add')
    else:
      shortcut = slim.avg_pool2d(inputs, [3, 3], stride=2, padding='SAME', scope='AvgPool_0a_3x3')
      net = tf.concat([shortcut, net], axis=3, name='Concat')
    return tf.nn.relu(net, name='Relu')


def shufflenet_v1_base(inputs,
                       final_endpoint='Stage4/Unit4',
                       groups=3,
                       depth_multiplier=1.0,
                       scope=None):
  """ShuffleNet V1 from the input to `final_endpoint` (no pooling, no classifier).

  Args:
    inputs: [batch, height, width, 3] tensor.
    final_endpoint: the end point to stop at: 'Conv1', 'MaxPool', 'Stage2/Unit1' ... 'Stage2/Unit4',
      'Stage3/Unit1' ... 'Stage3/Unit8', 'Stage4/Unit1' ... 'Stage4/Unit4'.
    groups: groups of the pointwise convolutions, one of 1, 2, 3, 4, 8.
    depth_multiplier: width multiplier s of "ShuffleNet s x".
    scope: optional variable scope.

  Returns:
    (net, end_points): the tensor at `final_endpoint` and a dict of every end point built so far.

  Raises:
    ValueError (ShufflenetConfigError): unknown final_endpoint, groups or depth_multiplier.
  """
  if final_endpoint not in END_POINTS:
    raise ShufflenetConfigError('Unknown final endpoint %s; valid: %s'
                                % (final_endpoint, ', '.join(END_POINTS)))
  depths = stage_channels(groups, depth_multiplier)
  end_points = {}
  with shufflenet_utils.network_scope(scope, 'ShufflenetV1', inputs):
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d, shufflenet_utils.grouped_conv2d],
                        padding='SAME'):
      end_point = 'Conv1'
      net = slim.conv2d(inputs, depths[0], [3, 3], stride=2, scope=end_point)
      end_points[end_point] = net  # 112 x 112 x 24
      if end_point == final_endpoint:
        return net, end_points

      end_point = 'MaxPool'
      net = slim.max_pool2d(net, [3, 3], stride=2, padding='SAME', scope=end_point)
      end_points[end_point] = net  # 56 x 56 x 24
      if end_point == final_endpoint:
        return net, end_points

      # 28 x 28 x c, 14 x 14 x 2c, 7 x 7 x 4c
      for (stage, units), depth in zip(STAGE_UNITS, depths[1:]):
        with tf.variable_scope(stage):
          for unit in range(1, units + 1):
            end_point = '%s/Unit%d' % (stage, unit)
            net = shufflenet_unit(net, depth, groups, stride=2 if unit == 1 else 1,
                                  group_first_conv=(end_point != 'Stage2/Unit1'),
                                  scope='Unit%d' % unit)
            end_points[end_point] = net
            if end_point == final_endpoint:
              return net, end_points
  return net, end_points


def shufflenet_v1(inputs,
                  num_classes=1000,
                  is_training=True,
                  dropout_keep_prob=1.0,
                  groups=3,
                  depth_multiplier=1.0,
                  prediction_fn=slim.softmax,
                  spatial_squeeze=True,
                  reuse=None,
                  scope='ShufflenetV1',
                  global_pool=False):
  """ShuffleNet V1 classifier (Zhang et al., 2017).

  Args:
    inputs: [batch, height, width, 3] tensor.
    num_classes: number of classes. If 0 or None, the pooled features [batch, 1, 1, 4c] are returned
      in place of logits.
    is_training: whether batch norm and dropout are in training mode.
    dropout_keep_prob: keep probability of the dropout before the classifier (the paper uses no
      dropout, hence 1.0).
    groups: groups of the pointwise convolutions: 1, 2, 3, 4 or 8.
    depth_multiplier: width multiplier s of "ShuffleNet s x".
    prediction_fn: function turning logits into predictions (end point 'Predictions').
    spatial_squeeze: if True, logits are [batch, num_classes]; else [batch, 1, 1, num_classes].
    reuse: whether to reuse the variables (scope must be given).
    scope: variable scope.
    global_pool: if True, average over the whole feature map (any input size; end point
      'global_pool'); if False, a 7 x 7 average pool that reduces a 224 input to 1 x 1 (end point
      'AvgPool').

  Returns:
    (logits, end_points).
  """
  if len(inputs.shape) != 4:
    raise ValueError('Invalid input tensor rank, expected 4, was: %d' % len(inputs.shape))
  with tf.variable_scope(scope, 'ShufflenetV1', [inputs], reuse=reuse) as scope:
    with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
      net, end_points = shufflenet_v1_base(inputs, groups=groups,
                                           depth_multiplier=depth_multiplier, scope=scope)
      return shufflenet_utils.classification_head(
          net, end_points, num_classes, dropout_keep_prob, prediction_fn, spatial_squeeze,
          global_pool)


shufflenet_v1.default_image_size = 224


wrapped_partial = shufflenet_utils.wrapped_partial


shufflenet_v1_g1 = wrapped_partial(shufflenet_v1, groups=1)
shufflenet_v1_g2 = wrapped_partial(shufflenet_v1, groups=2)
shufflenet_v1_g4 = wrapped_partial(shufflenet_v1, groups=4)
shufflenet_v1_g8 = wrapped_partial(shufflenet_v1, groups=8)
shufflenet_v1_050 = wrapped_partial(shufflenet_v1, depth_multiplier=0.5)
shufflenet_v1_150 = wrapped_partial(shufflenet_v1, depth_multiplier=1.5)
shufflenet_v1_200 = wrapped_partial(shufflenet_v1, depth_multiplier=2.0)


def shufflenet_v1_arg_scope(is_training=True,
                            weight_decay=4e-5,
                            stddev=0.09,
                            regularize_depthwise=False,
                            batch_norm_decay=0.9997,
                            batch_norm_epsilon=0.001,
                            batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS):
  """Layer defaults of ShuffleNet V1: batch norm (with scale) after every convolution, L2 decay.

  The paper trains with weight decay 4e-5. `is_training` becomes the default of `slim.batch_norm`
  rather than an explicit batch-norm parameter, so the `is_training` given to `shufflenet_v1`
  always wins inside the network (building an eval graph under the default arg scope gives
  inference-mode batch norm).

  Args:
    is_training: default training mode of batch norm; None leaves it unset.
    weight_decay: L2 regularisation of convolution weights.
    stddev: standard deviation of the truncated-normal weight initializer.
    regularize_depthwise: whether depthwise weights are regularised too.
    batch_norm_decay: moving-average decay of batch norm.
    batch_norm_epsilon: batch norm epsilon.
    batch_norm_updates_collections: collection of the moving-average update ops.

  Returns:
    An arg scope.
  """
  return shufflenet_utils.shufflenet_arg_scope(
      is_training=is_training, weight_decay=weight_decay, stddev=stddev,
      regularize_depthwise=regularize_depthwise, batch_norm_decay=batch_norm_decay,
      batch_norm_epsilon=batch_norm_epsilon,
      batch_norm_updates_collections=batch_norm_updates_collections)
