"""I3D: Inception V1 inflated to 3-D, for video classification.

Carreira and Zisserman, "Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset",
CVPR 2017, https://arxiv.org/abs/1705.07750

`trunc_normal(stddev)` is the truncated-normal (mean 0) weight initializer factory the layers use.
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import i3d_utils
from nets import inception_utils
from nets import s3dg

trunc_normal = inception_utils.trunc_normal
conv3d_spatiotemporal = i3d_utils.conv3d_spatiotemporal


def i3d_arg_scope(weight_decay=1e-7,
                  batch_norm_decay=0.999,
                  batch_norm_epsilon=0.001,
                  use_renorm=False,
                  separable_conv3d=False):
  """Layer defaults of I3D: L2 penalty, ReLU and batch norm on every 3-D convolution.

  Args:
    weight_decay: L2 regularisation factor of the weights.
    batch_norm_decay: decay of the batch-norm moving averages.
    batch_norm_epsilon: added to the variance to avoid dividing by zero.
    use_renorm: whether batch norm uses batch renormalisation.
    separable_conv3d: whether spatio-temporal convolutions are factorised.

  Returns:
    An arg scope to enter with `slim.arg_scope`.
  """
  batch_norm_params = {
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'fused': False,
      'renorm': use_renorm,
      # The moving statistics are also collected in `moving_vars`.
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
    with slim.arg_scope([conv3d_spatiotemporal], separable=separable_conv3d) as scope:
      return scope


def i3d_base(inputs, final_endpoint='Mixed_5c', scope='InceptionV1'):
  """Builds the I3D trunk: S3D-G's with a 7-frame first kernel and no feature gating.

  Args:
    inputs: a [batch, frames, height, width, 3] tensor.
    final_endpoint: the last end point to build (see s3dg.BASE_ENDPOINTS).
    scope: variable scope.

  Returns:
    (tensor at final_endpoint, dict of end point name -> tensor).
  """
  return s3dg.s3dg_base(
      inputs,
      first_temporal_kernel_size=7,
      temporal_conv_startat='Conv2d_2c_3x3',
      gating_startat=None,
      final_endpoint=final_endpoint,
      min_depth=16,
      depth_multiplier=1.0,
      data_format='NDHWC',
      scope=scope)


def i3d(inputs,
        num_classes=1000,
        dropout_keep_prob=0.8,
        is_training=True,
        prediction_fn=slim.softmax,
        spatial_squeeze=True,
        reuse=None,
        scope='InceptionV1'):
  """I3D video classifier.

  Args:
    inputs: a [batch, frames, height, width, 3] tensor (224 x 224 frames by default).
    num_classes: number of predicted classes; 0 or None returns the pooled features instead.
    dropout_keep_prob: fraction of activations kept by dropout before the logits.
    is_training: whether batch norm and dropout are in training mode.
    prediction_fn: maps logits to predictions (end point `Predictions`).
    spatial_squeeze: if True, logits are [batch, num_classes]; else [batch, 1, 1, num_classes].
    reuse: whether to reuse the network's variables (needs the same `scope`).
    scope: variable scope.

  Returns:
    (logits, dict of end points).
  """
  with tf.variable_scope(scope, 'InceptionV1', [inputs, num_classes], reuse=reuse) as scope:
    with slim.arg_scope([slim.batch_norm, slim.dropout], is_training=is_training):
      net, end_points = i3d_base(inputs, scope=scope)
      return s3dg.logits_head(net, end_points, num_classes, dropout_keep_prob, prediction_fn,
                              spatial_squeeze)


i3d.default_image_size = 224
