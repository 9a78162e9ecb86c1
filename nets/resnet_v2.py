"""ResNet V2 (pre-activation residual units).

K. He, X. Zhang, S. Ren and J. Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016.

Each unit applies batch norm + ReLU (`preact`) before its convolutions, so the root conv has no
batch norm and the network ends with one more batch norm + ReLU (`postnorm`). As in V1, the stride
of a block sits on its last unit. The published checkpoints have 1001 classes.

Typical use:

  with slim.arg_scope(resnet_v2.resnet_arg_scope()):
    net, end_points = resnet_v2.resnet_v2_101(images, 1001, is_training=False)
"""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import resnet_utils

resnet_arg_scope = resnet_utils.resnet_arg_scope


@slim.add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, stride, rate=1, outputs_collections=None,
               scope=None):
  """Pre-activation bottleneck unit: BN+ReLU, then 1x1, 3x3, 1x1 convs added to the shortcut.

  Args:
    inputs: [batch, height, width, channels] tensor.
    depth: output depth of the unit.
    depth_bottleneck: depth of the inner 1x1 and 3x3 convolutions.
    stride: stride of the unit (applied by the 3x3 conv and the shortcut).
    rate: atrous rate of the 3x3 conv.
    outputs_collections: collection receiving the unit's output.
    scope: variable scope (default `bottleneck_v2`).

  Returns:
    The unit's output tensor (no activation: the next unit's `preact` applies it).
  """
  with tf.variable_scope(scope, 'bottleneck_v2', [inputs]) as sc:
    depth_in = slim.utils.last_dimension(inputs.get_shape(), min_rank=4)
    preact = slim.batch_norm(inputs, activation_fn=tf.nn.relu, scope='preact')
    if depth == depth_in:
      # Identity shortcut from the raw input, not from `preact`.
      shortcut = resnet_utils.subsample(inputs, stride, 'shortcut')
    else:
      shortcut = slim.conv2d(preact, depth, [1, 1], stride=stride, normalizer_fn=None,
                             activation_fn=None, scope='shortcut')

    residual = slim.conv2d(preact, depth_bottleneck, [1, 1], stride=1, scope='conv1')
    residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride, rate=rate,
                                        scope='conv2')
    residual = slim.conv2d(residual, depth, [1, 1], stride=1, normalizer_fn=None,
                           activation_fn=None, scope='conv3')

    output = shortcut + residual
    return slim.utils.collect_named_outputs(outputs_collections, sc.name, output)


def resnet_v2(inputs, blocks, num_classes=None, is_training=True, global_pool=True,
              output_stride=None, include_root_block=True, spatial_squeeze=True, reuse=None,
              scope=None):
  """Generic ResNet V2 from a list of blocks.

  Args:
    inputs: [batch, height, width, channels] tensor.
    blocks: list of `resnet_utils.Block`s.
    num_classes: number of classes; 0 or None omits the `logits` layer and returns the features.
    is_training: batch norm mode; None leaves it to the enclosing arg scope.
    global_pool: if True, average the last feature map over space (end point `global_pool`).
    output_stride: if set, run the blocks densely (atrous) to this ratio of input to output size.
    include_root_block: whether to start with the 7x7 conv and 3x3 max pool (stride 4 together).
      The root conv has neither batch norm nor activation (the first unit's `preact` follows).
    spatial_squeeze: if True (with classes), squeeze logits to [batch, num_classes].
    reuse: whether to reuse the variables (needs `scope`).
    scope: variable scope.

  Returns:
    (net, end_points) as for `resnet_v1.resnet_v1`.

  Raises:
    ValueError: if the output stride is not a multiple of 4 (with the root block) or cannot be
      reached.
  """
  with tf.variable_scope(scope, 'resnet_v2', [inputs], reuse=reuse) as sc:
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
          with slim.arg_scope([slim.conv2d], activation_fn=None, normalizer_fn=None):
            net = resnet_utils.conv2d_same(net, 64, 7, stride=2, scope='conv1')
          net = slim.max_pool2d(net, [3, 3], stride=2, scope='pool1')
        net = resnet_utils.stack_blocks_dense(net, blocks, output_stride)
        # The units leave their sum un-normalised; normalise and activate once at the end.
        net = slim.batch_norm(net, activation_fn=tf.nn.relu, scope='postnorm')
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


resnet_v2.default_image_size = 224


def resnet_v2_block(scope, base_depth, num_units, stride):
  """A V2 block of `num_units` bottlenecks of output depth 4 * base_depth.

  Only the last unit strides (by `stride`).
  """
  unit = {'depth': base_depth * 4, 'depth_bottleneck': base_depth, 'stride': 1}
  return resnet_utils.Block(scope, bottleneck,
                            [dict(unit) for _ in range(num_units - 1)] + [dict(unit, stride=stride)])


def _blocks(units_per_block):
  base_depths = (64, 128, 256, 512)
  strides = (2, 2, 2, 1)
  return [resnet_v2_block('block%d' % (i + 1), base_depth=d, num_units=n, stride=s)
          for i, (d, n, s) in enumerate(zip(base_depths, units_per_block, strides))]


def resnet_v2_50(inputs, num_classes=None, is_training=True, global_pool=True, output_stride=None,
                 spatial_squeeze=True, reuse=None, scope='resnet_v2_50'):
  """ResNet-50 V2 (3, 4, 6, 3 units). See `resnet_v2` for the arguments."""
  return resnet_v2(inputs, _blocks((3, 4, 6, 3)), num_classes, is_training,
                   global_pool=global_pool, output_stride=output_stride, include_root_block=True,
                   spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope)


resnet_v2_50.default_image_size = resnet_v2.default_image_size


def resnet_v2_101(inputs, num_classes=None, is_training=True, global_pool=True,
                  output_stride=None, spatial_squeeze=True, reuse=None, scope='resnet_v2_101'):
  """ResNet-101 V2 (3, 4, 23, 3 units). See `resnet_v2` for the arguments."""
  return resnet_v2(inputs, _blocks((3, 4, 23, 3)), num_classes, is_training,
                   global_pool=global_pool, output_stride=output_stride, include_root_block=True,
                   spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope)


resnet_v2_101.default_image_size = resnet_v2.default_image_size


def resnet_v2_152(inputs, num_classes=None, is_training=True, global_pool=True,
                  output_stride=None, spatial_squeeze=True, reuse=None, scope='resnet_v2_152'):
  """ResNet-152 V2 (3, 8, 36, 3 units). See `resnet_v2` for the arguments."""
  return resnet_v2(inputs, _blocks((3, 8, 36, 3)), num_classes, is_training,
                   global_pool=global_pool, output_stride=output_stride, include_root_block=True,
                   spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope)


resnet_v2_152.default_image_size = resnet_v2.default_image_size


def resnet_v2_200(inputs, num_classes=None, is_training=True, global_pool=True,
                  output_stride=None, spatial_squeeze=True, reuse=None, scope='resnet_v2_200'):
  """ResNet-200 V2 (3, 24, 36, 3 units). See `resnet_v2` for the arguments."""
  return resnet_v2(inputs, _blocks((3, 24, 36, 3)), num_classes, is_training,
                   global_pool=global_pool, output_stride=output_stride, include_root_block=True,
                   spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope)


resnet_v2_200.default_image_size = resnet_v2.default_image_size
