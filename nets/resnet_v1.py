"""ResNet V1 (original, post-activation residual units).

K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.

Variants 50/101/152/200 use bottleneck units; as in the Caffe-converted checkpoints published
with slim, the stride of each block sits on the 3x3 conv of the block's last unit (not the first
unit's 1x1 as in the paper), and the checkpoints have 1000 classes (no background class).

Typical use (features for a dense prediction task, no classifier):

  with slim.arg_scope(resnet_v1.resnet_arg_scope()):
    net, end_points = resnet_v1.resnet_v1_101(images, num_classes=None, global_pool=False,
                                              output_stride=16)

`NoOpScope` is a context manager that does nothing (`with NoOpScope(): ...`), the stand-in for the
batch-norm arg scope when `is_training` is None.
"""
import contextlib

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import resnet_utils

resnet_arg_scope = resnet_utils.resnet_arg_scope

# Enters and leaves without doing anything, as `resnet_utils.batch_norm_mode(None)` does.
NoOpScope = contextlib.nullcontext


@slim.add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, stride, rate=1, outputs_collections=None,
               scope=None, use_bounded_activations=False):
  """Bottleneck residual unit: 1x1 reduce, 3x3, 1x1 expand, added to the shortcut, then ReLU.

  Args:
    inputs: [batch, height, width, channels] tensor.
    depth: output depth of the unit.
    depth_bottleneck: depth of the inner 1x1 and 3x3 convolutions.
    stride: stride of the unit (applied by the 3x3 conv and the shortcut).
    rate: atrous rate of the 3x3 conv.
    outputs_collections: collection receiving the unit's output.
    scope: variable scope (default `bottleneck_v1`).
    use_bounded_activations: clip the residual to [-6, 6] and use ReLU6 (eases quantisation).

  Returns:
    The unit's output tensor.
  """
  with tf.variable_scope(scope, 'bottleneck_v1', [inputs]) as sc:
    depth_in = slim.utils.last_dimension(inputs.get_shape(), min_rank=4)
    if depth == depth_in:
      shortcut = resnet_utils.subsample(inputs, stride, 'shortcut')
    else:
      shortcut = slim.conv2d(
          inputs, depth, [1, 1], stride=stride,
          activation_fn=tf.nn.relu6 if use_bounded_activations else None,
          scope='shortcut')

    residual = slim.conv2d(inputs, depth_bottleneck, [1, 1], stride=1, scope='conv1')
    residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride, rate=rate,
                                        scope='conv2')
    residual = slim.conv2d(residual, depth, [1, 1], stride=1, activation_fn=None, scope='conv3')

    if use_bounded_activations:
      residual = tf.clip_by_value(residual, -6.0, 6.0)
      output = tf.nn.relu6(shortcut + residual)
    else:
      output = tf.nn.relu(shortcut + residual)
    return slim.utils.collect_named_outputs(outputs_collections, sc.name, output)


def resnet_v1(inputs, blocks, num_classes=None, is_training=True, global_pool=True,
              output_stride=None, include_root_block=True, spatial_squeeze=True,
              store_non_strided_activations=False, reuse=None, scope=None):
  """Generic ResNet V1 from a list of blocks.

  Args:
    inputs: [batch, height, width, channels] tensor. Any size works; sizes of the form
      k * 32 + 1 (e.g. 321) align the feature maps with the input corners.
    blocks: list of `resnet_utils.Block`s.
    num_classes: number of classes; 0 or None omits the `logits` layer and returns the features.
    is_training: batch norm mode; None leaves it to the enclosing arg scope.
    global_pool: if True, average the last feature map over space (end point `global_pool`).
    output_stride: if set, run the blocks densely (atrous) to this ratio of input to output size.
    include_root_block: whether to start with the 7x7 conv and 3x3 max pool (stride 4 together).
    spatial_squeeze: if True (with classes), squeeze logits to [batch, num_classes].
    store_non_strided_activations: see `resnet_utils.stack_blocks_dense`.
    reuse: whether to reuse the variables (needs `scope`).
    scope: variable scope.

  Returns:
    (net, end_points): logits ([batch, num_classes] if squeezed, else [batch, 1, 1, num_classes]
    with global pooling), or the last feature map / pooled features without classes.

  Raises:
    ValueError: if the output stride is not a multiple of 4 (with the root block) or cannot be
      reached.
  """
  with tf.variable_scope(scope, 'resnet_v1', [inputs], reuse=reuse) as sc:
    end_points_collection = sc.original_name_scope + '_end_points'
    with slim.arg_scope([slim.conv2d, bottleneck, resnet_utils.stack_blocks_dense],
                        outputs_collections=end_points_collection):
      with resnet_utils.batch_norm_mode(is_training):
        net = inputs
        if include_root_block:
          if output_stride is not None:
            if output_stride % 4 != 0:
              raise resnet_utils.OutputStrideError(
                  'The output_stride needs to be a multiple of 4.')
            output_stride //= 4  # the root block already strides by 4
          net = resnet_utils.conv2d_same(net, 64, 7, stride=2, scope='conv1')
          net = slim.max_pool2d(net, [3, 3], stride=2, scope='pool1')
        net = resnet_utils.stack_blocks_dense(net, blocks, output_stride,
                                              store_non_strided_activations)
        end_points = slim.utils.convert_collection_to_dict(end_points_collection)

        if global_pool:
          net = tf.reduce_mean(net, [1, 2], name='pool5', keepdims=True)
          end_points['global_pool'] = net
        if num_classes:
          net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                            scope='logits')
          end_points[sc.name + '/logits'] = net
          if spatial_squeeze:
            net = tf.squeeze(net, [1, 2], name='SpatialSqueeze')
            end_points[sc.name + '/spatial_squeeze'] = net
          end_points['predictions'] = slim.softmax(net, scope='predictions')
        return net, end_points


resnet_v1.default_image_size = 224


def resnet_v1_block(scope, base_depth, num_units, stride):
  """A V1 block of `num_units` bottlenecks of output depth 4 * base_depth.

  Only the last unit strides (by `stride`).
  """
  unit = {'depth': base_depth * 4, 'depth_bottleneck': base_depth, 'stride': 1}
  return resnet_utils.Block(scope, bottleneck,
                            [dict(unit) for _ in range(num_units - 1)] + [dict(unit, stride=stride)])


def _blocks(units_per_block, min_base_depth, depth_multiplier):
  def depth(d):
    return max(int(d * depth_multiplier), min_base_depth)
  base_depths = (64, 128, 256, 512)
  strides = (2, 2, 2, 1)
  return [resnet_v1_block('block%d' % (i + 1), base_depth=depth(d), num_units=n, stride=s)
          for i, (d, n, s) in enumerate(zip(base_depths, units_per_block, strides))]


def resnet_v1_50(inputs, num_classes=None, is_training=True, global_pool=True, output_stride=None,
                 spatial_squeeze=True, store_non_strided_activations=False, min_base_depth=8,
                 depth_multiplier=1, reuse=None, scope='resnet_v1_50'):
  """ResNet-50 V1 (3, 4, 6, 3 units). See `resnet_v1` for the arguments."""
  return resnet_v1(inputs, _blocks((3, 4, 6, 3), min_base_depth, depth_multiplier), num_classes,
                   is_training, global_pool=global_pool, output_stride=output_stride,
                   include_root_block=True, spatial_squeeze=spatial_squeeze,
                   store_non_strided_activations=store_non_strided_activations, reuse=reuse,
                   scope=scope)


resnet_v1_50.default_image_size = resnet_v1.default_image_size


def resnet_v1_101(inputs, num_classes=None, is_training=True, global_pool=True,
                  output_stride=None, spatial_squeeze=True, store_non_strided_activations=False,
                  min_base_depth=8, depth_multiplier=1, reuse=None, scope='resnet_v1_101'):
  """ResNet-101 V1 (3, 4, 23, 3 units). See `resnet_v1` for the arguments."""
  return resnet_v1(inputs, _blocks((3, 4, 23, 3), min_base_depth, depth_multiplier), num_classes,
                   is_training, global_pool=global_pool, output_stride=output_stride,
                   include_root_block=True, spatial_squeeze=spatial_squeeze,
                   store_non_strided_activations=store_non_strided_activations, reuse=reuse,
                   scope=scope)


resnet_v1_101.default_image_size = resnet_v1.default_image_size


# In the original, 152 and 200 take store_non_strided_activations before spatial_squeeze.
def resnet_v1_152(inputs, num_classes=None, is_training=True, global_pool=True,
                  output_stride=None, store_non_strided_activations=False, spatial_squeeze=True,
                  min_base_depth=8, depth_multiplier=1, reuse=None, scope='resnet_v1_152'):
  """ResNet-152 V1 (3, 8, 36, 3 units). See `resnet_v1` for the arguments."""
  return resnet_v1(inputs, _blocks((3, 8, 36, 3), min_base_depth, depth_multiplier), num_classes,
                   is_training, global_pool=global_pool, output_stride=output_stride,
                   include_root_block=True, spatial_squeeze=spatial_squeeze,
                   store_non_strided_activations=store_non_strided_activations, reuse=reuse,
                   scope=scope)


resnet_v1_152.default_image_size = resnet_v1.default_image_size


def resnet_v1_200(inputs, num_classes=None, is_training=True, global_pool=True,
                  output_stride=None, store_non_strided_activations=False, spatial_squeeze=True,
                  min_base_depth=8, depth_multiplier=1, reuse=None, scope='resnet_v1_200'):
  """ResNet-200 V1 (3, 24, 36, 3 units). See `resnet_v1` for the arguments."""
  return resnet_v1(inputs, _blocks((3, 24, 36, 3), min_base_depth, depth_multiplier), num_classes,
                   is_training, global_pool=global_pool, output_stride=output_stride,
                   include_root_block=True, spatial_squeeze=spatial_squeeze,
                   store_non_strided_activations=store_non_strided_activations, reuse=reuse,
                   scope=scope)


resnet_v1_200.default_image_size = resnet_v1.default_image_size
