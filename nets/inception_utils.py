"""Layer defaults shared by the Inception family (V1 to V4), and helpers used by several of them."""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import net_utils

reduced_kernel_size_for_small_input = net_utils.reduced_kernel_size_for_small_input


class InceptionArgumentError(ValueError):
  """A bad argument to an Inception network (a ValueError, as in the original)."""


def inception_arg_scope(weight_decay=0.00004,
                        use_batch_norm=True,
                        batch_norm_decay=0.9997,
                        batch_norm_epsilon=0.001,
                        activation_fn=tf.nn.relu,
                        batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS,
                        batch_norm_scale=False):
  """Returns the arg scope the Inception networks are built (and were trained) with.

  Convolutions get an L2 weight penalty, variance-scaling initialisation, `activation_fn` and batch
  norm (so no biases); fully connected layers share the weight penalty only.

  Args:
    weight_decay: L2 regularisation factor of conv and fully connected weights.
    use_batch_norm: whether convolutions are followed by batch norm.
    batch_norm_decay: decay of the batch-norm moving averages.
    batch_norm_epsilon: added to the variance to avoid dividing by zero.
    activation_fn: activation of the convolutions.
    batch_norm_updates_collections: collection the moving-average update ops are added to.
    batch_norm_scale: whether batch norm learns a scale (`gamma`); the published checkpoints have none.

  Returns:
    An arg scope to enter with `slim.arg_scope`.
  """
  if use_batch_norm:
    normalizer_fn = slim.batch_norm
    normalizer_params = {
        'decay': batch_norm_decay,
        'epsilon': batch_norm_epsilon,
        'updates_collections': batch_norm_updates_collections,
        # None lets TensorFlow choose the fused kernel whenever the input allows it.
        'fused': None,
        'scale': batch_norm_scale,
    }
  else:
    normalizer_fn = None
    normalizer_params = {}
  with slim.arg_scope([slim.conv2d, slim.fully_connected],
                      weights_regularizer=slim.l2_regularizer(weight_decay)):
    with slim.arg_scope([slim.conv2d],
                        weights_initializer=slim.variance_scaling_initializer(),
                        activation_fn=activation_fn,
                        normalizer_fn=normalizer_fn,
                        normalizer_params=normalizer_params) as scope:
      return scope


def trunc_normal(stddev):
  """Truncated-normal initializer with mean 0 (the init most Inception layers override with)."""
  return tf.truncated_normal_initializer(0.0, stddev)


def check_final_endpoint(final_endpoint, known):
  """Raises InceptionArgumentError for a final end point a base network does not have."""
  if final_endpoint not in known:
    raise InceptionArgumentError('Unknown final endpoint %s' % final_endpoint)
