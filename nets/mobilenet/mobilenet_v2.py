"""MobileNet V2.

Mark Sandler, Andrew Howard, Menglong Zhu, Andrey Zhmoginov, Liang-Chieh Chen. "MobileNetV2:
Inverted Residuals and Linear Bottlenecks", CVPR 2018. https://arxiv.org/abs/1801.04381

Layers (Table 2 of the paper) are described by `V2_DEF` and built by the generic library in
`mobilenet.py`; scopes are `MobilenetV2/Conv`, `expanded_conv`, `expanded_conv_1` ... `_16`,
`Conv_1`, `Logits/Conv2d_1c_1x1`, as in the published checkpoints.

Group norm: `V2_DEF_GROUP_NORM` is V2_DEF with `slim.group_norm` as the normaliser of the
convolutions (ReLU6) and of the inverted-residual blocks (expansion 6, residual, SAME padding);
`mobilenet_base_group_norm(input_tensor, depth_multiplier=1.0, groups=8, ...)` builds its trunk
(no head), whose layers have `GroupNorm` variables and no `BatchNorm` ones.
"""
import copy
import functools

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets.mobilenet import conv_blocks as ops
from nets.mobilenet import mobilenet as lib

op = lib.op
expand_input = ops.expand_input_by_factor

V2_DEF = dict(
    defaults={
        # Batch norm with gamma (scale), as the checkpoints have.
        (slim.batch_norm,): {'center': True, 'scale': True},
        (slim.conv2d, slim.fully_connected, slim.separable_conv2d): {
            'normalizer_fn': slim.batch_norm, 'activation_fn': tf.nn.relu6
        },
        (ops.expanded_conv,): {
            'expansion_size': expand_input(6),
            'split_expansion': 1,
            'normalizer_fn': slim.batch_norm,
            'residual': True
        },
        (slim.conv2d, slim.separable_conv2d): {'padding': 'SAME'}
    },
    spec=[
        op(slim.conv2d, stride=2, num_outputs=32, kernel_size=[3, 3]),
        # t = 1: the block has no expansion layer.
        op(ops.expanded_conv, expansion_size=expand_input(1, divisible_by=1), num_outputs=16),
        op(ops.expanded_conv, stride=2, num_outputs=24),
        op(ops.expanded_conv, stride=1, num_outputs=24),
        op(ops.expanded_conv, stride=2, num_outputs=32),
        op(ops.expanded_conv, stride=1, num_outputs=32),
        op(ops.expanded_conv, stride=1, num_outputs=32),
        op(ops.expanded_conv, stride=2, num_outputs=64),
        op(ops.expanded_conv, stride=1, num_outputs=64),
        op(ops.expanded_conv, stride=1, num_outputs=64),
        op(ops.expanded_conv, stride=1, num_outputs=64),
        op(ops.expanded_conv, stride=1, num_outputs=96),
        op(ops.expanded_conv, stride=1, num_outputs=96),
        op(ops.expanded_conv, stride=1, num_outputs=96),
        op(ops.expanded_conv, stride=2, num_outputs=160),
        op(ops.expanded_conv, stride=1, num_outputs=160),
        op(ops.expanded_conv, stride=1, num_outputs=160),
        op(ops.expanded_conv, stride=1, num_outputs=320),
        op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=1280)
    ],
)

# V2_DEF with group norm as the normaliser (and no batch-norm defaults); the layers are V2_DEF's.
# `mobilenet_base_group_norm` builds it, setting the number of groups.
V2_DEF_GROUP_NORM = dict(V2_DEF, defaults=lib.group_norm_defaults(V2_DEF['defaults']))


@slim.add_arg_scope
def mobilenet(input_tensor,
              num_classes=1001,
              depth_multiplier=1.0,
              scope='MobilenetV2',
              conv_defs=None,
              finegrain_classification_mode=False,
              min_depth=None,
              divisible_by=None,
              activation_fn=None,
              **kwargs):
  """MobileNet V2 classifier. Inference mode is created by default; use `training_scope` to train.

  Args:
    input_tensor: a [batch, height, width, 3] tensor.
    num_classes: number of classes (1001 for the published checkpoints); 0/None: no logits.
    depth_multiplier: scales the channels of every layer.
    scope: variable scope.
    conv_defs: layer description, default V2_DEF.
    finegrain_classification_mode: with depth_multiplier < 1, keep the last layer at its full
      width (1280), which helps small networks classify.
    min_depth: no layer narrower than this (arg of the depth multiplier).
    divisible_by: channels are multiples of this (arg of the depth multiplier).
    activation_fn: replaces ReLU6 as the activation of the convolutions.
    **kwargs: passed to `mobilenet.mobilenet` (is_training, output_stride, base_only,
      final_endpoint, use_explicit_padding, prediction_fn, reuse, ...).

  Returns:
    (logits, end points), see `mobilenet.mobilenet`.

  Raises:
    ValueError: `multiplier` is passed (use depth_multiplier).
  """
  if conv_defs is None:
    conv_defs = V2_DEF
  if 'multiplier' in kwargs:
    raise lib.MobilenetError('mobilenetv2 doesn\'t support generic multiplier parameter use '
                             '"depth_multiplier" instead.')
  if finegrain_classification_mode:
    conv_defs = copy.deepcopy(conv_defs)
    if depth_multiplier < 1:
      # Pre-divide so that the multiplier brings the last layer back to its full width.
      conv_defs['spec'][-1].params['num_outputs'] /= depth_multiplier
  if activation_fn:
    conv_defs = copy.deepcopy(conv_defs)
    defaults = conv_defs['defaults']
    conv_defaults = defaults[(slim.conv2d, slim.fully_connected, slim.separable_conv2d)]
    conv_defaults['activation_fn'] = activation_fn

  depth_args = {}
  if min_depth is not None:
    depth_args['min_depth'] = min_depth
  if divisible_by is not None:
    depth_args['divisible_by'] = divisible_by

  with slim.arg_scope((lib.depth_multiplier,), **depth_args):
    return lib.mobilenet(input_tensor, num_classes=num_classes, conv_defs=conv_defs, scope=scope,
                         multiplier=depth_multiplier, **kwargs)


mobilenet.default_image_size = 224


def wrapped_partial(func, *args, **kwargs):
  """functools.partial that keeps the function's name and attributes (default_image_size)."""
  partial_func = functools.partial(func, *args, **kwargs)
  functools.update_wrapper(partial_func, func)
  return partial_func


mobilenet_v2_140 = wrapped_partial(mobilenet, depth_multiplier=1.40)
mobilenet_v2_050 = wrapped_partial(mobilenet, depth_multiplier=0.50,
                                   finegrain_classification_mode=True)
mobilenet_v2_035 = wrapped_partial(mobilenet, depth_multiplier=0.35,
                                   finegrain_classification_mode=True)


@slim.add_arg_scope
def mobilenet_base(input_tensor, depth_multiplier=1.0, **kwargs):
  """The MobileNet V2 trunk only (no pooling, no logits); args as `mobilenet`."""
  return mobilenet(input_tensor, depth_multiplier=depth_multiplier, base_only=True, **kwargs)


@slim.add_arg_scope
def mobilenet_base_group_norm(input_tensor, depth_multiplier=1.0, **kwargs):
  """The MobileNet V2 trunk with group norm instead of batch norm (`V2_DEF_GROUP_NORM`).

  Args:
    input_tensor: a [batch, height, width, 3] tensor.
    depth_multiplier: scales the channels of every layer.
    **kwargs: `groups` (default 8), the number of channel groups of each group norm; the rest as
      for `mobilenet_base` (a `conv_defs` given here is replaced by V2_DEF_GROUP_NORM).

  Returns:
    (the last layer's output, end points), as `mobilenet_base`.
  """
  kwargs['conv_defs'] = lib.set_group_norm_groups(V2_DEF_GROUP_NORM, kwargs.pop('groups', 8))
  return mobilenet_base(input_tensor, depth_multiplier=depth_multiplier, **kwargs)


def training_scope(**kwargs):
  """arg_scope for MobileNet V2; arguments of `mobilenet.training_scope`."""
  return lib.training_scope(**kwargs)


__all__ = ['training_scope', 'mobilenet_base', 'mobilenet', 'mobilenet_base_group_norm', 'V2_DEF',
           'V2_DEF_GROUP_NORM']
