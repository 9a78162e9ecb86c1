"""OverFeat (the "accurate" model's layer sizes with the fast model's strides).

P. Sermanet, D. Eigen, X. Zhang, M. Mathieu, R. Fergus and Y. LeCun, "OverFeat: Integrated
Recognition, Localization and Detection using Convolutional Networks", ICLR 2014
(arXiv:1312.6229). Local response normalisation is left out; the fully connected layers are
convolutions, so inputs larger than 231x231 give a spatial map of logits (spatial_squeeze=False).

Typical use:

  with slim.arg_scope(overfeat.overfeat_arg_scope()):
    logits, end_points = overfeat.overfeat(images)

`trunc_normal(stddev)` is the truncated-normal (mean 0) weight initializer factory the layers use.
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import inception_utils


# Truncated-normal initializer of a given stddev (mean 0); the name user code imports.
trunc_normal = inception_utils.trunc_normal


def overfeat_arg_scope(weight_decay=0.0005):
  """Layer defaults: ReLU, L2 weight decay, zero biases, SAME convolutions, VALID max pooling."""
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      activation_fn=tf.nn.relu,
                      weights_regularizer=slim.l2_regularizer(weight_decay),
                      biases_initializer=tf.zeros_initializer()):
    with slim.arg_scope([slim.conv2d], padding='SAME'):
      with slim.arg_scope([slim.max_pool2d], padding='VALID') as arg_sc:
        return arg_sc


def overfeat(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5,
             spatial_squeeze=True, scope='overfeat', global_pool=False):
  """OverFeat.

  Args:
    inputs: [batch, height, width, channels] tensor, 231x231 for the classifier.
    num_classes: number of classes; 0 or None omits `fc8` (and `dropout7`) and returns `fc7`.
    is_training: whether dropout is active.
    dropout_keep_prob: keep probability of the dropouts after fc6 and fc7.
    spatial_squeeze: if True, squeeze the 1x1 logits to [batch, num_classes] (`fc8/squeezed`).
    scope: variable scope.
    global_pool: if True, average `fc7` over space before `fc8` (end point `global_pool`).

  Returns:
    (net, end_points): logits, or `fc7` (globally pooled if asked) without classes.
  """
  with tf.variable_scope(scope, 'overfeat', [inputs]) as sc:
    end_points_collection = sc.original_name_scope + '_end_points'
    with slim.arg_scope([slim.conv2d, slim.fully_connected, slim.max_pool2d],
                        outputs_collections=end_points_collection):
      net = slim.conv2d(inputs, 64, [11, 11], 4, padding='VALID', scope='conv1')
      net = slim.max_pool2d(net, [2, 2], scope='pool1')
      net = slim.conv2d(net, 256, [5, 5], padding='VALID', scope='conv2')
      net = slim.max_pool2d(net, [2, 2], scope='pool2')
      net = slim.conv2d(net, 512, [3, 3], scope='conv3')
      net = slim.conv2d(net, 1024, [3, 3], scope='conv4')
      net = slim.conv2d(net, 1024, [3, 3], scope='conv5')
      net = slim.max_pool2d(net, [2, 2], scope='pool5')  # 6 x 6 x 1024 at 231

      # Fully connected layers as convolutions, with their own initialisation.
      with slim.arg_scope([slim.conv2d],
                          weights_initializer=trunc_normal(0.005),
                          biases_initializer=tf.constant_initializer(0.1)):
        net = slim.conv2d(net, 3072, [6, 6], padding='VALID', scope='fc6')
        net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope='dropout6')
        net = slim.conv2d(net, 4096, [1, 1], scope='fc7')
        end_points = slim.utils.convert_collection_to_dict(end_points_collection)
        if global_pool:
          net = tf.reduce_mean(net, [1, 2], keepdims=True, name='global_pool')
          end_points['global_pool'] = net
        if num_classes:
          net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope='dropout7')
          net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                            biases_initializer=tf.zeros_initializer(), scope='fc8')
          if spatial_squeeze:
            net = tf.squeeze(net, [1, 2], name='fc8/squeezed')
          end_points[sc.name + '/fc8'] = net
      return net, end_points


overfeat.default_image_size = 231
