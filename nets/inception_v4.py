"""Inception V4.

Szegedy, Ioffe, Vanhoucke and Alemi, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", AAAI 2017, https://arxiv.org/abs/1602.07261
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import inception_utils

BASE_ENDPOINTS = (
    'Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'Mixed_3a', 'Mixed_4a', 'Mixed_5a',
    'Mixed_5b', 'Mixed_5c', 'Mixed_5d', 'Mixed_5e', 'Mixed_6a', 'Mixed_6b', 'Mixed_6c',
    'Mixed_6d', 'Mixed_6e', 'Mixed_6f', 'Mixed_6g', 'Mixed_6h', 'Mixed_7a', 'Mixed_7b',
    'Mixed_7c', 'Mixed_7d')

_SAME_STRIDE_1 = dict(stride=1, padding='SAME')


def block_inception_a(inputs, scope=None, reuse=None):
  """35 x 35 Inception-A block (paper figure 4): output depth 384."""
  with slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d], **_SAME_STRIDE_1):
    with tf.variable_scope(scope, 'BlockInceptionA', [inputs], reuse=reuse):
      with tf.variable_scope('Branch_0'):
        branch_0 = slim.conv2d(inputs, 96, [1, 1], scope='Conv2d_0a_1x1')
      with tf.variable_scope('Branch_1'):
        branch_1 = slim.conv2d(inputs, 64, [1, 1], scope='Conv2d_0a_1x1')
        branch_1 = slim.conv2d(branch_1, 96, [3, 3], scope='Conv2d_0b_3x3')
      with tf.variable_scope('Branch_2'):
        branch_2 = slim.conv2d(inputs, 64, [1, 1], scope='Conv2d_0a_1x1')
        branch_2 = slim.conv2d(branch_2, 96, [3, 3], scope='Conv2d_0b_3x3')
        branch_2 = slim.conv2d(branch_2, 96, [3, 3], scope='Conv2d_0c_3x3')
      with tf.variable_scope('Branch_3'):
        branch_3 = slim.avg_pool2d(inputs, [3, 3], scope='AvgPool_0a_3x3')
        branch_3 = slim.conv2d(branch_3, 96, [1, 1], scope='Conv2d_0b_1x1')
      return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


def block_reduction_a(inputs, scope=None, reuse=None):
  """35 -> 17 Reduction-A block (paper figure 7, k=192 l=224 m=256 n=384): output depth 1024."""
  with slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d], **_SAME_STRIDE_1):
    with tf.variable_scope(scope, 'BlockReductionA', [inputs], reuse=reuse):
      with tf.variable_scope('Branch_0'):
        branch_0 = slim.conv2d(inputs, 384, [3, 3], stride=2, padding='VALID',
                               scope='Conv2d_1a_3x3')
      with tf.variable_scope('Branch_1'):
        branch_1 = slim.conv2d(inputs, 192, [1, 1], scope='Conv2d_0a_1x1')
        branch_1 = slim.conv2d(branch_1, 224, [3, 3], scope='Conv2d_0b_3x3')
        branch_1 = slim.conv2d(branch_1, 256, [3, 3], stride=2, padding='VALID',
                               scope='Conv2d_1a_3x3')
      with tf.variable_scope('Branch_2'):
        branch_2 = slim.max_pool2d(inputs, [3, 3], stride=2, padding='VALID',
                                   scope='MaxPool_1a_3x3')
      return tf.concat(axis=3, values=[branch_0, branch_1, branch_2])


def block_inception_b(inputs, scope=None, reuse=None):
  """17 x 17 Inception-B block (paper figure 5): output depth 1024."""
  with slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d], **_SAME_STRIDE_1):
    with tf.variable_scope(scope, 'BlockInceptionB', [inputs], reuse=reuse):
      with tf.variable_scope('Branch_0'):
        branch_0 = slim.conv2d(inputs, 384, [1, 1], scope='Conv2d_0a_1x1')
      with tf.variable_scope('Branch_1'):
        branch_1 = slim.conv2d(inputs, 192, [1, 1], scope='Conv2d_0a_1x1')
        branch_1 = slim.conv2d(branch_1, 224, [1, 7], scope='Conv2d_0b_1x7')
        branch_1 = slim.conv2d(branch_1, 256, [7, 1], scope='Conv2d_0c_7x1')
      with tf.variable_scope('Branch_2'):
        branch_2 = slim.conv2d(inputs, 192, [1, 1], scope='Conv2d_0a_1x1')
        branch_2 = slim.conv2d(branch_2, 192, [7, 1], scope='Conv2d_0b_7x1')
        branch_2 = slim.conv2d(branch_2, 224, [1, 7], scope='Conv2d_0c_1x7')
        branch_2 = slim.conv2d(branch_2, 224, [7, 1], scope='Conv2d_0d_7x1')
        branch_2 = slim.conv2d(branch_2, 256, [1, 7], scope='Conv2d_0e_1x7')
      with tf.variable_scope('Branch_3'):
        branch_3 = slim.avg_pool2d(inputs, [3, 3], scope='AvgPool_0a_3x3')
        branch_3 = slim.conv2d(branch_3, 128, [1, 1], scope='Conv2d_0b_1x1')
      return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


def block_reduction_b(inputs, scope=None, reuse=None):
  """17 -> 8 Reduction-B block (paper figure 8): output depth 1536."""
  with slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d], **_SAME_STRIDE_1):
    with tf.variable_scope(scope, 'BlockReductionB', [inputs], reuse=reuse):
      with tf.variable_scope('Branch_0'):
        branch_0 = slim.conv2d(inputs, 192, [1, 1], scope='Conv2d_0a_1x1')
        branch_0 = slim.conv2d(branch_0, 192, [3, 3], stride=2, padding='VALID',
                               scope='Conv2d_1a_3x3')
      with tf.variable_scope('Branch_1'):
        branch_1 = slim.conv2d(inputs, 256, [1, 1], scope='Conv2d_0a_1x1')
        branch_1 = slim.conv2d(branch_1, 256, [1, 7], scope='Conv2d_0b_1x7')
        branch_1 = slim.conv2d(branch_1, 320, [7, 1], scope='Conv2d_0c_7x1')
        branch_1 = slim.conv2d(branch_1, 320, [3, 3], stride=2, padding='VALID',
                               scope='Conv2d_1a_3x3')
      with tf.variable_scope('Branch_2'):
        branch_2 = slim.max_pool2d(inputs, [3, 3], stride=2, padding='VALID',
                                   scope='MaxPool_1a_3x3')
      return tf.concat(axis=3, values=[branch_0, branch_1, branch_2])


def block_inception_c(inputs, scope=None, reuse=None):
  """8 x 8 Inception-C block (paper figure 6): output depth 1536."""
  with slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d], **_SAME_STRIDE_1):
    with tf.variable_scope(scope, 'BlockInceptionC', [inputs], reuse=reuse):
      with tf.variable_scope('Branch_0'):
        branch_0 = slim.conv2d(inputs, 256, [1, 1], scope='Conv2d_0a_1x1')
      with tf.variable_scope('Branch_1'):
        branch_1 = slim.conv2d(inputs, 384, [1, 1], scope='Conv2d_0a_1x1')
        branch_1 = tf.concat(axis=3, values=[
            slim.conv2d(branch_1, 256, [1, 3], scope='Conv2d_0b_1x3'),
            slim.conv2d(branch_1, 256, [3, 1], scope='Conv2d_0c_3x1')])
      with tf.variable_scope('Branch_2'):
        branch_2 = slim.conv2d(inputs, 384, [1, 1], scope='Conv2d_0a_1x1')
        branch_2 = slim.conv2d(branch_2, 448, [3, 1], scope='Conv2d_0b_3x1')
        branch_2 = slim.conv2d(branch_2, 512, [1, 3], scope='Conv2d_0c_1x3')
        branch_2 = tf.concat(axis=3, values=[
            slim.conv2d(branch_2, 256, [1, 3], scope='Conv2d_0d_1x3'),
            slim.conv2d(branch_2, 256, [3, 1], scope='Conv2d_0e_3x1')])
      with tf.variable_scope('Branch_3'):
        branch_3 = slim.avg_pool2d(inputs, [3, 3], scope='AvgPool_0a_3x3')
        branch_3 = slim.conv2d(branch_3, 256, [1, 1], scope='Conv2d_0b_1x1')
      return tf.concat(axis=3, values=[branch_0, branch_1, branch_2, branch_3])


def _mixed_3a(net):
  with tf.variable_scope('Branch_0'):
    branch_0 = slim.max_pool2d(net, [3, 3], stride=2, padding='VALID', scope='MaxPool_0a_3x3')
  with tf.variable_scope('Branch_1'):
    branch_1 = slim.conv2d(net, 96, [3, 3], stride=2, padding='VALID', scope='Conv2d_0a_3x3')
  return tf.concat(axis=3, values=[branch_0, branch_1])


def _mixed_4a(net):
  with tf.variable_scope('Branch_0'):
    branch_0 = slim.conv2d(net, 64, [1, 1], scope='Conv2d_0a_1x1')
    branch_0 = slim.conv2d(branch_0, 96, [3, 3], padding='VALID', scope='Conv2d_1a_3x3')
  with tf.variable_scope('Branch_1'):
    branch_1 = slim.conv2d(net, 64, [1, 1], scope='Conv2d_0a_1x1')
    branch_1 = slim.conv2d(branch_1, 64, [1, 7], scope='Conv2d_0b_1x7')
    branch_1 = slim.conv2d(branch_1, 64, [7, 1], scope='Conv2d_0c_7x1')
    branch_1 = slim.conv2d(branch_1, 96, [3, 3], padding='VALID', scope='Conv2d_1a_3x3')
  return tf.concat(axis=3, values=[branch_0, branch_1])


def _mixed_5a(net):
  with tf.variable_scope('Branch_0'):
    branch_0 = slim.conv2d(net, 192, [3, 3], stride=2, padding='VALID', scope='Conv2d_1a_3x3')
  with tf.variable_scope('Branch_1'):
    branch_1 = slim.max_pool2d(net, [3, 3], stride=2, padding='VALID', scope='MaxPool_1a_3x3')
  return tf.concat(axis=3, values=[branch_0, branch_1])


# The repeated blocks; each is built under a scope named after its end point.
_BLOCK_OF = dict(
    [('Mixed_5%s' % c, block_inception_a) for c in 'bcde'] +
    [('Mixed_6a', block_reduction_a)] +
    [('Mixed_6%s' % c, block_inception_b) for c in 'bcdefgh'] +
    [('Mixed_7a', block_reduction_b)] +
    [('Mixed_7%s' % c, block_inception_c) for c in 'bcd'])


def _layer_for(end_point):
  """The function that builds `end_point` from the previous end point's tensor."""
  stem = {
      'Conv2d_1a_3x3': lambda x: slim.conv2d(x, 32, [3, 3], stride=2, padding='VALID',
                                             scope='Conv2d_1a_3x3'),
      'Conv2d_2a_3x3': lambda x: slim.conv2d(x, 32, [3, 3], padding='VALID',
                                             scope='Conv2d_2a_3x3'),
      'Conv2d_2b_3x3': lambda x: slim.conv2d(x, 64, [3, 3], scope='Conv2d_2b_3x3'),
  }
  if end_point in stem:
    return stem[end_point]
  mixed = {'Mixed_3a': _mixed_3a, 'Mixed_4a': _mixed_4a, 'Mixed_5a': _mixed_5a}
  if end_point in mixed:
    def build(x):
      with tf.variable_scope(end_point):
        return mixed[end_point](x)
    return build
  block = _BLOCK_OF[end_point]
  return lambda x: block(x, end_point)


def inception_v4_base(inputs, final_endpoint='Mixed_7d', scope=None):
  """Builds the Inception V4 trunk, from the input up to `final_endpoint`.

  Sizes at a 299 x 299 input: 149, 147, 147 (stem convs), 73 (Mixed_3a), 71 (Mixed_4a),
  35 (Mixed_5a..5e, depth 384), 17 (Mixed_6a..6h, 1024), 8 (Mixed_7a..7d, 1536).

  Args:
    inputs: a [batch, height, width, 3] tensor.
    final_endpoint: the last end point to build, one of BASE_ENDPOINTS.
    scope: variable scope (default 'InceptionV4').

  Returns:
    (tensor at final_endpoint, dict of end point name -> tensor).

  Raises:
    ValueError (InceptionArgumentError): for an unknown final_endpoint.
  """
  inception_utils.check_final_endpoint(final_endpoint, BASE_ENDPOINTS)
  end_points = {}
  with tf.variable_scope(scope, 'InceptionV4', [inputs]):
    with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], **_SAME_STRIDE_1):
      net = inputs
      for end_point in BASE_ENDPOINTS:
        net = _layer_for(end_point)(net)
        end_points[end_point] = net
        if end_point == final_endpoint:
          return net, end_points
  raise inception_utils.InceptionArgumentError('Unknown final endpoint %s' % final_endpoint)


def inception_v4(inputs, num_classes=1001, is_training=True,
                 dropout_keep_prob=0.8,
                 reuse=None,
                 scope='InceptionV4',
                 create_aux_logits=True):
  """Inception V4 classifier, with the auxiliary classifier on Mixed_6h.

  Args:
    inputs: a [batch, height, width, 3] tensor (299 x 299 by default).
    num_classes: number of predicted classes; 0 or None skips both classifiers and returns the
      pooled features ([batch, 1, 1, 1536]).
    is_training: whether batch norm and dropout are in training mode.
    dropout_keep_prob: fraction of activations kept by dropout before the logits.
    reuse: whether to reuse the network's variables (needs the same `scope`).
    scope: variable scope.
    create_aux_logits: whether to build the auxiliary classifier (end point `AuxLogits`).

  Returns:
    (logits [batch, num_classes], or the pooled features when num_classes is 0/None;
     dict of end points).
  """
  with tf.variable_scope(scope, 'InceptionV4', [inputs], reuse=reuse) as scope:
    with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
      net, end_points = inception_v4_base(inputs, scope=scope)

      with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], **_SAME_STRIDE_1):
        if create_aux_logits and num_classes:
          with tf.variable_scope('AuxLogits'):
            aux = slim.avg_pool2d(end_points['Mixed_6h'], [5, 5], stride=3, padding='VALID',
                                  scope='AvgPool_1a_5x5')
            aux = slim.conv2d(aux, 128, [1, 1], scope='Conv2d_1b_1x1')
            # A kernel as large as the map (5 x 5 at 299) reduces it to 1 x 1.
            aux = slim.conv2d(aux, 768, aux.get_shape()[1:3], padding='VALID', scope='Conv2d_2a')
            aux = slim.flatten(aux)
            aux = slim.fully_connected(aux, num_classes, activation_fn=None, scope='Aux_logits')
            end_points['AuxLogits'] = aux

        with tf.variable_scope('Logits'):
          kernel_size = net.get_shape()[1:3]
          if kernel_size.is_fully_defined():
            net = slim.avg_pool2d(net, kernel_size, padding='VALID', scope='AvgPool_1a')
          else:
            net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
          end_points['global_pool'] = net
          if not num_classes:
            return net, end_points
          net = slim.dropout(net, dropout_keep_prob, scope='Dropout_1b')
          net = slim.flatten(net, scope='PreLogitsFlatten')
          end_points['PreLogitsFlatten'] = net
          logits = slim.fully_connected(net, num_classes, activation_fn=None, scope='Logits')
          end_points['Logits'] = logits
          end_points['Predictions'] = tf.nn.softmax(logits, name='Predictions')
  return logits, end_points


inception_v4.default_image_size = 299

inception_v4_arg_scope = inception_utils.inception_arg_scope
