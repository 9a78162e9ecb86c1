"""LeNet-style convolutional network for 28x28 digits (MNIST).

Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning applied to document
recognition", Proceedings of the IEEE, 1998. This variant uses ReLU, max pooling, SAME convolutions
and dropout, as the slim model zoo does.
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim


def lenet(images, num_classes=10, is_training=False, dropout_keep_prob=0.5,
          prediction_fn=slim.softmax, scope='LeNet'):
  """LeNet: two conv/pool stages and two fully connected layers.

  Args:
    images: [batch, 28, 28, channels] float tensor.
    num_classes: number of outputs; 0 or None returns the 1024-d `fc3` features (before dropout).
    is_training: whether dropout is active.
    dropout_keep_prob: keep probability of the dropout before the last layer.
    prediction_fn: maps logits to the `Predictions` end point.
    scope: variable scope of the network.

  Returns:
    (logits [batch, num_classes], end_points dict), or (fc3 features, end_points) without classes.
    The `Predictions` op lives outside `scope` (op name `Predictions/Reshape_1`), as in the
    original graphs.
  """
  end_points = {}
  with tf.variable_scope(scope, 'LeNet', [images]):
    net = slim.conv2d(images, 32, [5, 5], scope='conv1')
    end_points['conv1'] = net
    net = slim.max_pool2d(net, [2, 2], 2, scope='pool1')
    end_points['pool1'] = net
    net = slim.conv2d(net, 64, [5, 5], scope='conv2')
    end_points['conv2'] = net
    net = slim.max_pool2d(net, [2, 2], 2, scope='pool2')
    end_points['pool2'] = net
    net = slim.flatten(net)  # 7 * 7 * 64 = 3136
    end_points['Flatten'] = net
    net = slim.fully_connected(net, 1024, scope='fc3')
    end_points['fc3'] = net
    if not num_classes:
      return net, end_points
    net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope='dropout3')
    end_points['dropout3'] = net
    logits = slim.fully_connected(net, num_classes, activation_fn=None, scope='fc4')
    end_points['Logits'] = logits

  # Deliberately outside the LeNet scope: exported graphs name this op `Predictions/Reshape_1`.
  end_points['Predictions'] = prediction_fn(logits, scope='Predictions')
  return logits, end_points


lenet.default_image_size = 28


def lenet_arg_scope(weight_decay=0.0):
  """Layer defaults of LeNet: ReLU, truncated-normal(0.1) weights, L2 weight decay."""
  with slim.arg_scope(
      [slim.conv2d, slim.fully_connected],
      weights_regularizer=slim.l2_regularizer(weight_decay),
      weights_initializer=tf.truncated_normal_initializer(stddev=0.1),
      activation_fn=tf.nn.relu) as sc:
    return sc
