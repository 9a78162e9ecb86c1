"""Inception V3.

Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016,
https://arxiv.org/abs/1512.00567
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import inception_utils

trunc_normal = inception_utils.trunc_normal

BASE_ENDPOINTS = (
    'Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'MaxPool_3a_3x3', 'Conv2d_3b_1x1',
    'Conv2d_4a_3x3', 'MaxPool_5a_3x3', 'Mixed_5b', 'Mixed_5c', 'Mixed_5d', 'Mixed_6a',
    'Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e', 'Mixed_7a', 'Mixed_7b', 'Mixed_7c')


def _check_depth_multiplier(depth_multiplier):
  if depth_multiplier <= 0:
    raise inception_utils.InceptionArgumentError('depth_multiplier is not greater than zero.')


def _module_35(net, end_point, depth, pool_depth):
  """35 x 35 module (Mixed_5b/5c/5d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""
  # The published checkpoint names Mixed_5c's 5x5 branch differently from its siblings.
  if end_point == 'Mixed_5c':
    b1_names = ('Conv2d_0b_1x1', 'Conv_1_0c_5x5')
  else:
    b1_names = ('Conv2d_0a_1x1', 'Conv2d_0b_5x5')
  with tf.variable_scope(end_point):
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(net, depth(64), [1, 1], scope='Conv2d_0a_1x1')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(net, depth(48), [1, 1], scope=b1_names[0])
      branch_1 = slim.conv2d(branch_1, depth(64), [5, 5], scope=b1_names[1])
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.conv2d(net, depth(64), [1, 1], scope='Conv2d_0a_1x1')
      branch_2 = slim.conv2d(branch_2, depth(96), [3, 3], scope='Conv2d_0b_3x3')
      branch_2 = slim.conv2d(branch_2, depth(96), [3, 3], scope='Conv2d_0c_3x3')
    with tf.variable_scope('Branch_3'):
      branch_3 = slim.avg_pool2d(net, [3, 3], scope='AvgPool_0a_3x3')
      branch_3 = slim.conv2d(branch_3, depth(pool_depth), [1, 1], scope='Conv2d_0b_1x1')
    return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


def _module_17(net, end_point, depth, narrow):
  """17 x 17 module (Mixed_6b..6e) with factorised 7x7 convolutions; `narrow` is its inner depth."""
  with tf.variable_scope(end_point):
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(net, depth(192), [1, 1], scope='Conv2d_0a_1x1')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(net, depth(narrow), [1, 1], scope='Conv2d_0a_1x1')
      branch_1 = slim.conv2d(branch_1, depth(narrow), [1, 7], scope='Conv2d_0b_1x7')
      branch_1 = slim.conv2d(branch_1, depth(192), [7, 1], scope='Conv2d_0c_7x1')
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.conv2d(net, depth(narrow), [1, 1], scope='Conv2d_0a_1x1')
      branch_2 = slim.conv2d(branch_2, depth(narrow), [7, 1], scope='Conv2d_0b_7x1')
      branch_2 = slim.conv2d(branch_2, depth(narrow), [1, 7], scope='Conv2d_0c_1x7')
      branch_2 = slim.conv2d(branch_2, depth(narrow), [7, 1], scope='Conv2d_0d_7x1')
      branch_2 = slim.conv2d(branch_2, depth(192), [1, 7], scope='Conv2d_0e_1x7')
    with tf.variable_scope('Branch_3'):
      branch_3 = slim.avg_pool2d(net, [3, 3], scope='AvgPool_0a_3x3')
      branch_3 = slim.conv2d(branch_3, depth(192), [1, 1], scope='Conv2d_0b_1x1')
    return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


def _module_8(net, end_point, depth):
  """8 x 8 module (Mixed_7b/7c) whose 3x3 convolutions fan out into parallel 1x3 and 3x1."""
  # Mixed_7b calls its Branch_1 3x1 conv `Conv2d_0b_3x1`, Mixed_7c `Conv2d_0c_3x1`.
  b1_3x1 = 'Conv2d_0b_3x1' if end_point == 'Mixed_7b' else 'Conv2d_0c_3x1'
  with tf.variable_scope(end_point):
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(net, depth(320), [1, 1], scope='Conv2d_0a_1x1')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(net, depth(384), [1, 1], scope='Conv2d_0a_1x1')
      branch_1 = tf.concat(axis=3, values=[
          slim.conv2d(branch_1, depth(384), [1, 3], scope='Conv2d_0b_1x3'),
          slim.conv2d(branch_1, depth(384), [3, 1], scope=b1_3x1)])
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.conv2d(net, depth(448), [1, 1], scope='Conv2d_0a_1x1')
      branch_2 = slim.conv2d(branch_2, depth(384), [3, 3], scope='Conv2d_0b_3x3')
      branch_2 = tf.concat(axis=3, values=[
          slim.conv2d(branch_2, depth(384), [1, 3], scope='Conv2d_0c_1x3'),
          slim.conv2d(branch_2, depth(384), [3, 1], scope='Conv2d_0d_3x1')])
    with tf.variable_scope('Branch_3'):
      branch_3 = slim.avg_pool2d(net, [3, 3], scope='AvgPool_0a_3x3')
      branch_3 = slim.conv2d(branch_3, depth(192), [1, 1], scope='Conv2d_0b_1x1')
    return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


def _mixed_6a(net, depth):
  """35 -> 17 reduction."""
  with tf.variable_scope('Mixed_6a'):
    # These two 3x3 convolutions carry `1x1` in their names in the published checkpoint.
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(net, depth(384), [3, 3], stride=2, padding='VALID',
                             scope='Conv2d_1a_1x1')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(net, depth(64), [1, 1], scope='Conv2d_0a_1x1')
      branch_1 = slim.conv2d(branch_1, depth(96), [3, 3], scope='Conv2d_0b_3x3')
      branch_1 = slim.conv2d(branch_1, depth(96), [3, 3], stride=2, padding='VALID',
                             scope='Conv2d_1a_1x1')
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.max_pool2d(net, [3, 3], stride=2, padding='VALID', scope='MaxPool_1a_3x3')
    return tf.concat(axis=3, values=[branch_0, branch_1, branch_2])


def _mixed_7a(net, depth):
  """17 -> 8 reduction."""
  with tf.variable_scope('Mixed_7a'):
    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv2d(net, depth(192), [1, 1], scope='Conv2d_0a_1x1')
      branch_0 = slim.conv2d(branch_0, depth(320), [3, 3], stride=2, padding='VALID',
                             scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv2d(net, depth(192), [1, 1], scope='Conv2d_0a_1x1')
      branch_1 = slim.conv2d(branch_1, depth(192), [1, 7], scope='Conv2d_0b_1x7')
      branch_1 = slim.conv2d(branch_1, depth(192), [7, 1], scope='Conv2d_0c_7x1')
      branch_1 = slim.conv2d(branch_1, depth(192), [3, 3], stride=2, padding='VALID',
                             scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.max_pool2d(net, [3, 3], stride=2, padding='VALID', scope='MaxPool_1a_3x3')
    return tf.concat(axis=3, values=[branch_0, branch_1, branch_2])


def inception_v3_base(inputs,
                      final_endpoint='Mixed_7c',
                      min_depth=16,
                      depth_multiplier=1.0,
                      scope=None):
  """Builds the Inception V3 trunk, from the input up to `final_endpoint`.

  Args:
    inputs: a [batch, height, width, channels] tensor.
    final_endpoint: the last end point to build, one of BASE_ENDPOINTS.
    min_depth: no convolution gets fewer channels than this (when depth_multiplier < 1).
    depth_multiplier: scales the channels of every convolution; must be > 0.
    scope: variable scope (default 'InceptionV3').

  Returns:
    (tensor at final_endpoint, dict of end point name -> tensor).

  Raises:
    ValueError (InceptionArgumentError): bad depth_multiplier or final_endpoint.
  """
  _check_depth_multiplier(depth_multiplier)
  inception_utils.check_final_endpoint(final_endpoint, BASE_ENDPOINTS)

  def depth(d):
    return max(int(d * depth_multiplier), min_depth)

  end_points = {}
  with tf.variable_scope(scope, 'InceptionV3', [inputs]):
    # The stem shrinks the image with unpadded convolutions: 299 -> 149 -> 147 -> 73 -> 71 -> 35.
    stem = (
        ('Conv2d_1a_3x3', lambda x, s: slim.conv2d(x, depth(32), [3, 3], stride=2, scope=s)),
        ('Conv2d_2a_3x3', lambda x, s: slim.conv2d(x, depth(32), [3, 3], scope=s)),
        ('Conv2d_2b_3x3', lambda x, s: slim.conv2d(x, depth(64), [3, 3], padding='SAME',
                                                   scope=s)),
        ('MaxPool_3a_3x3', lambda x, s: slim.max_pool2d(x, [3, 3], stride=2, scope=s)),
        ('Conv2d_3b_1x1', lambda x, s: slim.conv2d(x, depth(80), [1, 1], scope=s)),
        ('Conv2d_4a_3x3', lambda x, s: slim.conv2d(x, depth(192), [3, 3], scope=s)),
        ('MaxPool_5a_3x3', lambda x, s: slim.max_pool2d(x, [3, 3], stride=2, scope=s)),
    )
    net = inputs
    with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d],
                        stride=1, padding='VALID'):
      for end_point, layer in stem:
        net = layer(net, end_point)
        end_points[end_point] = net
        if end_point == final_endpoint:
          return net, end_points

    with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d],
                        stride=1, padding='SAME'):
      blocks = (
          ('Mixed_5b', lambda x: _module_35(x, 'Mixed_5b', depth, 32)),   # 35 x 35 x 256
          ('Mixed_5c', lambda x: _module_35(x, 'Mixed_5c', depth, 64)),   # 35 x 35 x 288
          ('Mixed_5d', lambda x: _module_35(x, 'Mixed_5d', depth, 64)),   # 35 x 35 x 288
          ('Mixed_6a', lambda x: _mixed_6a(x, depth)),                    # 17 x 17 x 768
          ('Mixed_6b', lambda x: _module_17(x, 'Mixed_6b', depth, 128)),  # 17 x 17 x 768
          ('Mixed_6c', lambda x: _module_17(x, 'Mixed_6c', depth, 160)),
          ('Mixed_6d', lambda x: _module_17(x, 'Mixed_6d', depth, 160)),
          ('Mixed_6e', lambda x: _module_17(x, 'Mixed_6e', depth, 192)),
          ('Mixed_7a', lambda x: _mixed_7a(x, depth)),                    # 8 x 8 x 1280
          ('Mixed_7b', lambda x: _module_8(x, 'Mixed_7b', depth)),        # 8 x 8 x 2048
          ('Mixed_7c', lambda x: _module_8(x, 'Mixed_7c', depth)),        # 8 x 8 x 2048
      )
      for end_point, block in blocks:
        net = block(net)
        end_points[end_point] = net
        if end_point == final_endpoint:
          return net, end_points
  raise inception_utils.InceptionArgumentError('Unknown final endpoint %s' % final_endpoint)


def inception_v3(inputs,
                 num_classes=1000,
                 is_training=True,
                 dropout_keep_prob=0.8,
                 min_depth=16,
                 depth_multiplier=1.0,
                 prediction_fn=slim.softmax,
                 spatial_squeeze=True,
                 reuse=None,
                 create_aux_logits=True,
                 scope='InceptionV3',
                 global_pool=False):
  """Inception V3 classifier, with the auxiliary classifier on Mixed_6e.

  Args:
    inputs: a [batch, height, width, 3] tensor (299 x 299 by default).
    num_classes: number of predicted classes; 0 or None skips both classifiers and returns the
      pooled features ([batch, 1, 1, 2048]).
    is_training: whether batch norm and dropout are in training mode.
    dropout_keep_prob: fraction of activations kept by dropout before the logits.
    min_depth: minimum number of channels of any convolution.
    depth_multiplier: scales the channels of every convolution; must be > 0.
    prediction_fn: maps logits to predictions (end point `Predictions`).
    spatial_squeeze: if True, logits are [batch, num_classes]; else [batch, 1, 1, num_classes].
    reuse: whether to reuse the network's variables (needs the same `scope`).
    create_aux_logits: whether to build the auxiliary classifier (end point `AuxLogits`).
    scope: variable scope.
    global_pool: if True, average over the whole feature map; otherwise an 8 x 8 average pool
      (smaller if the feature map is smaller).

  Returns:
    (logits, or the pooled features when num_classes is 0/None; dict of end points).

  Raises:
    ValueError (InceptionArgumentError): if depth_multiplier <= 0.
  """
  _check_depth_multiplier(depth_multiplier)

  def depth(d):
    return max(int(d * depth_multiplier), min_depth)

  with tf.variable_scope(scope, 'InceptionV3', [inputs], reuse=reuse) as scope:
    with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
      net, end_points = inception_v3_base(inputs, scope=scope, min_depth=min_depth,
                                          depth_multiplier=depth_multiplier)

      if create_aux_logits and num_classes:
        with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d],
                            stride=1, padding='SAME'):
          with tf.variable_scope('AuxLogits'):
            aux = slim.avg_pool2d(end_points['Mixed_6e'], [5, 5], stride=3, padding='VALID',
                                  scope='AvgPool_1a_5x5')
            aux = slim.conv2d(aux, depth(128), [1, 1], scope='Conv2d_1b_1x1')
            # The kernel covers the whole (5 x 5 at 299) map; its size is part of the scope name.
            kernel_size = inception_utils.reduced_kernel_size_for_small_input(aux, [5, 5])
            aux = slim.conv2d(aux, depth(768), kernel_size, weights_initializer=trunc_normal(0.01),
                              padding='VALID', scope='Conv2d_2a_{}x{}'.format(*kernel_size))
            aux = slim.conv2d(aux, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                              weights_initializer=trunc_normal(0.001), scope='Conv2d_2b_1x1')
            if spatial_squeeze:
              aux = tf.squeeze(aux, [1, 2], name='SpatialSqueeze')
            end_points['AuxLogits'] = aux

      with tf.variable_scope('Logits'):
        if global_pool:
          net = tf.reduce_mean(net, [1, 2], keepdims=True, name='GlobalPool')
          end_points['global_pool'] = net
        else:
          kernel_size = inception_utils.reduced_kernel_size_for_small_input(net, [8, 8])
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


inception_v3.default_image_size = 299

inception_v3_arg_scope = inception_utils.inception_arg_scope
