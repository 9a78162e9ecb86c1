"""AlexNet version 2.

A. Krizhevsky, "One weird trick for parallelizing convolutional neural networks", arXiv:1404.5997,
2014 (the single-tower variant of A. Krizhevsky, I. Sutskever and G. Hinton, "ImageNet
Classification with Deep Convolutional Neural Networks", NIPS 2012). Local response normalisation
is left out, and the fully connected layers are convolutions, so larger inputs give a spatial map
of logits (use spatial_squeeze=False).

Typical use:

  with slim.arg_scope(alexnet.alexnet_v2_arg_scope()):
    logits, end_points = alexnet.alexnet_v2(images)

`trunc_normal(stddev)` is the truncated-normal (mean 0) weight initializer factory the layers use.
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import inception_utils


# Truncated-normal initializer of a given stddev (mean 0); the name user code imports.
trunc_normal = inception_utils.trunc_normal


def alexnet_v2_arg_scope(weight_decay=0.0005):
  """Layer defaults: ReLU, 0.1 biases, L2 weight decay, SAME convolutions, VALID max pooling."""
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      activation_fn=tf.nn.relu,
                      biases_initializer=tf.constant_initializer(0.1),
                      weights_regularizer=slim.l2_regularizer(weight_decay)):
    with slim.arg_scope([slim.conv2d], padding='SAME'):
      with slim.arg_scope([slim.max_pool2d], padding='VALID') as arg_sc:
        return arg_sc


def alexnet_v2(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5,
               spatial_squeeze=True, scope='alexnet_v2', global_pool=False):
  """AlexNet v2.

  Args:
    inputs: [batch, height, width, channels] tensor, 224x224 for the classifier.
    num_classes: number of classes; 0 or None omits `fc8` (and `dropout7`) and returns `fc7`.
    is_training: whether dropout is active.
    dropout_keep_prob: keep probability of the dropouts after fc6 and fc7.
    spatial_squeeze: if True, squeeze the 1x1 logits to [batch, num_classes] (`fc8/squeezed`).
    scope: variable scope.
    global_pool: if True, average `fc7` over space before `fc8` (end point `global_pool`).

  Returns:
    (net, end_points): logits, or `fc7` (globally pooled if asked) without classes.
  """
  with tf.variable_scope(scope, 'alexnet_v2', [inputs]) as sc:
    end_points_collection = sc.original_name_scope + '_end_points'
    with slim.arg_scope([slim.conv2d, slim.fully_connected, slim.max_pool2d],
                        outputs_collections=[end_points_collection]):
      net = slim.conv2d(inputs, 64, [11, 11], 4, padding='VALID', scope='conv1')
      net = slim.max_pool2d(net, [3, 3], 2, scope='pool1')
      net = slim.conv2d(net, 192, [5, 5], scope='conv2')
      net = slim.max_pool2d(net, [3, 3], 2, scope='pool2')
      net = slim.conv2d(net, 384, [3, 3], scope='conv3')
      net = slim.conv2d(net, 384, [3, 3], scope='conv4')
      net = slim.conv2d(net, 256, [3, 3], scope='conv5')
      net = slim.max_pool2d(net, [3, 3], 2, scope='pool5')  # 5 x 5 x 256 at 224

      # Fully connected layers as convolutions, with their own initialisation.
      with slim.arg_scope([slim.conv2d],
                          weights_initializer=trunc_normal(0.005),
                          biases_initializer=tf.constant_initializer(0.1)):
        net = slim.conv2d(net, 4096, [5, 5], padding='VALID', scope='fc6')
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


alexnet_v2.default_image_size = 224
