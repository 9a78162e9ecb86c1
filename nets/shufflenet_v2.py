"""ShuffleNet V2 in the slim idiom.

Ma, Zhang, Zheng, Sun: "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
ECCV 2018, https://arxiv.org/abs/1807.11164.

Layout (paper, Table 5), for a 224 x 224 input and widths 0.5x / 1x / 1.5x / 2x:

  Conv1      3x3 conv, stride 2, 24 channels                 112 x 112
  MaxPool    3x3, stride 2                                     56 x 56
  Stage2     1 unit of stride 2, then 3 of stride 1            28 x 28 x 48 / 116 / 176 / 244
  Stage3     1 unit of stride 2, then 7 of stride 1            14 x 14 x 96 / 232 / 352 / 488
  Stage4     1 unit of stride 2, then 3 of stride 1             7 x 7 x 192 / 464 / 704 / 976
  Conv5      1x1 conv                                           7 x 7 x 1024 / 1024 / 1024 / 2048
  pooling, 1000-way classifier

A stride-1 unit (Figure 3 (c)) splits its channels in two halves: the first passes unchanged, the
second goes through 1x1 conv (batch norm, relu), 3x3 depthwise conv (batch norm, no relu), 1x1 conv
(batch norm, relu); the halves are concatenated and the channels shuffled with 2 groups. A stride-2
unit (Figure 3 (d)) has no split: both branches see the whole input, one a 3x3 depthwise conv of
stride 2 and a 1x1 conv, the other the same three layers as above with a depthwise stride of 2; each
branch gives half of the output channels.

ShuffleNet was never part of the original slim; the scope names below are this library's own.
No published checkpoint uses them.
"""

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import shufflenet_utils


class ShufflenetConfigError(ValueError):
  """An unsupported width multiplier."""


# Output channels of [Conv1, Stage2, Stage3, Stage4, Conv5] per width (paper, Table 5). The paper
# gives no rule between these widths, so only these four exist.
STAGE_CHANNELS = {
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}
# Units per stage (the first one of each has stride 2).
STAGE_UNITS = (('Stage2', 4), ('Stage3', 8), ('Stage4', 4))
END_POINTS = (['Conv1', 'MaxPool']
              + ['%s/Unit%d' % (stage, unit) for stage, units in STAGE_UNITS
                 for unit in range(1, units + 1)]
              + ['Conv5'])


def stage_channels(depth_multiplier):
  """[Conv1, Stage2, Stage3, Stage4, Conv5] channels of "ShuffleNet V2 `depth_multiplier` x"."""
  try:
    return list(STAGE_CHANNELS[float(depth_multiplier)])
  except (KeyError, TypeError, ValueError):
    raise ShufflenetConfigError('ShuffleNet V2 depth_multiplier must be one of %s, not %r'
                                % (sorted(STAGE_CHANNELS), depth_multiplier)) from None


def _branch(inputs, depth, stride):
  """1x1 conv, 3x3 depthwise conv (stride), 1x1 conv: the branch every unit has."""
  net = slim.conv2d(inputs, depth, [1, 1], scope='Conv2d_0a_1x1')
  net = slim.separable_conv2d(net, None, [3, 3], depth_multiplier=1, stride=stride,
                              activation_fn=None, scope='DepthwiseConv2d_0b_3x3')
  return slim.conv2d(net, depth, [1, 1], scope='Conv2d_0c_1x1')


def shufflenet_v2_unit(inputs, depth, stride, scope=None):
  """One ShuffleNet V2 unit (paper, Figure 3 (c) for stride 1, (d) for stride 2).

  Args:
    inputs: [batch, height, width, in_channels] tensor (in_channels == depth for stride 1).
    depth: output channels (even).
    stride: 1 or 2.
    scope: variable scope.

  Returns:
    [batch, height / stride, width / stride, depth] tensor.
  """
  with tf.variable_scope(scope, 'Unit', [inputs]):
    in_depth = inputs.shape.as_list()[-1]
    branch_depth = depth // 2
    if stride == 1:
      if in_depth != depth:
        raise ValueError('a stride-1 ShuffleNet V2 unit needs %d input channels, got %d'
                         % (depth, in_depth))
      shortcut, residual = tf.split(inputs, 2, axis=3, name='Split')
      with tf.variable_scope('Branch_1'):
        residual = _branch(residual, branch_depth, stride=1)
    else:
      with tf.variable_scope('Branch_0'):
        shortcut = slim.separable_conv2d(inputs, None, [3, 3], depth_multiplier=1, stride=2,
                                         activation_fn=None, scope='DepthwiseConv2d_0a_3x3')
        shortcut = slim.conv2d(shortcut, branch_depth, [1, 1], scope='Conv2d_0b_1x1')
      with tf.variable_scope('Branch_1'):
        residual = _branch(inputs, branch_depth, stride=2)
    net = tf.concat([shortcut, residual], axis=3, name='Concat')
    return shufflenet_utils.channel_shuffle(net, 2)


def shufflenet_v2_base(inputs,
                       final_endpoint='Conv5',
                       depth_multiplier=1.0,
                       scope=None):
  """ShuffleNet V2 from the input to `final_endpoint` (no pooling, no classifier).

  Args:
    inputs: [batch, height, width, 3] tensor.
    final_endpoint: the end point to stop at: 'Conv1', 'MaxPool', 'Stage2/Unit1' ... 'Stage2/Unit4',
      'Stage3/Unit1' ... 'Stage3/Unit8', 'Stage4/Unit1' ... 'Stage4/Unit4', 'Conv5'.
    depth_multiplier: width of "ShuffleNet V2 s x": 0.5, 1.0, 1.5 or 2.0.
    scope: optional variable scope.

  Returns:
    (net, end_points): the tensor at `final_endpoint` and a dict of every end point built so far.

  Raises:
    ValueError (ShufflenetConfigError): unknown final_endpoint or depth_multiplier.
  """
  if final_endpoint not in END_POINTS:
    raise ShufflenetConfigError('Unknown final endpoint %s; valid: %s'
                                % (final_endpoint, ', '.join(END_POINTS)))
  depths = stage_channels(depth_multiplier)
  end_points = {}
  with shufflenet_utils.network_scope(scope, 'ShufflenetV2', inputs):
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d], padding='SAME'):
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

      # 28 x 28, 14 x 14, 7 x 7
      for (stage, units), depth in zip(STAGE_UNITS, depths[1:4]):
        with tf.variable_scope(stage):
          for unit in range(1, units + 1):
            end_point = '%s/Unit%d' % (stage, unit)
            net = shufflenet_v2_unit(net, depth, stride=2 if unit == 1 else 1,
                                     scope='Unit%d' % unit)
            end_points[end_point] = net
            if end_point == final_endpoint:
              return net, end_points

      end_point = 'Conv5'
      net = slim.conv2d(net, depths[4], [1, 1], scope=end_point)
      end_points[end_point] = net  # 7 x 7 x 1024
  return net, end_points


def shufflenet_v2(inputs,
                  num_classes=1000,
                  is_training=True,
                  dropout_keep_prob=1.0,
                  depth_multiplier=1.0,
                  prediction_fn=slim.softmax,
                  spatial_squeeze=True,
                  reuse=None,
                  scope='ShufflenetV2',
                  global_pool=False):
  """ShuffleNet V2 classifier (Ma et al., 2018).

  Args:
    inputs: [batch, height, width, 3] tensor.
    num_classes: number of classes. If 0 or None, the pooled Conv5 features [batch, 1, 1, 1024]
      (2048 at 2x) are returned in place of logits.
    is_training: whether batch norm and dropout are in training mode.
    dropout_keep_prob: keep probability of the dropout before the classifier (the paper's models
      use none, hence 1.0).
    depth_multiplier: 0.5, 1.0, 1.5 or 2.0.
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
  with tf.variable_scope(scope, 'ShufflenetV2', [inputs], reuse=reuse) as scope:
    with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
      net, end_points = shufflenet_v2_base(inputs, depth_multiplier=depth_multiplier, scope=scope)
      return shufflenet_utils.classification_head(
          net, end_points, num_classes, dropout_keep_prob, prediction_fn, spatial_squeeze,
          global_pool)


shufflenet_v2.default_image_size = 224


wrapped_partial = shufflenet_utils.wrapped_partial


shufflenet_v2_050 = wrapped_partial(shufflenet_v2, depth_multiplier=0.5)
shufflenet_v2_150 = wrapped_partial(shufflenet_v2, depth_multiplier=1.5)
shufflenet_v2_200 = wrapped_partial(shufflenet_v2, depth_multiplier=2.0)


def shufflenet_v2_arg_scope(is_training=True,
                            weight_decay=4e-5,
                            stddev=0.09,
                            regularize_depthwise=False,
                            batch_norm_decay=0.9997,
                            batch_norm_epsilon=0.001,
                            batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS):
  """Layer defaults of ShuffleNet V2: batch norm (with scale) after every convolution, L2 decay.

  Same defaults as ShuffleNet V1 (weight decay 4e-5, as both papers train with). `is_training` is
  the default of `slim.batch_norm`, so the `is_training` given to `shufflenet_v2` always wins
  inside the network.

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
