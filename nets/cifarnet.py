"""CifarNet: the small network of the TensorFlow CIFAR-10 tutorial.

Architecture after A. Krizhevsky's cuda-convnet CIFAR-10 model ("Learning Multiple Layers of
Features from Tiny Images", 2009): two conv / pool / local response normalisation stages followed by
three fully connected layers.

`trunc_normal(stddev)` is the truncated-normal (mean 0) weight initializer factory the layers use.
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import inception_utils


# Truncated-normal initializer of a given stddev (mean 0); the name user code imports.
trunc_normal = inception_utils.trunc_normal


def _lrn(net, name):
  # Normalisation constants of the CIFAR-10 tutorial model.
  return tf.nn.lrn(net, depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, name=name)


def cifarnet(images, num_classes=10, is_training=False, dropout_keep_prob=0.5,
             prediction_fn=slim.softmax, scope='CifarNet'):
  """CifarNet for 32x32 images.

  Args:
    images: [batch, 32, 32, channels] float tensor.
    num_classes: number of outputs; 0 or None returns the 192-d `fc4` features.
    is_training: whether dropout is active.
    dropout_keep_prob: keep probability of the dropout after `fc3`.
    prediction_fn: maps logits to the `Predictions` end point.
    scope: variable scope of the network.

  Returns:
    (logits [batch, num_classes], end_points dict), or (fc4 features, end_points) without classes.
  """
  end_points = {}
  with tf.variable_scope(scope, 'CifarNet', [images]):
    net = slim.conv2d(images, 64, [5, 5], scope='conv1')
    end_points['conv1'] = net
    net = slim.max_pool2d(net, [2, 2], 2, scope='pool1')
    end_points['pool1'] = net
    net = _lrn(net, 'norm1')
    net = slim.conv2d(net, 64, [5, 5], scope='conv2')
    end_points['conv2'] = net
    # The second stage normalises before pooling, unlike the first.
    net = _lrn(net, 'norm2')
    net = slim.max_pool2d(net, [2, 2], 2, scope='pool2')
    end_points['pool2'] = net
    net = slim.flatten(net)  # 8 * 8 * 64 = 4096
    end_points['Flatten'] = net
    net = slim.fully_connected(net, 384, scope='fc3')
    end_points['fc3'] = net
    net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope='dropout3')
    net = slim.fully_connected(net, 192, scope='fc4')
    end_points['fc4'] = net
    if not num_classes:
      return net, end_points
    # The classifier is linear, unregularised, with its own initialisation.
    logits = slim.fully_connected(
        net, num_classes,
        activation_fn=None,
        biases_initializer=tf.zeros_initializer(),
        weights_initializer=trunc_normal(1 / 192.0),
        weights_regularizer=None,
        scope='logits')
    end_points['Logits'] = logits
    end_points['Predictions'] = prediction_fn(logits, scope='Predictions')
  return logits, end_points


cifarnet.default_image_size = 32


def cifarnet_arg_scope(weight_decay=0.004):
  """Layer defaults of CifarNet: ReLU everywhere; L2 decay and 0.1 biases on fully connected layers."""
  with slim.arg_scope(
      [slim.conv2d],
      weights_initializer=trunc_normal(5e-2),
      activation_fn=tf.nn.relu):
    with slim.arg_scope(
        [slim.fully_connected],
        biases_initializer=tf.constant_initializer(0.1),
        weights_initializer=trunc_normal(0.04),
        weights_regularizer=slim.l2_regularizer(weight_decay),
        activation_fn=tf.nn.relu) as sc:
      return sc
