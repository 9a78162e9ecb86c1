"""S3D-G: separable 3-D Inception V1 with feature gating, for video classification.

Xie, Sun, Huang, Tu and Murphy, "Rethinking Spatiotemporal Feature Learning: Speed-Accuracy
Trade-offs in Video Classification", ECCV 2018, https://arxiv.org/abs/1712.04851

`arg_scope` is `slim.arg_scope`, reachable through this module as in the original.
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import i3d_utils
from nets import inception_utils

arg_scope = slim.arg_scope
trunc_normal = inception_utils.trunc_normal
conv3d_spatiotemporal = i3d_utils.conv3d_spatiotemporal
inception_block_v1_3d = i3d_utils.inception_block_v1_3d

BASE_ENDPOINTS = (
    'Conv2d_1a_7x7', 'MaxPool_2a_3x3', 'Conv2d_2b_1x1', 'Conv2d_2c_3x3', 'MaxPool_3a_3x3',
    'Mixed_3b', 'Mixed_3c', 'MaxPool_4a_3x3', 'Mixed_4b', 'Mixed_4c', 'Mixed_4d', 'Mixed_4e',
    'Mixed_4f', 'MaxPool_5a_2x2', 'Mixed_5b', 'Mixed_5c')

# Branch depths of each module, as in 2-D Inception V1: Branch_0 1x1; Branch_1 1x1, 3x3;
# Branch_2 1x1, 3x3; Branch_3 1x1 after the max pool.
_MODULE_DEPTHS = {
    'Mixed_3b': (64, 96, 128, 16, 32, 32),
    'Mixed_3c': (128, 128, 192, 32, 96, 64),
    'Mixed_4b': (192, 96, 208, 16, 48, 64),
    'Mixed_4c': (160, 112, 224, 24, 64, 64),
    'Mixed_4d': (128, 128, 256, 24, 64, 64),
    'Mixed_4e': (112, 144, 288, 32, 64, 64),
    'Mixed_4f': (256, 160, 320, 32, 128, 128),
    'Mixed_5b': (256, 160, 320, 32, 128, 128),
    'Mixed_5c': (384, 192, 384, 48, 128, 128),
}

# Max pools between the modules: (kernel, stride) in [time, height, width].
_POOLS = {
    'MaxPool_2a_3x3': ([1, 3, 3], [1, 2, 2]),
    'MaxPool_3a_3x3': ([1, 3, 3], [1, 2, 2]),
    'MaxPool_4a_3x3': ([3, 3, 3], [2, 2, 2]),
    'MaxPool_5a_2x2': ([2, 2, 2], [2, 2, 2]),
}

_DATA_FORMATS = ('NDHWC', 'NCDHW')


def _check_data_format(data_format):
  if data_format not in _DATA_FORMATS:
    raise inception_utils.InceptionArgumentError(
        'data_format must be NDHWC or NCDHW, got %s' % data_format)


def s3dg_arg_scope(weight_decay=1e-7,
                   batch_norm_decay=0.999,
                   batch_norm_epsilon=0.001):
  """Layer defaults of S3D-G: L2 penalty, ReLU and batch norm on every 3-D convolution.

  Spatio-temporal convolutions are separable. The batch-norm moving statistics are also put in
  the collection `moving_vars`.

  Args:
    weight_decay: L2 regularisation factor of the weights.
    batch_norm_decay: decay of the batch-norm moving averages.
    batch_norm_epsilon: added to the variance to avoid dividing by zero.

  Returns:
    An arg scope to enter with `slim.arg_scope`.
  """
  batch_norm_params = {
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'fused': False,
      'variables_collections': {
          'beta': None,
          'gamma': None,
          'moving_mean': ['moving_vars'],
          'moving_variance': ['moving_vars'],
      },
  }
  with slim.arg_scope([slim.conv3d, conv3d_spatiotemporal],
                      weights_regularizer=slim.l2_regularizer(weight_decay),
                      activation_fn=tf.nn.relu,
                      normalizer_fn=slim.batch_norm,
                      normalizer_params=batch_norm_params):
    with slim.arg_scope([conv3d_spatiotemporal], separable=True) as scope:
      return scope


def self_gating(input_tensor, scope, data_format='NDHWC'):
  """Feature gating: scales every channel by a sigmoid of a linear map of the channel means.

  Args:
    input_tensor: a 5-D tensor.
    scope: name of the layer being gated; the variables go to `scope/self_gating/transformer_W`.
    data_format: 'NDHWC' or 'NCDHW'.

  Returns:
    A tensor of the input's shape.
  """
  _check_data_format(data_format)
  axes = [data_format.index(d) for d in 'DHW']
  num_channels = input_tensor.get_shape().as_list()[data_format.index('C')]
  # The mean over time and space (an average pool as large as the whole input).
  average = tf.reduce_mean(input_tensor, axes, keepdims=True,
                           name=scope + '/self_gating/avg_pool3d')
  weights = slim.conv3d(average, num_channels, [1, 1, 1], activation_fn=None,
                        normalizer_fn=None, biases_initializer=None,
                        weights_initializer=trunc_normal(0.01), data_format=data_format,
                        scope=scope + '/self_gating/transformer_W')
  return tf.multiply(tf.nn.sigmoid(weights), input_tensor)


def s3dg_base(inputs,
              first_temporal_kernel_size=3,
              temporal_conv_startat='Conv2d_2c_3x3',
              gating_startat='Conv2d_2c_3x3',
              final_endpoint='Mixed_5c',
              min_depth=16,
              depth_multiplier=1.0,
              data_format='NDHWC',
              scope='InceptionV1'):
  """Builds the S3D-G trunk (a 3-D Inception V1), from the video up to `final_endpoint`.

  Convolutions before `temporal_conv_startat` are purely spatial (temporal kernel 1); from it on
  they use a temporal kernel of 3 (separable under s3dg_arg_scope). From `gating_startat` on,
  every convolution output is self-gated. Passing None for either disables it.

  Args:
    inputs: a [batch, frames, height, width, 3] tensor (NDHWC) or [batch, 3, frames, h, w].
    first_temporal_kernel_size: temporal size of the first convolution: 1, 3, 5 or 7.
    temporal_conv_startat: the end point from which convolutions are spatio-temporal.
    gating_startat: the end point from which convolutions are self-gated.
    final_endpoint: the last end point to build, one of BASE_ENDPOINTS.
    min_depth: no convolution gets fewer channels than this (when depth_multiplier < 1).
    depth_multiplier: scales the channels of every convolution; must be > 0.
    data_format: 'NDHWC' or 'NCDHW'.
    scope: variable scope.

  Returns:
    (tensor at final_endpoint, dict of end point name -> tensor).

  Raises:
    ValueError (InceptionArgumentError): bad data_format, depth_multiplier,
      first_temporal_kernel_size or final_endpoint.
  """
  _check_data_format(data_format)
  if depth_multiplier <= 0:
    raise inception_utils.InceptionArgumentError('depth_multiplier is not greater than zero.')
  if first_temporal_kernel_size not in (1, 3, 5, 7):
    raise inception_utils.InceptionArgumentError(
        'first_temporal_kernel_size can only be 1, 3, 5 or 7.')
  inception_utils.check_final_endpoint(final_endpoint, BASE_ENDPOINTS)

  def depth(d):
    return max(int(d * depth_multiplier), min_depth)

  def gating_fn(net, scope):
    return self_gating(net, scope, data_format=data_format)

  end_points = {}
  temporal_size = 1
  gate = None
  # Batch norm must normalise the channel axis, which is axis 1 in NCDHW.
  batch_norm_format = 'NCHW' if data_format == 'NCDHW' else 'NHWC'
  with tf.variable_scope(scope, 'InceptionV1', [inputs]):
    with slim.arg_scope([slim.conv3d], weights_initializer=trunc_normal(0.01)), \
         slim.arg_scope([slim.batch_norm], data_format=batch_norm_format), \
         slim.arg_scope([slim.conv3d, slim.max_pool3d, conv3d_spatiotemporal],
                        stride=1, data_format=data_format, padding='SAME'):
      # A separable first layer is slow for little gain: always a full 3-D convolution.
      net = conv3d_spatiotemporal(inputs, depth(64), [first_temporal_kernel_size, 7, 7],
                                  stride=2, separable=False, scope='Conv2d_1a_7x7')
      end_points['Conv2d_1a_7x7'] = net
      if final_endpoint == 'Conv2d_1a_7x7':
        return net, end_points

      for end_point in BASE_ENDPOINTS[1:]:
        if end_point in _POOLS:
          kernel, stride = _POOLS[end_point]
          net = slim.max_pool3d(net, kernel, stride=stride, scope=end_point)
        elif end_point == 'Conv2d_2b_1x1':
          # (Neither start point is looked for here: only at Conv2d_2c_3x3 and the modules.)
          net = slim.conv3d(net, depth(64), [1, 1, 1], scope=end_point)
        else:
          if end_point == temporal_conv_startat:
            temporal_size = 3
          if end_point == gating_startat:
            gate = gating_fn
          if end_point == 'Conv2d_2c_3x3':
            net = conv3d_spatiotemporal(net, depth(192), [temporal_size, 3, 3], scope=end_point)
            if gate:
              net = gate(net, end_point)
          else:
            net = inception_block_v1_3d(
                net, *[depth(d) for d in _MODULE_DEPTHS[end_point]],
                temporal_kernel_size=temporal_size, self_gating_fn=gate,
                data_format=data_format, scope=end_point)
        end_points[end_point] = net
        if end_point == final_endpoint:
          return net, end_points
  raise inception_utils.InceptionArgumentError('Unknown final endpoint %s' % final_endpoint)


def logits_head(net, end_points, num_classes, dropout_keep_prob, prediction_fn, spatial_squeeze,
                data_format='NDHWC'):
  """The classifier of I3D and S3D-G, in the current variable scope (`Logits` inside it).

  A [2, 7, 7] average pool (smaller for smaller inputs), dropout, a 1x1x1 convolution to the
  classes and the mean over the remaining frames. With num_classes 0/None the pooled features
  are returned instead.
  """
  with tf.variable_scope('Logits'):
    if data_format == 'NCDHW':
      net = tf.transpose(net, [0, 2, 3, 4, 1])
    kernel_size = i3d_utils.reduced_kernel_size_3d(net, [2, 7, 7])
    net = slim.avg_pool3d(net, kernel_size, stride=1, data_format='NDHWC',
                          scope='AvgPool_0a_7x7')
    if not num_classes:
      return net, end_points
    net = slim.dropout(net, dropout_keep_prob, scope='Dropout_0b')
    logits = slim.conv3d(net, num_classes, [1, 1, 1], activation_fn=None, normalizer_fn=None,
                         data_format='NDHWC', scope='Conv2d_0c_1x1')
    logits = tf.reduce_mean(logits, axis=1)
    if spatial_squeeze:
      logits = tf.squeeze(logits, [1, 2], name='SpatialSqueeze')
    end_points['Logits'] = logits
    end_points['Predictions'] = prediction_fn(logits, scope='Predictions')
  return logits, end_points


def s3dg(inputs,
         num_classes=1000,
         first_temporal_kernel_size=3,
         temporal_conv_startat='Conv2d_2c_3x3',
         gating_startat='Conv2d_2c_3x3',
         final_endpoint='Mixed_5c',
         min_depth=16,
         depth_multiplier=1.0,
         dropout_keep_prob=0.8,
         is_training=True,
         prediction_fn=slim.softmax,
         spatial_squeeze=True,
         reuse=None,
         data_format='NDHWC',
         scope='InceptionV1'):
  """S3D-G video classifier.

  Args:
    inputs: a [batch, frames, height, width, 3] tensor (224 x 224 frames by default).
    num_classes: number of predicted classes; 0 or None returns the pooled features instead.
    first_temporal_kernel_size: temporal size of the first convolution: 1, 3, 5 or 7.
    temporal_conv_startat: the end point from which convolutions are spatio-temporal.
    gating_startat: the end point from which convolutions are self-gated.
    final_endpoint: the last trunk end point before the classifier.
    min_depth: minimum number of channels of any convolution.
    depth_multiplier: scales the channels of every convolution; must be > 0.
    dropout_keep_prob: fraction of activations kept by dropout before the logits.
    is_training: whether batch norm and dropout are in training mode.
    prediction_fn: maps logits to predictions (end point `Predictions`).
    spatial_squeeze: if True, logits are [batch, num_classes]; else [batch, 1, 1, num_classes].
    reuse: whether to reuse the network's variables (needs the same `scope`).
    data_format: 'NDHWC' or 'NCDHW'.
    scope: variable scope.

  Returns:
    (logits, dict of end points).
  """
  _check_data_format(data_format)
  with tf.variable_scope(scope, 'InceptionV1', [inputs, num_classes], reuse=reuse) as scope:
    with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
      net, end_points = s3dg_base(
          inputs,
          first_temporal_kernel_size=first_temporal_kernel_size,
          temporal_conv_startat=temporal_conv_startat,
          gating_startat=gating_startat,
          final_endpoint=final_endpoint,
          min_depth=min_depth,
          depth_multiplier=depth_multiplier,
          data_format=data_format,
          scope=scope)
      return logits_head(net, end_points, num_classes, dropout_keep_prob, prediction_fn,
                         spatial_squeeze, data_format=data_format)


s3dg.default_image_size = 224
