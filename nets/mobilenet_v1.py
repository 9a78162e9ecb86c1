"""MobileNet V1: depthwise-separable convolutions for mobile vision.

Andrew G. Howard, Menglong Zhu, Bo Chen, Dmitry Kalenichenko, Weijun Wang, Tobias Weyand,
Marco Andreetto, Hartwig Adam. "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications", 2017. https://arxiv.org/abs/1704.04861

The trunk is one full 3x3 convolution followed by 13 depthwise-separable blocks (a 3x3 depthwise
convolution then a 1x1 pointwise convolution, each with batch norm and ReLU6). Variable names
(`MobilenetV1/Conv2d_<i>_depthwise`, `..._pointwise`, `Logits/Conv2d_1c_1x1`) are those of the
published checkpoints.
"""
import collections
import functools

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import net_utils

_fixed_padding = net_utils.fixed_padding
_reduced_kernel_size_for_small_input = net_utils.reduced_kernel_size_for_small_input


class MobilenetV1Error(ValueError):
  """A bad argument to a MobileNet V1 builder (a ValueError, as in the original)."""


# One layer of the trunk. `Conv` is a full convolution, `DepthSepConv` a depthwise 3x3 followed by
# a pointwise 1x1 convolution; `depth` is the number of output channels before the multiplier.
Conv = collections.namedtuple('Conv', ['kernel', 'stride', 'depth'])
DepthSepConv = collections.namedtuple('DepthSepConv', ['kernel', 'stride', 'depth'])

# Table 1 of the paper.
MOBILENETV1_CONV_DEFS = [
    Conv(kernel=[3, 3], stride=2, depth=32),
    DepthSepConv(kernel=[3, 3], stride=1, depth=64),
    DepthSepConv(kernel=[3, 3], stride=2, depth=128),
    DepthSepConv(kernel=[3, 3], stride=1, depth=128),
    DepthSepConv(kernel=[3, 3], stride=2, depth=256),
    DepthSepConv(kernel=[3, 3], stride=1, depth=256),
    DepthSepConv(kernel=[3, 3], stride=2, depth=512),
    DepthSepConv(kernel=[3, 3], stride=1, depth=512),
    DepthSepConv(kernel=[3, 3], stride=1, depth=512),
    DepthSepConv(kernel=[3, 3], stride=1, depth=512),
    DepthSepConv(kernel=[3, 3], stride=1, depth=512),
    DepthSepConv(kernel=[3, 3], stride=1, depth=512),
    DepthSepConv(kernel=[3, 3], stride=2, depth=1024),
    DepthSepConv(kernel=[3, 3], stride=1, depth=1024),
]


def mobilenet_v1_base(inputs,
                      final_endpoint='Conv2d_13_pointwise',
                      min_depth=8,
                      depth_multiplier=1.0,
                      conv_defs=None,
                      output_stride=None,
                      use_explicit_padding=False,
                      scope=None):
  """Builds the MobileNet V1 trunk from the input up to `final_endpoint`.

  Args:
    inputs: a [batch, height, width, channels] tensor.
    final_endpoint: the end point to stop at: `Conv2d_0`, `Conv2d_<i>_depthwise` or
      `Conv2d_<i>_pointwise` for i in 1..13.
    min_depth: no layer gets fewer channels than this (when depth_multiplier < 1).
    depth_multiplier: scales the channel count of every layer; must be > 0.
    conv_defs: list of `Conv` / `DepthSepConv` tuples; defaults to MOBILENETV1_CONV_DEFS.
    output_stride: None, 8, 16 or 32: once the accumulated stride reaches it, the remaining strides
      become atrous rates so the feature map keeps that resolution.
    use_explicit_padding: pad explicitly and convolve with VALID instead of using SAME padding.
    scope: optional variable scope.

  Returns:
    (tensor at final_endpoint, dict of end points).

  Raises:
    ValueError: bad final_endpoint, depth_multiplier <= 0, output_stride not in {8, 16, 32} or an
      unknown layer type in conv_defs.
  """
  def depth(channels):
    return max(int(channels * depth_multiplier), min_depth)

  end_points = {}
  if depth_multiplier <= 0:
    raise MobilenetV1Error('depth_multiplier is not greater than zero.')
  if conv_defs is None:
    conv_defs = MOBILENETV1_CONV_DEFS
  if output_stride is not None and output_stride not in [8, 16, 32]:
    raise MobilenetV1Error('Only allowed output_stride values are 8, 16, 32.')

  padding = 'VALID' if use_explicit_padding else 'SAME'
  with tf.variable_scope(scope, 'MobilenetV1', [inputs]):
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d], padding=padding):
      # Stride accumulated so far, and the atrous rate of the next layer once output_stride is hit.
      current_stride = 1
      rate = 1
      net = inputs
      for i, conv_def in enumerate(conv_defs):
        end_point_base = 'Conv2d_%d' % i
        if output_stride is not None and current_stride == output_stride:
          layer_stride = 1
          layer_rate = rate
          rate *= conv_def.stride
        else:
          layer_stride = conv_def.stride
          layer_rate = 1
          current_stride *= conv_def.stride

        if isinstance(conv_def, Conv):
          end_point = end_point_base
          if use_explicit_padding:
            net = _fixed_padding(net, conv_def.kernel)
          net = slim.conv2d(net, depth(conv_def.depth), conv_def.kernel, stride=conv_def.stride,
                            scope=end_point)
          end_points[end_point] = net
          if end_point == final_endpoint:
            return net, end_points

        elif isinstance(conv_def, DepthSepConv):
          end_point = end_point_base + '_depthwise'
          if use_explicit_padding:
            net = _fixed_padding(net, conv_def.kernel, layer_rate)
          # num_outputs=None: depthwise only; the 1x1 projection is a separate, named layer.
          net = slim.separable_conv2d(net, None, conv_def.kernel, depth_multiplier=1,
                                      stride=layer_stride, rate=layer_rate, scope=end_point)
          end_points[end_point] = net
          if end_point == final_endpoint:
            return net, end_points

          end_point = end_point_base + '_pointwise'
          net = slim.conv2d(net, depth(conv_def.depth), [1, 1], stride=1, scope=end_point)
          end_points[end_point] = net
          if end_point == final_endpoint:
            return net, end_points
        else:
          raise MobilenetV1Error('Unknown convolution type %s for layer %d'
                                 % (type(conv_def).__name__, i))
  raise MobilenetV1Error('Unknown final endpoint %s' % final_endpoint)


def mobilenet_v1(inputs,
                 num_classes=1000,
                 dropout_keep_prob=0.999,
                 is_training=True,
                 min_depth=8,
                 depth_multiplier=1.0,
                 conv_defs=None,
                 prediction_fn=slim.softmax,
                 spatial_squeeze=True,
                 reuse=None,
                 scope='MobilenetV1',
                 global_pool=False):
  """MobileNet V1 classifier: trunk, average pool, dropout, 1x1 convolution logits.

  Args:
    inputs: a [batch, height, width, 3] tensor.
    num_classes: number of classes; 0 or None omits the logits layer and returns the pooled
      features [batch, 1, 1, channels].
    dropout_keep_prob: keep probability of the dropout before the logits.
    is_training: batch norm and dropout mode.
    min_depth, depth_multiplier, conv_defs: as in `mobilenet_v1_base`.
    prediction_fn: applied to the logits to give end point `Predictions` (None to skip).
    spatial_squeeze: squeeze H and W so logits are [batch, num_classes].
    reuse: reuse the variables of the scope.
    scope: variable scope.
    global_pool: average over the whole feature map (any input size) instead of a 7x7 VALID pool.

  Returns:
    (logits, or the pooled features when num_classes is 0/None; dict of end points).

  Raises:
    ValueError: the input is not of rank 4.
  """
  input_shape = inputs.get_shape().as_list()
  if len(input_shape) != 4:
    raise MobilenetV1Error('Invalid input tensor rank, expected 4, was: %d' % len(input_shape))

  with tf.variable_scope(scope, 'MobilenetV1', [inputs], reuse=reuse) as scope:
    with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
      net, end_points = mobilenet_v1_base(inputs, scope=scope, min_depth=min_depth,
                                          depth_multiplier=depth_multiplier, conv_defs=conv_defs)
      with tf.variable_scope('Logits'):
        if global_pool:
          net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
          end_points['global_pool'] = net
        else:
          kernel_size = _reduced_kernel_size_for_small_input(net, [7, 7])
          net = slim.avg_pool2d(net, kernel_size, padding='VALID', scope='AvgPool_1a')
          end_points['AvgPool_1a'] = net
        if not num_classes:
          return net, end_points
        net = slim.dropout(net, keep_prob=dropout_keep_prob, scope='Dropout_1b')
        logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                             scope='Conv2d_1c_1x1')
        if spatial_squeeze:
          logits = tf.squeeze(logits, [1, 2], name='SpatialSqueeze')
      end_points['Logits'] = logits
      if prediction_fn:
        end_points['Predictions'] = prediction_fn(logits, scope='Predictions')
  return logits, end_points


mobilenet_v1.default_image_size = 224


def wrapped_partial(func, *args, **kwargs):
  """functools.partial that keeps the function's name and attributes (default_image_size)."""
  partial_func = functools.partial(func, *args, **kwargs)
  functools.update_wrapper(partial_func, func)
  return partial_func


mobilenet_v1_075 = wrapped_partial(mobilenet_v1, depth_multiplier=0.75)
mobilenet_v1_050 = wrapped_partial(mobilenet_v1, depth_multiplier=0.50)
mobilenet_v1_025 = wrapped_partial(mobilenet_v1, depth_multiplier=0.25)


def mobilenet_v1_arg_scope(is_training=True,
                           weight_decay=0.00004,
                           stddev=0.09,
                           regularize_depthwise=False,
                           batch_norm_decay=0.9997,
                           batch_norm_epsilon=0.001,
                           batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS,
                           normalizer_fn=slim.batch_norm):
  """Layer defaults of MobileNet V1: truncated-normal init, ReLU6, batch norm with scale (gamma).

  Args:
    is_training: batch norm mode; None leaves it to an outer scope (or to `mobilenet_v1`).
    weight_decay: L2 weight decay of the (full and pointwise) convolution weights.
    stddev: standard deviation of the truncated-normal weight initializer.
    regularize_depthwise: also apply the weight decay to depthwise weights.
    batch_norm_decay: moving-average decay of batch norm.
    batch_norm_epsilon: batch norm epsilon.
    batch_norm_updates_collections: collection of the batch norm update ops.
    normalizer_fn: normalization layer of the convolutions.

  Returns:
    An arg_scope.
  """
  batch_norm_params = {
      'center': True,
      'scale': True,
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'updates_collections': batch_norm_updates_collections,
  }
  if is_training is not None:
    batch_norm_params['is_training'] = is_training

  weights_init = tf.truncated_normal_initializer(stddev=stddev)
  regularizer = slim.l2_regularizer(weight_decay)
  depthwise_regularizer = regularizer if regularize_depthwise else None
  with slim.arg_scope([slim.conv2d, slim.separable_conv2d],
                      weights_initializer=weights_init,
                      activation_fn=tf.nn.relu6,
                      normalizer_fn=normalizer_fn):
    with slim.arg_scope([slim.batch_norm], **batch_norm_params):
      with slim.arg_scope([slim.conv2d], weights_regularizer=regularizer):
        with slim.arg_scope([slim.separable_conv2d],
                            weights_regularizer=depthwise_regularizer) as sc:
          return sc
