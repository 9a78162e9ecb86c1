"""Inception V2 (Inception with batch normalization, "BN-Inception").

Ioffe and Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal
Covariate Shift", ICML 2015, https://arxiv.org/abs/1502.03167
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import inception_utils

trunc_normal = inception_utils.trunc_normal

BASE_ENDPOINTS = (
    'Conv2d_1a_7x7', 'MaxPool_2a_3x3', 'Conv2d_2b_1x1', 'Conv2d_2c_3x3', 'MaxPool_3a_3x3',
    'Mixed_3b', 'Mixed_3c', 'Mixed_4a', 'Mixed_4b', 'Mixed_4c', 'Mixed_4d', 'Mixed_4e',
    'Mixed_5a', 'Mixed_5b', 'Mixed_5c')

# Modules that keep the spatial size: (Branch_0 1x1, Branch_1 (1x1, 3x3), Branch_2 (1x1, 3x3, 3x3),
# (Branch_3 pooling, its 1x1)). Depths before the depth multiplier.
_MODULES = {
    'Mixed_3b': (64, (64, 64), (64, 96), ('avg', 32)),
    'Mixed_3c': (64, (64, 96), (64, 96), ('avg', 64)),
    'Mixed_4b': (224, (64, 96), (96, 128), ('avg', 128)),
    'Mixed_4c': (192, (96, 128), (96, 128), ('avg', 128)),
    'Mixed_4d': (160, (128, 160), (128, 160), ('avg', 96)),
    'Mixed_4e': (96, (128, 192), (160, 192), ('avg', 96)),
    'Mixed_5b': (352, (192, 320), (160, 224), ('avg', 128)),
    # The last module pools with max, not average, in the published network.
    'Mixed_5c': (352, (192, 320), (192, 224), ('max', 128)),
}

# Modules that halve the spatial size: Branch_0 (1x1, 3x3/2), Branch_1 (1x1, 3x3, 3x3/2),
# Branch_2 a 3x3/2 max-pool.
_REDUCTIONS = {
    'Mixed_4a': ((128, 160), (64, 96)),
    'Mixed_5a': ((128, 192), (192, 256)),
}


def _check_depth_multiplier(depth_multiplier):
  if depth_multiplier <= 0:
    raise inception_utils.InceptionArgumentError('depth_multiplier is not greater than zero.')


def _module(net, end_point, depth, concat_axis):
  d0, (d1a, d1b), (d2a, d2b), (pool, d3) = _MODULES[end_point]
  with tf.variable_scope(end_point):
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(net, depth(d0), [1, 1], scope='Conv2d_0a_1x1')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(net, depth(d1a), [1, 1], weights_initializer=trunc_normal(0.09),
                             scope='Conv2d_0a_1x1')
      branch_1 = slim.conv2d(branch_1, depth(d1b), [3, 3], scope='Conv2d_0b_3x3')
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.conv2d(net, depth(d2a), [1, 1], weights_initializer=trunc_normal(0.09),
                             scope='Conv2d_0a_1x1')
      branch_2 = slim.conv2d(branch_2, depth(d2b), [3, 3], scope='Conv2d_0b_3x3')
      branch_2 = slim.conv2d(branch_2, depth(d2b), [3, 3], scope='Conv2d_0c_3x3')
    with tf.variable_scope('Branch_3'):
      if pool == 'avg':
        branch_3 = slim.avg_pool2d(net, [3, 3], scope='AvgPool_0a_3x3')
      else:
        branch_3 = slim.max_pool2d(net, [3, 3], scope='MaxPool_0a_3x3')
      branch_3 = slim.conv2d(branch_3, depth(d3), [1, 1], weights_initializer=trunc_normal(0.1),
                             scope='Conv2d_0b_1x1')
    return tf.concat(axis=concat_axis, values=[branch_0, branch_1, branch_2, branch_3])


def _reduction(net, end_point, depth, concat_axis):
  (d0a, d0b), (d1a, d1b) = _REDUCTIONS[end_point]
  with tf.variable_scope(end_point):
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(net, depth(d0a), [1, 1], weights_initializer=trunc_normal(0.09),
                             scope='Conv2d_0a_1x1')
      branch_0 = slim.conv2d(branch_0, depth(d0b), [3, 3], stride=2, scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(net, depth(d1a), [1, 1], weights_initializer=trunc_normal(0.09),
                             scope='Conv2d_0a_1x1')
      branch_1 = slim.conv2d(branch_1, depth(d1b), [3, 3], scope='Conv2d_0b_3x3')
      branch_1 = slim.conv2d(branch_1, depth(d1b), [3, 3], stride=2, scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.max_pool2d(net, [3, 3], stride=2, scope='MaxPool_1a_3x3')
    return tf.concat(axis=concat_axis, values=[branch_0, branch_1, branch_2])


def inception_v2_base(inputs,
                      final_endpoint='Mixed_5c',
                      min_depth=16,
                      depth_multiplier=1.0,
                      use_separable_conv=True,
                      data_format='NHWC',
                      include_root_block=True,
                      scope=None):
  """Builds the Inception V2 trunk, from the input up to `final_endpoint`.

  Args:
    inputs: a [batch, height, width, channels] tensor ([batch, channels, height, width] for NCHW).
    final_endpoint: the last end point to build, one of BASE_ENDPOINTS.
    min_depth: no convolution gets fewer channels than this (when depth_multiplier < 1).
    depth_multiplier: scales the channels of every convolution; must be > 0.
    use_separable_conv: the first 7x7 convolution is depthwise separable (as published) when True.
    data_format: 'NHWC' or 'NCHW'; NCHW requires use_separable_conv=False.
    include_root_block: if False, the layers before Mixed_3b are skipped.
    scope: variable scope (default 'InceptionV2').

  Returns:
    (tensor at final_endpoint, dict of end point name -> tensor).

  Raises:
    ValueError (InceptionArgumentError): bad depth_multiplier, data_format or final_endpoint.
  """
  _check_depth_multiplier(depth_multiplier)
  if data_format not in ('NHWC', 'NCHW'):
    raise inception_utils.InceptionArgumentError('data_format must be either NHWC or NCHW.')
  if data_format == 'NCHW' and use_separable_conv:
    raise inception_utils.InceptionArgumentError(
        'separable convolution only supports NHWC layout. NCHW data format can only be used '
        'when use_separable_conv is False.')
  inception_utils.check_final_endpoint(final_endpoint, BASE_ENDPOINTS)

  def depth(d):
    return max(int(d * depth_multiplier), min_depth)

  concat_axis = 3 if data_format == 'NHWC' else 1
  end_points = {}
  with tf.variable_scope(scope, 'InceptionV2', [inputs]):
    with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d],
                        stride=1, padding='SAME', data_format=data_format):
      net = inputs
      if include_root_block:
        end_point = 'Conv2d_1a_7x7'
        if use_separable_conv:
          # The depthwise step expands the 3 input channels by up to 8 (so 24 channels reach
          # the pointwise step), which is cheaper than a full 7x7 convolution.
          net = slim.separable_conv2d(
              inputs, depth(64), [7, 7], depth_multiplier=min(int(depth(64) / 3), 8),
              stride=2, padding='SAME', weights_initializer=trunc_normal(1.0), scope=end_point)
        else:
          net = slim.conv2d(inputs, depth(64), [7, 7], stride=2,
                            weights_initializer=trunc_normal(1.0), scope=end_point)
        end_points[end_point] = net  # 112 x 112 x 64
        if end_point == final_endpoint:
          return net, end_points
        root = (
            ('MaxPool_2a_3x3', lambda x, s: slim.max_pool2d(x, [3, 3], stride=2, scope=s)),
            ('Conv2d_2b_1x1', lambda x, s: slim.conv2d(
                x, depth(64), [1, 1], weights_initializer=trunc_normal(0.1), scope=s)),
            ('Conv2d_2c_3x3', lambda x, s: slim.conv2d(x, depth(192), [3, 3], scope=s)),
            ('MaxPool_3a_3x3', lambda x, s: slim.max_pool2d(x, [3, 3], stride=2, scope=s)),
        )
        for end_point, layer in root:
          net = layer(net, end_point)  # 56, 56, 56, 28 at a 224 input
          end_points[end_point] = net
          if end_point == final_endpoint:
            return net, end_points

      # 28 x 28 (Mixed_3*), 14 x 14 (Mixed_4*), 7 x 7 (Mixed_5*) at a 224 input.
      for end_point in BASE_ENDPOINTS[5:]:
        if end_point in _REDUCTIONS:
          net = _reduction(net, end_point, depth, concat_axis)
        else:
          net = _module(net, end_point, depth, concat_axis)
        end_points[end_point] = net
        if end_point == final_endpoint:
          return net, end_points
  raise inception_utils.InceptionArgumentError('Unknown final endpoint %s' % final_endpoint)


def inception_v2(inputs,
                 num_classes=1000,
                 is_training=True,
                 dropout_keep_prob=0.8,
                 min_depth=16,
                 depth_multiplier=1.0,
                 prediction_fn=slim.softmax,
                 spatial_squeeze=True,
                 reuse=None,
                 scope='InceptionV2',
                 global_pool=False):
  """Inception V2 classifier.

  Args:
    inputs: a [batch, height, width, 3] tensor (224 x 224 by default).
    num_classes: number of predicted classes; 0 or None skips the logits layer and returns the
      pooled features ([batch, 1, 1, 1024]).
    is_training: whether batch norm and dropout are in training mode.
    dropout_keep_prob: fraction of activations kept by dropout before the logits.
    min_depth: minimum number of channels of any convolution.
    depth_multiplier: scales the channels of every convolution; must be > 0.
    prediction_fn: maps logits to predictions (end point `Predictions`).
    spatial_squeeze: if True, logits are [batch, num_classes]; else [batch, 1, 1, num_classes].
    reuse: whether to reuse the network's variables (needs the same `scope`).
    scope: variable scope.
    global_pool: if True, average over the whole feature map; otherwise a 7 x 7 average pool
      (smaller if the feature map is smaller).

  Returns:
    (logits, or the pooled features when num_classes is 0/None; dict of end points).

  Raises:
    ValueError (InceptionArgumentError): if depth_multiplier <= 0.
  """
  _check_depth_multiplier(depth_multiplier)
  with tf.variable_scope(scope, 'InceptionV2', [inputs], reuse=reuse) as scope:
    with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
      net, end_points = inception_v2_base(inputs, scope=scope, min_depth=min_depth,
                                          depth_multiplier=depth_multiplier)
      with tf.variable_scope('Logits'):
        if global_pool:
          net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
          end_points['global_pool'] = net
        else:
          kernel_size = inception_utils.reduced_kernel_size_for_small_input(net, [7, 7])
          net = slim.avg_pool2d(net, kernel_size, padding='VALID',
                                scope='AvgPool_1a_{}x{}'.format(*kernel_size))
          end_points['AvgPool_1a'] = net
        if not num_classes:
          return net, end_points
        net = slim.dropout(net, keep_prob=dropout_keep_prob, scope='Dropout_1b')
        end_points['PreLogits'] = net
        logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                             scope='Conv2d_1c_1x1')
        if spatial_squeeze:
          logits = tf.squeeze(logits, [1, 2], name='SpatialSqueeze')
      end_points['Logits'] = logits
      end_points['Predictions'] = prediction_fn(logits, scope='Predictions')
  return logits, end_points


inception_v2.default_image_size = 224

inception_v2_arg_scope = inception_utils.inception_arg_scope
