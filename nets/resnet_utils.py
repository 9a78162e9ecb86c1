"""Building blocks shared by ResNet V1 and V2.

K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, and
"Identity Mappings in Deep Residual Networks", ECCV 2016.

A ResNet is a root block (7x7 conv + max pool) followed by a list of `Block`s, each a sequence of
units built by the same `unit_fn` (a bottleneck). `stack_blocks_dense` runs the blocks and can
replace striding by atrous (dilated) convolution to keep a denser feature map (`output_stride`),
as in DeepLab (L.-C. Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional
Nets, Atrous Convolution, and Fully Connected CRFs", TPAMI 2017).
"""
import collections
import contextlib

import tensorflow.compat.v1 as tf
import tf_slim as slim



class OutputStrideError(ValueError):
  """An `output_stride` the network cannot produce (a ValueError, as in the original)."""


class Block(collections.namedtuple('Block', ['scope', 'unit_fn', 'args'])):
  """One ResNet block: variable scope name, unit function, and one kwargs dict per unit.

  Each dict of `args` holds the unit's `depth`, `depth_bottleneck` and `stride`; `unit_fn` is
  called as `unit_fn(net, rate=..., **args[i])` inside scope `<scope>/unit_<i+1>`.
  """


def subsample(inputs, factor, scope=None):
  """Keeps every `factor`-th row and column (a 1x1 max pool with stride `factor`)."""
  if factor == 1:
    return inputs
  return slim.max_pool2d(inputs, [1, 1], stride=factor, scope=scope)


def conv2d_same(inputs, num_outputs, kernel_size, stride, rate=1, scope=None):
  """Strided 2-D convolution whose output does not depend on the input size's parity.

  With stride 1 this is a SAME convolution. With a larger stride the input is first zero-padded
  explicitly (total k_eff - 1, the smaller half before) and then convolved VALID, so the result
  equals a stride-1 SAME convolution subsampled by `stride`. A SAME strided convolution would
  instead pad according to the input size and shift the sampling grid for even sizes.

  Args:
    inputs: [batch, height, width, channels] tensor.
    num_outputs: number of filters.
    kernel_size: an int, the spatial size of the (square) kernel.
    stride: an int, the output stride.
    rate: an int, the atrous rate.
    scope: variable scope.

  Returns:
    [batch, height_out, width_out, num_outputs] tensor.
  """
  if stride == 1:
    return slim.conv2d(inputs, num_outputs, kernel_size, stride=1, rate=rate,
                       padding='SAME', scope=scope)
  effective_kernel = kernel_size + (kernel_size - 1) * (rate - 1)
  pad_total = effective_kernel - 1
  pad_before = pad_total // 2
  pad_after = pad_total - pad_before
  inputs = tf.pad(inputs, [[0, 0], [pad_before, pad_after], [pad_before, pad_after], [0, 0]])
  return slim.conv2d(inputs, num_outputs, kernel_size, stride=stride, rate=rate,
                     padding='VALID', scope=scope)


@slim.add_arg_scope
def stack_blocks_dense(net, blocks, output_stride=None, store_non_strided_activations=False,
                       outputs_collections=None):
  """Runs the ResNet blocks, optionally keeping the feature map at a given output stride.

  Once the accumulated stride reaches `output_stride`, the remaining units run with stride 1 and
  an atrous rate that grows by the stride they skipped, so the receptive field is unchanged.

  Args:
    net: [batch, height, width, channels] input tensor.
    blocks: list of `Block`s.
    output_stride: ratio of input to output spatial size wanted, or None for the nominal
      stride. Counted from the input of the first block.
    store_non_strided_activations: if True, each block's last unit runs with stride 1, the block's
      output is collected at that resolution, and the stride is applied after it by subsampling
      (which gives the same final output, with denser block end points).
    outputs_collections: collection receiving each unit's and each block's output.

  Returns:
    The output tensor of the last block.

  Raises:
    ValueError (OutputStrideError): if `output_stride` cannot be reached.
  """
  current_stride = 1  # product of the strides applied so far
  rate = 1  # atrous rate of the next unit once output_stride has been reached

  for block in blocks:
    with tf.variable_scope(block.scope, 'block', [net]) as sc:
      deferred_stride = 1
      for i, unit in enumerate(block.args):
        if store_non_strided_activations and i == len(block.args) - 1:
          deferred_stride = unit.get('stride', 1)
          unit = dict(unit, stride=1)

        with tf.variable_scope('unit_%d' % (i + 1), values=[net]):
          if output_stride is not None and current_stride == output_stride:
            net = block.unit_fn(net, rate=rate, **dict(unit, stride=1))
            rate *= unit.get('stride', 1)
          else:
            net = block.unit_fn(net, rate=1, **unit)
            current_stride *= unit.get('stride', 1)
            if output_stride is not None and current_stride > output_stride:
              raise OutputStrideError('The target output_stride cannot be reached.')

      net = slim.utils.collect_named_outputs(outputs_collections, sc.name, net)

      if output_stride is not None and current_stride == output_stride:
        rate *= deferred_stride
      else:
        net = subsample(net, deferred_stride)
        current_stride *= deferred_stride
        if output_stride is not None and current_stride > output_stride:
          raise OutputStrideError('The target output_stride cannot be reached.')

  if output_stride is not None and current_stride != output_stride:
    raise OutputStrideError('The target output_stride cannot be reached.')
  return net


def batch_norm_mode(is_training):
  """Arg scope setting batch norm's `is_training`; None leaves it to an enclosing arg scope."""
  if is_training is None:
    return contextlib.nullcontext()
  return slim.arg_scope([slim.batch_norm], is_training=is_training)


def resnet_arg_scope(weight_decay=0.0001, batch_norm_decay=0.997, batch_norm_epsilon=1e-5,
                     batch_norm_scale=True, activation_fn=tf.nn.relu, use_batch_norm=True,
                     batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS):
  """Layer defaults of the ResNets.

  Convolutions: L2 weight decay, variance-scaling initialisation, `activation_fn`, and batch norm
  (with gamma unless `batch_norm_scale` is False) when `use_batch_norm`. Max pooling is SAME.

  Args:
    weight_decay: L2 regularisation weight of the conv weights.
    batch_norm_decay: moving average decay of batch norm.
    batch_norm_epsilon: added to the variance by batch norm.
    batch_norm_scale: whether batch norm has a learned gamma.
    activation_fn: activation of the convolutions.
    use_batch_norm: whether convolutions are batch-normalised.
    batch_norm_updates_collections: collection of the moving-average update ops.

  Returns:
    An arg scope.
  """
  batch_norm_params = {
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'scale': batch_norm_scale,
      'updates_collections': batch_norm_updates_collections,
      'fused': None,  # let TensorFlow pick the fused kernel when it can
  }
  with slim.arg_scope(
      [slim.conv2d],
      weights_regularizer=slim.l2_regularizer(weight_decay),
      weights_initializer=slim.variance_scaling_initializer(),
      activation_fn=activation_fn,
      normalizer_fn=slim.batch_norm if use_batch_norm else None,
      normalizer_params=batch_norm_params):
    # Stand-alone batch norms (V2's `preact` and `postnorm`) get the same parameters.
    with slim.arg_scope([slim.batch_norm], **batch_norm_params):
      # SAME pooling: `pool1` of the published checkpoints was trained this way.
      with slim.arg_scope([slim.max_pool2d], padding='SAME') as arg_sc:
        return arg_sc
