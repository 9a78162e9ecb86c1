"""Inception-ResNet-V2.

Szegedy, Ioffe, Vanhoucke and Alemi, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", AAAI 2017, https://arxiv.org/abs/1602.07261
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import inception_utils

BASE_ENDPOINTS = (
    'Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'MaxPool_3a_3x3', 'Conv2d_3b_1x1',
    'Conv2d_4a_3x3', 'MaxPool_5a_3x3', 'Mixed_5b', 'Mixed_6a', 'PreAuxLogits', 'Mixed_7a',
    'Conv2d_7b_1x1')


def _residual(net, mixed, scale, activation_fn):
  """Adds the scaled 1x1 projection of `mixed` to `net` (the shortcut), then the activation."""
  # Linear projection back to the input depth: no batch norm, no activation (so it has biases).
  up = slim.conv2d(mixed, net.get_shape()[3], 1, normalizer_fn=None, activation_fn=None,
                   scope='Conv2d_1x1')
  scaled_up = up * scale
  if activation_fn == tf.nn.relu6:
    # Keep the sum within relu6's range so a quantised graph can represent it.
    scaled_up = tf.clip_by_value(scaled_up, -6.0, 6.0)
  net += scaled_up
  if activation_fn:
    net = activation_fn(net)
  return net


# `slim.repeat` names the copies after these functions (`block35_1`, ...), so the published
# checkpoint's names depend on the function names: keep them.
def block35(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None):
  """Residual Inception block of the 35 x 35 grid (Inception-ResNet-A)."""
  with tf.variable_scope(scope, 'Block35', [net], reuse=reuse):
    with tf.variable_scope('Branch_0'):
      tower_conv = slim.conv2d(net, 32, 1, scope='Conv2d_1x1')
    with tf.variable_scope('Branch_1'):
      tower_conv1 = slim.conv2d(net, 32, 1, scope='Conv2d_0a_1x1')
      tower_conv1 = slim.conv2d(tower_conv1, 32, 3, scope='Conv2d_0b_3x3')
    with tf.variable_scope('Branch_2'):
      tower_conv2 = slim.conv2d(net, 32, 1, scope='Conv2d_0a_1x1')
      tower_conv2 = slim.conv2d(tower_conv2, 48, 3, scope='Conv2d_0b_3x3')
      tower_conv2 = slim.conv2d(tower_conv2, 64, 3, scope='Conv2d_0c_3x3')
    mixed = tf.concat(axis=3, values=[tower_conv, tower_conv1, tower_conv2])
    return _residual(net, mixed, scale, activation_fn)


def block17(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None):
  """Residual Inception block of the 17 x 17 grid (Inception-ResNet-B)."""
  with tf.variable_scope(scope, 'Block17', [net], reuse=reuse):
    with tf.variable_scope('Branch_0'):
      tower_conv = slim.conv2d(net, 192, 1, scope='Conv2d_1x1')
    with tf.variable_scope('Branch_1'):
      tower_conv1 = slim.conv2d(net, 128, 1, scope='Conv2d_0a_1x1')
      tower_conv1 = slim.conv2d(tower_conv1, 160, [1, 7], scope='Conv2d_0b_1x7')
      tower_conv1 = slim.conv2d(tower_conv1, 192, [7, 1], scope='Conv2d_0c_7x1')
    mixed = tf.concat(axis=3, values=[tower_conv, tower_conv1])
    return _residual(net, mixed, scale, activation_fn)


def block8(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None):
  """Residual Inception block of the 8 x 8 grid (Inception-ResNet-C)."""
  with tf.variable_scope(scope, 'Block8', [net], reuse=reuse):
    with tf.variable_scope('Branch_0'):
      tower_conv = slim.conv2d(net, 192, 1, scope='Conv2d_1x1')
    with tf.variable_scope('Branch_1'):
      tower_conv1 = slim.conv2d(net, 192, 1, scope='Conv2d_0a_1x1')
      tower_conv1 = slim.conv2d(tower_conv1, 224, [1, 3], scope='Conv2d_0b_1x3')
      tower_conv1 = slim.conv2d(tower_conv1, 256, [3, 1], scope='Conv2d_0c_3x1')
    mixed = tf.concat(axis=3, values=[tower_conv, tower_conv1])
    return _residual(net, mixed, scale, activation_fn)


def inception_resnet_v2_base(inputs,
                             final_endpoint='Conv2d_7b_1x1',
                             output_stride=16,
                             align_feature_maps=False,
                             scope=None,
                             activation_fn=tf.nn.relu):
  """Builds the Inception-ResNet-V2 trunk, from the input up to `final_endpoint`.

  Args:
    inputs: a [batch, height, width, 3] tensor.
    final_endpoint: the last end point to build, one of BASE_ENDPOINTS.
    output_stride: 16 (the published network) or 8; with 8 the 17 x 17 part keeps stride 8 and
      uses atrous convolution, which is only supported up to `PreAuxLogits`.
    align_feature_maps: if True, every unpadded ('VALID') layer is padded ('SAME') instead, so
      feature maps stay aligned with the input (as used for detection).
    scope: variable scope (default 'InceptionResnetV2').
    activation_fn: activation of the residual blocks.

  Returns:
    (tensor at final_endpoint, dict of end point name -> tensor).

  Raises:
    ValueError (InceptionArgumentError): output_stride not 8 or 16, output_stride 8 past
      PreAuxLogits, or an unknown final_endpoint.
  """
  if output_stride not in (8, 16):
    raise inception_utils.InceptionArgumentError('output_stride must be 8 or 16.')
  inception_utils.check_final_endpoint(final_endpoint, BASE_ENDPOINTS)
  padding = 'SAME' if align_feature_maps else 'VALID'
  end_points = {}

  def add_and_check_final(name, tensor):
    end_points[name] = tensor
    return name == final_endpoint

  with tf.variable_scope(scope, 'InceptionResnetV2', [inputs]):
    with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], stride=1, padding='SAME'):
      # 149 x 149 x 32 at a 299 input (150 when aligned)
      net = slim.conv2d(inputs, 32, 3, stride=2, padding=padding, scope='Conv2d_1a_3x3')
      if add_and_check_final('Conv2d_1a_3x3', net):
        return net, end_points
      # 147 x 147 x 32
      net = slim.conv2d(net, 32, 3, padding=padding, scope='Conv2d_2a_3x3')
      if add_and_check_final('Conv2d_2a_3x3', net):
        return net, end_points
      # 147 x 147 x 64
      net = slim.conv2d(net, 64, 3, scope='Conv2d_2b_3x3')
      if add_and_check_final('Conv2d_2b_3x3', net):
        return net, end_points
      # 73 x 73 x 64
      net = slim.max_pool2d(net, 3, stride=2, padding=padding, scope='MaxPool_3a_3x3')
      if add_and_check_final('MaxPool_3a_3x3', net):
        return net, end_points
      # 73 x 73 x 80
      net = slim.conv2d(net, 80, 1, padding=padding, scope='Conv2d_3b_1x1')
      if add_and_check_final('Conv2d_3b_1x1', net):
        return net, end_points
      # 71 x 71 x 192
      net = slim.conv2d(net, 192, 3, padding=padding, scope='Conv2d_4a_3x3')
      if add_and_check_final('Conv2d_4a_3x3', net):
        return net, end_points
      # 35 x 35 x 192
      net = slim.max_pool2d(net, 3, stride=2, padding=padding, scope='MaxPool_5a_3x3')
      if add_and_check_final('MaxPool_5a_3x3', net):
        return net, end_points

      # 35 x 35 x 320
      with tf.variable_scope('Mixed_5b'):
        with tf.variable_scope('Branch_0'):
          tower_conv = slim.conv2d(net, 96, 1, scope='Conv2d_1x1')
        with tf.variable_scope('Branch_1'):
          tower_conv1 = slim.conv2d(net, 48, 1, scope='Conv2d_0a_1x1')
          tower_conv1 = slim.conv2d(tower_conv1, 64, 5, scope='Conv2d_0b_5x5')
        with tf.variable_scope('Branch_2'):
          tower_conv2 = slim.conv2d(net, 64, 1, scope='Conv2d_0a_1x1')
          tower_conv2 = slim.conv2d(tower_conv2, 96, 3, scope='Conv2d_0b_3x3')
          tower_conv2 = slim.conv2d(tower_conv2, 96, 3, scope='Conv2d_0c_3x3')
        with tf.variable_scope('Branch_3'):
          tower_pool = slim.avg_pool2d(net, 3, stride=1, padding='SAME', scope='AvgPool_0a_3x3')
          tower_pool = slim.conv2d(tower_pool, 64, 1, scope='Conv2d_0b_1x1')
        net = tf.concat(axis=3, values=[tower_conv, tower_conv1, tower_conv2, tower_pool])
      if add_and_check_final('Mixed_5b', net):
        return net, end_points

      # Unnamed repeat: the ten blocks land in scope `Repeat` (checkpoint names depend on it).
      net = slim.repeat(net, 10, block35, scale=0.17, activation_fn=activation_fn)

      # 17 x 17 x 1088 (33 x 33 with output_stride 8, which skips this reduction's stride)
      use_atrous = output_stride == 8
      reduction_stride = 1 if use_atrous else 2
      with tf.variable_scope('Mixed_6a'):
        with tf.variable_scope('Branch_0'):
          tower_conv = slim.conv2d(net, 384, 3, stride=reduction_stride, padding=padding,
                                   scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_1'):
          tower_conv1 = slim.conv2d(net, 256, 1, scope='Conv2d_0a_1x1')
          tower_conv1 = slim.conv2d(tower_conv1, 256, 3, scope='Conv2d_0b_3x3')
          tower_conv1 = slim.conv2d(tower_conv1, 384, 3, stride=reduction_stride,
                                    padding=padding, scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_2'):
          tower_pool = slim.max_pool2d(net, 3, stride=reduction_stride, padding=padding,
                                       scope='MaxPool_1a_3x3')
        net = tf.concat(axis=3, values=[tower_conv, tower_conv1, tower_pool])
      if add_and_check_final('Mixed_6a', net):
        return net, end_points

      # Scope `Repeat_1`; dilation keeps the receptive field when the stride was skipped.
      with slim.arg_scope([slim.conv2d], rate=2 if use_atrous else 1):
        net = slim.repeat(net, 20, block17, scale=0.10, activation_fn=activation_fn)
      if add_and_check_final('PreAuxLogits', net):
        return net, end_points

      if output_stride == 8:
        raise inception_utils.InceptionArgumentError(
            'output_stride==8 is only supported up to the PreAuxlogits end_point for now.')

      # 8 x 8 x 2080
      with tf.variable_scope('Mixed_7a'):
        with tf.variable_scope('Branch_0'):
          tower_conv = slim.conv2d(net, 256, 1, scope='Conv2d_0a_1x1')
          tower_conv_1 = slim.conv2d(tower_conv, 384, 3, stride=2, padding=padding,
                                     scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_1'):
          tower_conv1 = slim.conv2d(net, 256, 1, scope='Conv2d_0a_1x1')
          tower_conv1_1 = slim.conv2d(tower_conv1, 288, 3, stride=2, padding=padding,
                                      scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_2'):
          tower_conv2 = slim.conv2d(net, 256, 1, scope='Conv2d_0a_1x1')
          tower_conv2 = slim.conv2d(tower_conv2, 288, 3, scope='Conv2d_0b_3x3')
          tower_conv2 = slim.conv2d(tower_conv2, 320, 3, stride=2, padding=padding,
                                    scope='Conv2d_1a_3x3')
        with tf.variable_scope('Branch_3'):
          tower_pool = slim.max_pool2d(net, 3, stride=2, padding=padding, scope='MaxPool_1a_3x3')
        net = tf.concat(axis=3, values=[tower_conv_1, tower_conv1_1, tower_conv2, tower_pool])
      if add_and_check_final('Mixed_7a', net):
        return net, end_points

      # Scope `Repeat_2`, then a last block without activation in the default scope `Block8`.
      net = slim.repeat(net, 9, block8, scale=0.20, activation_fn=activation_fn)
      net = block8(net, activation_fn=None)

      # 8 x 8 x 1536
      net = slim.conv2d(net, 1536, 1, scope='Conv2d_7b_1x1')
      if add_and_check_final('Conv2d_7b_1x1', net):
        return net, end_points
  raise inception_utils.InceptionArgumentError('Unknown final endpoint %s' % final_endpoint)


def inception_resnet_v2(inputs, num_classes=1001, is_training=True,
                        dropout_keep_prob=0.8,
                        reuse=None,
                        scope='InceptionResnetV2',
                        create_aux_logits=True,
                        activation_fn=tf.nn.relu):
  """Inception-ResNet-V2 classifier, with the auxiliary classifier on PreAuxLogits.

  Args:
    inputs: a [batch, height, width, 3] tensor (299 x 299 by default).
    num_classes: number of predicted classes; 0 or None skips both classifiers and returns the
      pooled features ([batch, 1, 1, 1536]).
    is_training: whether batch norm and dropout are in training mode.
    dropout_keep_prob: fraction of activations kept by dropout before the logits.
    reuse: whether to reuse the network's variables (needs the same `scope`).
    scope: variable scope.
    create_aux_logits: whether to build the auxiliary classifier (end point `AuxLogits`).
    activation_fn: activation of the residual blocks.

  Returns:
    (logits [batch, num_classes], or the pooled features when num_classes is 0/None;
     dict of end points).
  """
  with tf.variable_scope(scope, 'InceptionResnetV2', [inputs], reuse=reuse) as scope:
    with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
      net, end_points = inception_resnet_v2_base(inputs, scope=scope,
                                                 activation_fn=activation_fn)

      if create_aux_logits and num_classes:
        with tf.variable_scope('AuxLogits'):
          aux = end_points['PreAuxLogits']
          # The published checkpoint calls this average pool `Conv2d_1a_3x3`.
          aux = slim.avg_pool2d(aux, 5, stride=3, padding='VALID', scope='Conv2d_1a_3x3')
          aux = slim.conv2d(aux, 128, 1, scope='Conv2d_1b_1x1')
          aux = slim.conv2d(aux, 768, aux.get_shape()[1:3], padding='VALID',
                            scope='Conv2d_2a_5x5')
          aux = slim.flatten(aux)
          aux = slim.fully_connected(aux, num_classes, activation_fn=None, scope='Logits')
          end_points['AuxLogits'] = aux

      with tf.variable_scope('Logits'):
        kernel_size = net.get_shape()[1:3]
        if kernel_size.is_fully_defined():
          net = slim.avg_pool2d(net, kernel_size, padding='VALID', scope='AvgPool_1a_8x8')
        else:
          net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
        end_points['global_pool'] = net
        if not num_classes:
          return net, end_points
        net = slim.flatten(net)
        net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope='Dropout')
        end_points['PreLogitsFlatten'] = net
        logits = slim.fully_connected(net, num_classes, activation_fn=None, scope='Logits')
        end_points['Logits'] = logits
        end_points['Predictions'] = tf.nn.softmax(logits, name='Predictions')
  return logits, end_points


inception_resnet_v2.default_image_size = 299


def inception_resnet_v2_arg_scope(weight_decay=0.00004,
                                  batch_norm_decay=0.9997,
                                  batch_norm_epsilon=0.001,
                                  activation_fn=tf.nn.relu,
                                  batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS,
                                  batch_norm_scale=False):
  """Layer defaults of Inception-ResNet-V2.

  Unlike the other Inception nets, the L2 penalty also applies to biases (those of the residual
  projections and the fully connected layers).

  Args:
    weight_decay: L2 regularisation factor of weights and biases.
    batch_norm_decay: decay of the batch-norm moving averages.
    batch_norm_epsilon: added to the variance to avoid dividing by zero.
    activation_fn: activation of the convolutions.
    batch_norm_updates_collections: collection the moving-average update ops are added to.
    batch_norm_scale: whether batch norm learns a scale (`gamma`).

  Returns:
    An arg scope to enter with `slim.arg_scope`.
  """
  regularizer = slim.l2_regularizer(weight_decay)
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      weights_regularizer=regularizer, biases_regularizer=regularizer):
    batch_norm_params = {
        'decay': batch_norm_decay,
        'epsilon': batch_norm_epsilon,
        'updates_collections': batch_norm_updates_collections,
        'fused': None,
        'scale': batch_norm_scale,
    }
    with slim.arg_scope([slim.conv2d], activation_fn=activation_fn,
                        normalizer_fn=slim.batch_norm,
                        normalizer_params=batch_norm_params) as scope:
      return scope
