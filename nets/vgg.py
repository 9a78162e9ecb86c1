"""VGG networks A (11 layers), D (16 layers) and E (19 layers).

K. Simonyan and A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015 (arXiv:1409.1556).

The fully connected layers are written as convolutions (`fc6` 7x7, `fc7` and `fc8` 1x1), so the
networks also run fully convolutionally on inputs larger than 224 (use spatial_squeeze=False).
There is no dropout/softmax end point: logits are the end point `<scope>/fc8`.

Typical use:

  with slim.arg_scope(vgg.vgg_arg_scope()):
    logits, end_points = vgg.vgg_16(images, num_classes=1000, is_training=False)
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

# Output channels of the five stages conv1..conv5, and number of 3x3 convolutions per stage.
_STAGE_DEPTHS = (64, 128, 256, 512, 512)
_REPEATS = {
    'vgg_a': (1, 1, 2, 2, 2),
    'vgg_16': (2, 2, 3, 3, 3),
    'vgg_19': (2, 2, 4, 4, 4),
}


def vgg_arg_scope(weight_decay=0.0005):
  """Layer defaults of VGG: ReLU, L2 weight decay, zero biases, SAME convolutions."""
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      activation_fn=tf.nn.relu,
                      weights_regularizer=slim.l2_regularizer(weight_decay),
                      biases_initializer=tf.zeros_initializer()):
    with slim.arg_scope([slim.conv2d], padding='SAME') as arg_sc:
      return arg_sc


def _vgg(inputs, repeats, default_scope, num_classes, is_training, dropout_keep_prob,
         spatial_squeeze, reuse, scope, fc_conv_padding, global_pool):
  """Builds a VGG net whose stage N has `repeats[N-1]` convolutions."""
  with tf.variable_scope(scope, default_scope, [inputs], reuse=reuse) as sc:
    end_points_collection = sc.original_name_scope + '_end_points'
    with slim.arg_scope([slim.conv2d, slim.fully_connected, slim.max_pool2d],
                        outputs_collections=end_points_collection):
      net = inputs
      for stage, (depth, repeat) in enumerate(zip(_STAGE_DEPTHS, repeats), start=1):
        # Layers named convN/convN_1 ... convN/convN_<repeat>.
        net = slim.repeat(net, repeat, slim.conv2d, depth, [3, 3], scope='conv%d' % stage)
        net = slim.max_pool2d(net, [2, 2], scope='pool%d' % stage)

      # Fully connected layers as convolutions; VALID fc6 maps a 7x7 pool5 to 1x1.
      net = slim.conv2d(net, 4096, [7, 7], padding=fc_conv_padding, scope='fc6')
      net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope='dropout6')
      net = slim.conv2d(net, 4096, [1, 1], scope='fc7')
      end_points = slim.utils.convert_collection_to_dict(end_points_collection)
      if global_pool:
        net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
        end_points['global_pool'] = net
      if num_classes:
        net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope='dropout7')
        net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                          scope='fc8')
        if spatial_squeeze:
          net = tf.squeeze(net, [1, 2], name='fc8/squeezed')
        end_points[sc.name + '/fc8'] = net
      return net, end_points


# `reuse` comes last here: the original placed it before `scope` only in later versions, and
# keeping `scope` sixth keeps positional calls of the older signature working.
def vgg_a(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5, spatial_squeeze=True,
          scope='vgg_a', fc_conv_padding='VALID', global_pool=False, reuse=None):
  """VGG configuration A (11 weight layers).

  Args:
    inputs: [batch, height, width, channels] tensor, 224x224 for the classifier.
    num_classes: number of classes; 0 or None omits `fc8` (and `dropout7`) and returns `fc7`.
    is_training: whether dropout is active.
    dropout_keep_prob: keep probability of the dropouts after fc6 and fc7.
    spatial_squeeze: if True, squeeze the 1x1 logits to [batch, num_classes] (`fc8/squeezed`).
    scope: variable scope.
    fc_conv_padding: padding of `fc6`: 'VALID' (classifier) or 'SAME' (dense feature map of
      the input size / 32).
    global_pool: if True, average `fc7` over space before `fc8` (end point `global_pool`).
    reuse: whether to reuse the variables (needs `scope`).

  Returns:
    (net, end_points): logits, or `fc7` (globally pooled if asked) without classes.
  """
  return _vgg(inputs, _REPEATS['vgg_a'], 'vgg_a', num_classes, is_training, dropout_keep_prob,
              spatial_squeeze, reuse, scope, fc_conv_padding, global_pool)


vgg_a.default_image_size = 224


def vgg_16(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5,
           spatial_squeeze=True, scope='vgg_16', fc_conv_padding='VALID', global_pool=False,
           reuse=None):
  """VGG configuration D (16 weight layers). Arguments as for `vgg_a`."""
  return _vgg(inputs, _REPEATS['vgg_16'], 'vgg_16', num_classes, is_training, dropout_keep_prob,
              spatial_squeeze, reuse, scope, fc_conv_padding, global_pool)


vgg_16.default_image_size = 224


def vgg_19(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5,
           spatial_squeeze=True, scope='vgg_19', fc_conv_padding='VALID', global_pool=False,
           reuse=None):
  """VGG configuration E (19 weight layers). Arguments as for `vgg_a`."""
  return _vgg(inputs, _REPEATS['vgg_19'], 'vgg_19', num_classes, is_training, dropout_keep_prob,
              spatial_squeeze, reuse, scope, fc_conv_padding, global_pool)


vgg_19.default_image_size = 224

# The paper's configuration letters.
vgg_d = vgg_16
vgg_e = vgg_19
