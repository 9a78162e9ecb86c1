"""Inception V1 (GoogLeNet).

Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, https://arxiv.org/abs/1409.4842
(this is the variant with batch norm after every convolution, as in the published slim checkpoint).

`trunc_normal(stddev)` is the truncated-normal (mean 0) weight initializer factory the layers use.
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import inception_utils

trunc_normal = inception_utils.trunc_normal

# Every end point of the trunk, in build order.
BASE_ENDPOINTS = (
    'Conv2d_1a_7x7', 'MaxPool_2a_3x3', 'Conv2d_2b_1x1', 'Conv2d_2c_3x3', 'MaxPool_3a_3x3',
    'Mixed_3b', 'Mixed_3c', 'MaxPool_4a_3x3', 'Mixed_4b', 'Mixed_4c', 'Mixed_4d', 'Mixed_4e',
    'Mixed_4f', 'MaxPool_5a_2x2', 'Mixed_5b', 'Mixed_5c')

# Depths of the four branches of each Inception module: Branch_0 1x1; Branch_1 1x1 then 3x3;
# Branch_2 1x1 then 3x3 (a 5x5 in the paper); Branch_3 3x3 max-pool then 1x1.
_MIXED_DEPTHS = {
    'Mixed_3b': (64, (96, 128), (16, 32), 32),
    'Mixed_3c': (128, (128, 192), (32, 96), 64),
    'Mixed_4b': (192, (96, 208), (16, 48), 64),
    'Mixed_4c': (160, (112, 224), (24, 64), 64),
    'Mixed_4d': (128, (128, 256), (24, 64), 64),
    'Mixed_4e': (112, (144, 288), (32, 64), 64),
    'Mixed_4f': (256, (160, 320), (32, 128), 128),
    'Mixed_5b': (256, (160, 320), (32, 128), 128),
    'Mixed_5c': (384, (192, 384), (48, 128), 128),
}

# The published checkpoint names the second conv of Mixed_5b/Branch_2 `Conv2d_0a_3x3`
# (every other module says `Conv2d_0b_3x3`); keep it or that checkpoint will not load.
_BRANCH_2_SECOND_CONV = {'Mixed_5b': 'Conv2d_0a_3x3'}


def _inception_module(net, end_point):
  """One Inception module: four parallel branches concatenated along channels."""
  d0, (d1a, d1b), (d2a, d2b), d3 = _MIXED_DEPTHS[end_point]
  with tf.variable_scope(end_point):
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(net, d0, [1, 1], scope='Conv2d_0a_1x1')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(net, d1a, [1, 1], scope='Conv2d_0a_1x1')
      branch_1 = slim.conv2d(branch_1, d1b, [3, 3], scope='Conv2d_0b_3x3')
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.conv2d(net, d2a, [1, 1], scope='Conv2d_0a_1x1')
      branch_2 = slim.conv2d(branch_2, d2b, [3, 3],
                             scope=_BRANCH_2_SECOND_CONV.get(end_point, 'Conv2d_0b_3x3'))
    with tf.variable_scope('Branch_3'):
      branch_3 = slim.max_pool2d(net, [3, 3], scope='MaxPool_0a_3x3')
      branch_3 = slim.conv2d(branch_3, d3, [1, 1], scope='Conv2d_0b_1x1')
    return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


def inception_v1_base(inputs,
                      final_endpoint='Mixed_5c',
                      include_root_block=True,
                      scope='InceptionV1'):
  """Builds the Inception V1 trunk, from the input up to `final_endpoint`.

  Args:
    inputs: a [batch, height, width, channels] tensor.
    final_endpoint: the last end point to build, one of BASE_ENDPOINTS.
    include_root_block: if False, the layers before Mixed_3b are skipped and `inputs` feeds Mixed_3b
      directly (it should then have 192 channels at stride 8).
    scope: variable scope.

  Returns:
    (tensor at final_endpoint, dict of end point name -> tensor).

  Raises:
    ValueError (InceptionArgumentError): for an unknown final_endpoint.
  """
  inception_utils.check_final_endpoint(final_endpoint, BASE_ENDPOINTS)
  end_points = {}
  with tf.variable_scope(scope, 'InceptionV1', [inputs]):
    with slim.arg_scope([slim.conv2d, slim.fully_connected],
                        weights_initializer=trunc_normal(0.01)):
      with slim.arg_scope([slim.conv2d, slim.max_pool2d], stride=1, padding='SAME'):
        net = inputs
        if include_root_block:
          # Each entry: (end point, layer builder).
          root = (
              ('Conv2d_1a_7x7', lambda x, s: slim.conv2d(x, 64, [7, 7], stride=2, scope=s)),
              ('MaxPool_2a_3x3', lambda x, s: slim.max_pool2d(x, [3, 3], stride=2, scope=s)),
              ('Conv2d_2b_1x1', lambda x, s: slim.conv2d(x, 64, [1, 1], scope=s)),
              ('Conv2d_2c_3x3', lambda x, s: slim.conv2d(x, 192, [3, 3], scope=s)),
              ('MaxPool_3a_3x3', lambda x, s: slim.max_pool2d(x, [3, 3], stride=2, scope=s)),
          )
          for end_point, layer in root:
            net = layer(net, end_point)  # 112, 56, 56, 56, 28 at a 224 input
            end_points[end_point] = net
            if end_point == final_endpoint:
              return net, end_points

        for end_point in BASE_ENDPOINTS[5:]:
          if end_point == 'MaxPool_4a_3x3':
            net = slim.max_pool2d(net, [3, 3], stride=2, scope=end_point)  # 14 x 14 x 480
          elif end_point == 'MaxPool_5a_2x2':
            net = slim.max_pool2d(net, [2, 2], stride=2, scope=end_point)  # 7 x 7 x 832
          else:
            net = _inception_module(net, end_point)
          end_points[end_point] = net
          if end_point == final_endpoint:
            return net, end_points
  raise inception_utils.InceptionArgumentError('Unknown final endpoint %s' % final_endpoint)


def inception_v1(inputs,
                 num_classes=1000,
                 is_training=True,
                 dropout_keep_prob=0.8,
                 prediction_fn=slim.softmax,
                 spatial_squeeze=True,
                 reuse=None,
                 scope='InceptionV1',
                 global_pool=False):
  """Inception V1 classifier.

  Args:
    inputs: a [batch, height, width, 3] tensor (224 x 224 by default).
    num_classes: number of predicted classes; 0 or None skips the logits layer and returns the
      output of the average pool ([batch, 1, 1, 1024]) instead.
    is_training: whether batch norm and dropout are in training mode.
    dropout_keep_prob: fraction of activations kept by dropout before the logits.
    prediction_fn: maps logits to predictions (end point `Predictions`).
    spatial_squeeze: if True, logits are [batch, num_classes]; else [batch, 1, 1, num_classes].
    reuse: whether to reuse the network's variables (needs the same `scope`).
    scope: variable scope.
    global_pool: if True, average over the whole feature map (any input size gives 1 x 1);
      otherwise a fixed 7 x 7 average pool, made for 224 x 224 inputs.

  Returns:
    (logits, or the pooled features when num_classes is 0/None; dict of end points).
  """
  with tf.variable_scope(scope, 'InceptionV1', [inputs], reuse=reuse) as scope:
    with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
      net, end_points = inception_v1_base(inputs, scope=scope)
      with tf.variable_scope('Logits'):
        if global_pool:
          net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
          end_points['global_pool'] = net
        else:
          net = slim.avg_pool2d(net, [7, 7], stride=1, scope='AvgPool_0a_7x7')
          end_points['AvgPool_0a_7x7'] = net
        if not num_classes:
          return net, end_points
        net = slim.dropout(net, dropout_keep_prob, scope='Dropout_0b')
        logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                             scope='Conv2d_0c_1x1')
        if spatial_squeeze:
          logits = tf.squeeze(logits, [1, 2], name='SpatialSqueeze')
        end_points['Logits'] = logits
        end_points['Predictions'] = prediction_fn(logits, scope='Predictions')
  return logits, end_points


inception_v1.default_image_size = 224

inception_v1_arg_scope = inception_utils.inception_arg_scope
