"""Building blocks shared by I3D and S3D-G: 3-D Inception modules and (separable) 3-D convolutions.

`add_arg_scope` (`slim.add_arg_scope`) and `layers` (`slim.layers`, the module of tf-slim's layer
functions: `layers.conv3d`, `layers.batch_norm`, ...) are reachable through this module, as user
code of the original reaches them.
"""
import numpy as np
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import inception_utils

add_arg_scope = slim.add_arg_scope
layers = slim.layers


def center_initializer():
  """Initializer of a temporal [t, 1, 1, c, c] kernel that starts as the identity.

  The centre frame of the kernel is an identity matrix and every other frame is zero, so a freshly
  initialised temporal convolution passes its input through unchanged (S3D-G inflates 2-D
  networks this way).

  Returns:
    An initializer function.
  """

  def _initializer(shape, dtype=tf.float32, partition_info=None):  # pylint: disable=unused-argument
    if len(shape) != 5:
      raise inception_utils.InceptionArgumentError(
          'center_initializer needs a 5-D kernel shape, got %s' % (shape,))
    if shape[1] != 1 or shape[2] != 1:
      raise inception_utils.InceptionArgumentError(
          'center_initializer is for temporal [t, 1, 1, c, c] kernels, got %s' % (shape,))
    if shape[3] != shape[4]:
      raise inception_utils.InceptionArgumentError(
          'center_initializer needs as many output as input channels, got %s' % (shape,))
    kernel = np.zeros(shape, dtype=np.float32)
    kernel[shape[0] // 2, 0, 0] = np.eye(shape[3], dtype=np.float32)
    return tf.constant(kernel, dtype=dtype)

  return _initializer


@slim.add_arg_scope
def conv3d_spatiotemporal(inputs,
                          num_outputs,
                          kernel_size,
                          stride=1,
                          padding='SAME',
                          activation_fn=None,
                          normalizer_fn=None,
                          normalizer_params=None,
                          weights_regularizer=None,
                          separable=False,
                          data_format='NDHWC',
                          scope=''):
  """A 3-D convolution, optionally factorised into a spatial and a temporal convolution.

  With separable=True and a temporal kernel size above 1, a [1, k, k] convolution (scope `scope`,
  with the normaliser) is followed by a [t, 1, 1] convolution (scope `scope/temporal`, identity
  initialised, no normaliser so it has biases). Otherwise it is one [t, k, k] convolution.

  Args:
    inputs: a 5-D tensor.
    num_outputs: number of output channels.
    kernel_size: [t, k_h, k_w].
    stride: an int or a [t, h, w] list.
    padding: 'SAME' or 'VALID'.
    activation_fn: activation of both convolutions.
    normalizer_fn: normaliser of the (spatial) convolution.
    normalizer_params: its parameters.
    weights_regularizer: regulariser of the weights.
    separable: whether to factorise the convolution.
    data_format: 'NDHWC' or 'NCDHW'.
    scope: variable scope of the (spatial) convolution.

  Returns:
    The output tensor.
  """
  if len(kernel_size) != 3:
    raise inception_utils.InceptionArgumentError(
        'kernel_size must be [time, height, width], got %s' % (kernel_size,))
  if separable and kernel_size[0] != 1:
    if isinstance(stride, (list, tuple)) and len(stride) == 3:
      spatial_stride = [1, stride[1], stride[2]]
      temporal_stride = [stride[0], 1, 1]
    else:
      spatial_stride = [1, stride, stride]
      temporal_stride = [stride, 1, 1]
    net = slim.conv3d(inputs, num_outputs, [1, kernel_size[1], kernel_size[2]],
                      stride=spatial_stride, padding=padding, activation_fn=activation_fn,
                      normalizer_fn=normalizer_fn, normalizer_params=normalizer_params,
                      weights_regularizer=weights_regularizer, data_format=data_format,
                      scope=scope)
    return slim.conv3d(net, num_outputs, [kernel_size[0], 1, 1], stride=temporal_stride,
                       padding=padding, activation_fn=activation_fn, normalizer_fn=None,
                       weights_initializer=center_initializer(),
                       weights_regularizer=weights_regularizer, data_format=data_format,
                       scope=scope + '/temporal')
  return slim.conv3d(inputs, num_outputs, kernel_size, stride=stride, padding=padding,
                     activation_fn=activation_fn, normalizer_fn=normalizer_fn,
                     normalizer_params=normalizer_params, weights_regularizer=weights_regularizer,
                     data_format=data_format, scope=scope)


def inception_block_v1_3d(inputs,
                          num_outputs_0_0a,
                          num_outputs_1_0a,
                          num_outputs_1_0b,
                          num_outputs_2_0a,
                          num_outputs_2_0b,
                          num_outputs_3_0b,
                          temporal_kernel_size=3,
                          self_gating_fn=None,
                          data_format='NDHWC',
                          scope=''):
  """A 3-D Inception V1 module: 1x1 | 1x1-3x3 | 1x1-3x3 | 3x3x3 max-pool-1x1, concatenated.

  Args:
    inputs: a 5-D tensor.
    num_outputs_0_0a: depth of Branch_0's 1x1x1 conv.
    num_outputs_1_0a: depth of Branch_1's 1x1x1 conv.
    num_outputs_1_0b: depth of Branch_1's [t, 3, 3] conv.
    num_outputs_2_0a: depth of Branch_2's 1x1x1 conv.
    num_outputs_2_0b: depth of Branch_2's [t, 3, 3] conv.
    num_outputs_3_0b: depth of Branch_3's 1x1x1 conv after the max pool.
    temporal_kernel_size: t, the temporal size of the 3x3 convolutions.
    self_gating_fn: if given, applied to each branch's output as fn(tensor, scope=layer name).
    data_format: 'NDHWC' or 'NCDHW'.
    scope: variable scope of the module.

  Returns:
    The concatenated output.
  """
  with tf.variable_scope(scope):

    def gate(net, name):
      return self_gating_fn(net, scope=name) if self_gating_fn else net

    with tf.variable_scope('Branch_0'):
      branch_0 = slim.conv3d(inputs, num_outputs_0_0a, [1, 1, 1], scope='Conv2d_0a_1x1')
      branch_0 = gate(branch_0, 'Conv2d_0a_1x1')
    with tf.variable_scope('Branch_1'):
      branch_1 = slim.conv3d(inputs, num_outputs_1_0a, [1, 1, 1], scope='Conv2d_0a_1x1')
      branch_1 = conv3d_spatiotemporal(branch_1, num_outputs_1_0b,
                                       [temporal_kernel_size, 3, 3], scope='Conv2d_0b_3x3')
      branch_1 = gate(branch_1, 'Conv2d_0b_3x3')
    with tf.variable_scope('Branch_2'):
      branch_2 = slim.conv3d(inputs, num_outputs_2_0a, [1, 1, 1], scope='Conv2d_0a_1x1')
      branch_2 = conv3d_spatiotemporal(branch_2, num_outputs_2_0b,
                                       [temporal_kernel_size, 3, 3], scope='Conv2d_0b_3x3')
      branch_2 = gate(branch_2, 'Conv2d_0b_3x3')
    with tf.variable_scope('Branch_3'):
      branch_3 = slim.max_pool3d(inputs, [3, 3, 3], stride=1, padding='SAME',
                                 data_format=data_format, scope='MaxPool_0a_3x3')
      branch_3 = slim.conv3d(branch_3, num_outputs_3_0b, [1, 1, 1], scope='Conv2d_0b_1x1')
      branch_3 = gate(branch_3, 'Conv2d_0b_1x1')
    return tf.concat([branch_0, branch_1, branch_2, branch_3], axis=data_format.index('C'))


def reduced_kernel_size_3d(input_tensor, kernel_size):
  """Shrinks a [t, h, w] kernel to a 5-D NDHWC input's static size when that is smaller.

  Unknown sizes leave the kernel unchanged.
  """
  if len(kernel_size) != 3:
    raise inception_utils.InceptionArgumentError(
        'kernel_size must be [time, height, width], got %s' % (kernel_size,))
  shape = input_tensor.get_shape().as_list()
  if len(shape) != 5:
    raise inception_utils.InceptionArgumentError(
        'expected a 5-D tensor, got shape %s' % (shape,))
  if None in shape[1:4]:
    return kernel_size
  return [min(shape[1], kernel_size[0]), min(shape[2], kernel_size[1]),
          min(shape[3], kernel_size[2])]
