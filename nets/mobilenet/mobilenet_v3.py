"""MobileNet V3 (large, small, minimalistic) and MobileNet EdgeTPU.

Andrew Howard, Mark Sandler, Grace Chu, Liang-Chieh Chen, Bo Chen, Mingxing Tan, Weijun Wang,
Yukun Zhu, Ruoming Pang, Vijay Vasudevan, Quoc V. Le, Hartwig Adam. "Searching for MobileNetV3",
ICCV 2019. https://arxiv.org/abs/1905.02244
MobileNet EdgeTPU: Suyog Gupta and Berkin Akin, "Accelerator-aware Neural Network Design using
AutoML", 2020. https://arxiv.org/abs/2003.02838

The layer tables (`V3_LARGE`, `V3_SMALL`, ...) are built by the generic library in `mobilenet.py`;
blocks are `conv_blocks.expanded_conv` with hard-swish, squeeze-and-excite and, for EdgeTPU, fused
(full-convolution) expansions.

Group norm: `mobilenet(..., use_groupnorm=True, groups=8)` (and the `large`, `small`, ... variants,
which pass their keywords through) builds the same layers with `slim.group_norm` as the normaliser
of every convolution and block that had batch norm; `DEFAULTS_GROUP_NORM` is the layer-defaults
table it uses (ReLU activations, residual blocks, 8 groups). Such a net has `GroupNorm` variables
and no `BatchNorm` ones; no published checkpoint was trained that way.
"""
import copy
import functools

import numpy as np
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets.mobilenet import conv_blocks as ops
from nets.mobilenet import mobilenet as lib

op = lib.op
expand_input = ops.expand_input_by_factor


def _hard_sigmoid_gate(x):
  # relu6(x + 3) / 6, with the constant the published models were trained with.
  return tf.nn.relu6(x + 3.) * 0.16667


squeeze_excite = functools.partial(ops.squeeze_excite, squeeze_factor=4,
                                   inner_activation_fn=tf.nn.relu,
                                   gating_fn=_hard_sigmoid_gate)


def _se4(expansion_tensor, input_tensor):
  """squeeze-excite as an `expansion_transform`: gates the depthwise output."""
  del input_tensor  # the gates are computed from the expanded tensor itself
  return squeeze_excite(expansion_tensor)


def hard_swish(x):
  """x * relu6(x + 3) / 6, a cheap approximation of swish (name scope `hard_swish`)."""
  with tf.name_scope('hard_swish'):
    return x * tf.nn.relu6(x + np.float32(3)) * np.float32(1. / 6.)


def reduce_to_1x1(input_tensor, default_size=7, **kwargs):
  """Average pool of the whole (square) feature map; a default_size kernel if not known."""
  h, w = input_tensor.get_shape().as_list()[1:3]
  if h is not None and w == h:
    k = [h, h]
  else:
    k = [default_size, default_size]
  return slim.avg_pool2d(input_tensor, kernel_size=k, **kwargs)


def mbv3_op(ef, n, k, s=1, act=tf.nn.relu, se=None, **kwargs):
  """An inverted-residual block: expansion factor ef, n outputs, k x k depthwise, stride s.

  `act` is the activation of the expansion and depthwise layers; `se`, if given, is applied after
  the depthwise convolution (squeeze-and-excite).
  """
  return op(ops.expanded_conv, expansion_size=expand_input(ef), kernel_size=(k, k), stride=s,
            num_outputs=n, inner_activation_fn=act, expansion_transform=se, **kwargs)


def mbv3_fused(ef, n, k, s=1, **kwargs):
  """A fused block (EdgeTPU): the expansion is a k x k strided full convolution, no depthwise."""
  expansion_fn = functools.partial(slim.conv2d, kernel_size=k, stride=s)
  return mbv3_op(ef, n, k=1, s=s, depthwise_location=None, expansion_fn=expansion_fn, **kwargs)


mbv3_op_se = functools.partial(mbv3_op, se=_se4)


DEFAULTS = {
    (ops.expanded_conv,): dict(normalizer_fn=slim.batch_norm, residual=True),
    (slim.conv2d, slim.fully_connected, slim.separable_conv2d): {
        'normalizer_fn': slim.batch_norm,
        'activation_fn': tf.nn.relu,
    },
    (slim.batch_norm,): {'center': True, 'scale': True},
}

# The defaults of `mobilenet(..., use_groupnorm=True)`: group norm in place of batch norm, 8 groups
# unless the `groups` keyword says otherwise.
DEFAULTS_GROUP_NORM = lib.group_norm_defaults(DEFAULTS)
DEFAULTS_GROUP_NORM[(slim.group_norm,)] = {'groups': 8}

# The last convolution of V3 follows the pooling and has no batch norm (so it has biases).
V3_LARGE = dict(
    defaults=dict(DEFAULTS),
    spec=([
        op(slim.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3), activation_fn=hard_swish),
        mbv3_op(ef=1, n=16, k=3),
        mbv3_op(ef=4, n=24, k=3, s=2),
        mbv3_op(ef=3, n=24, k=3, s=1),
        mbv3_op_se(ef=3, n=40, k=5, s=2),
        mbv3_op_se(ef=3, n=40, k=5, s=1),
        mbv3_op_se(ef=3, n=40, k=5, s=1),
        mbv3_op(ef=6, n=80, k=3, s=2, act=hard_swish),
        mbv3_op(ef=2.5, n=80, k=3, s=1, act=hard_swish),
        mbv3_op(ef=184 / 80., n=80, k=3, s=1, act=hard_swish),
        mbv3_op(ef=184 / 80., n=80, k=3, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=112, k=3, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=112, k=3, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=160, k=5, s=2, act=hard_swish),
        mbv3_op_se(ef=6, n=160, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=160, k=5, s=1, act=hard_swish),
        op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=960, activation_fn=hard_swish),
        op(reduce_to_1x1, default_size=7, stride=1, padding='VALID'),
        op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=1280, normalizer_fn=None,
           activation_fn=hard_swish)
    ]))

V3_LARGE_MINIMALISTIC = dict(
    defaults=dict(DEFAULTS),
    spec=([
        op(slim.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3)),
        mbv3_op(ef=1, n=16, k=3),
        mbv3_op(ef=4, n=24, k=3, s=2),
        mbv3_op(ef=3, n=24, k=3, s=1),
        mbv3_op(ef=3, n=40, k=3, s=2),
        mbv3_op(ef=3, n=40, k=3, s=1),
        mbv3_op(ef=3, n=40, k=3, s=1),
        mbv3_op(ef=6, n=80, k=3, s=2),
        mbv3_op(ef=2.5, n=80, k=3, s=1),
        mbv3_op(ef=184 / 80., n=80, k=3, s=1),
        mbv3_op(ef=184 / 80., n=80, k=3, s=1),
        mbv3_op(ef=6, n=112, k=3, s=1),
        mbv3_op(ef=6, n=112, k=3, s=1),
        mbv3_op(ef=6, n=160, k=3, s=2),
        mbv3_op(ef=6, n=160, k=3, s=1),
        mbv3_op(ef=6, n=160, k=3, s=1),
        op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=960),
        op(reduce_to_1x1, default_size=7, stride=1, padding='VALID'),
        op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=1280, normalizer_fn=None)
    ]))

V3_SMALL = dict(
    defaults=dict(DEFAULTS),
    spec=([
        op(slim.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3), activation_fn=hard_swish),
        mbv3_op_se(ef=1, n=16, k=3, s=2),
        mbv3_op(ef=72. / 16, n=24, k=3, s=2),
        mbv3_op(ef=(88. / 24), n=24, k=3, s=1),
        mbv3_op_se(ef=4, n=40, k=5, s=2, act=hard_swish),
        mbv3_op_se(ef=6, n=40, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=40, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=3, n=48, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=3, n=48, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=96, k=5, s=2, act=hard_swish),
        mbv3_op_se(ef=6, n=96, k=5, s=1, act=hard_swish),
        mbv3_op_se(ef=6, n=96, k=5, s=1, act=hard_swish),
        op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=576, activation_fn=hard_swish),
        op(reduce_to_1x1, default_size=7, stride=1, padding='VALID'),
        op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=1024, normalizer_fn=None,
           activation_fn=hard_swish)
    ]))

V3_SMALL_MINIMALISTIC = dict(
    defaults=dict(DEFAULTS),
    spec=([
        op(slim.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3)),
        mbv3_op(ef=1, n=16, k=3, s=2),
        mbv3_op(ef=72. / 16, n=24, k=3, s=2),
        mbv3_op(ef=(88. / 24), n=24, k=3, s=1),
        mbv3_op(ef=4, n=40, k=3, s=2),
        mbv3_op(ef=6, n=40, k=3, s=1),
        mbv3_op(ef=6, n=40, k=3, s=1),
        mbv3_op(ef=3, n=48, k=3, s=1),
        mbv3_op(ef=3, n=48, k=3, s=1),
        mbv3_op(ef=6, n=96, k=3, s=2),
        mbv3_op(ef=6, n=96, k=3, s=1),
        mbv3_op(ef=6, n=96, k=3, s=1),
        op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=576),
        op(reduce_to_1x1, default_size=7, stride=1, padding='VALID'),
        op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=1024, normalizer_fn=None)
    ]))

V3_EDGETPU = dict(
    defaults=dict(DEFAULTS),
    spec=([
        op(slim.conv2d, stride=2, num_outputs=32, kernel_size=(3, 3)),
        mbv3_fused(k=3, s=1, ef=1, n=16),
        mbv3_fused(k=3, s=2, ef=8, n=32),
        mbv3_fused(k=3, s=1, ef=4, n=32),
        mbv3_fused(k=3, s=1, ef=4, n=32),
        mbv3_fused(k=3, s=1, ef=4, n=32),
        mbv3_fused(k=3, s=2, ef=8, n=48),
        mbv3_fused(k=3, s=1, ef=4, n=48),
        mbv3_fused(k=3, s=1, ef=4, n=48),
        mbv3_fused(k=3, s=1, ef=4, n=48),
        mbv3_op(k=3, s=2, ef=8, n=96),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=3, s=1, ef=8, n=96, residual=False),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=3, s=1, ef=4, n=96),
        mbv3_op(k=5, s=2, ef=8, n=160),
        mbv3_op(k=5, s=1, ef=4, n=160),
        mbv3_op(k=5, s=1, ef=4, n=160),
        mbv3_op(k=5, s=1, ef=4, n=160),
        mbv3_op(k=3, s=1, ef=8, n=192),
        op(slim.conv2d, stride=1, num_outputs=1280, kernel_size=(1, 1)),
    ]))


@slim.add_arg_scope
def mobilenet(input_tensor,
              num_classes=1001,
              depth_multiplier=1.0,
              scope='MobilenetV3',
              conv_defs=None,
              finegrain_classification_mode=False,
              use_groupnorm=False,
              **kwargs):
  """MobileNet V3 classifier (V3_LARGE unless `conv_defs` says otherwise).

  Inference mode is created by default; use `training_scope` (or is_training=True) to train.

  Args:
    input_tensor: a [batch, height, width, 3] tensor.
    num_classes: number of classes (1001 for the published checkpoints); 0/None: no logits.
    depth_multiplier: scales the channels of every layer.
    scope: variable scope.
    conv_defs: layer description, default V3_LARGE.
    finegrain_classification_mode: keep the last layer at its full width whatever the multiplier.
    use_groupnorm: normalise with group norm instead of batch norm: the conv-def's defaults are
      replaced by `DEFAULTS_GROUP_NORM`, so the layers get `GroupNorm/beta|gamma` variables and no
      `BatchNorm` ones. The keyword `groups` (default 8, only read with use_groupnorm) sets the
      number of channel groups.
    **kwargs: passed to `mobilenet.mobilenet` (is_training, base_only, final_endpoint, ...).

  Returns:
    (logits, end points), see `mobilenet.mobilenet`.

  Raises:
    ValueError: `multiplier` is passed (use depth_multiplier).
  """
  if conv_defs is None:
    conv_defs = V3_LARGE
  if 'multiplier' in kwargs:
    raise lib.MobilenetError('mobilenetv2 doesn\'t support generic multiplier parameter use '
                             '"depth_multiplier" instead.')
  if finegrain_classification_mode:
    conv_defs = copy.deepcopy(conv_defs)
    conv_defs['spec'][-1] = conv_defs['spec'][-1]._replace(
        multiplier_func=lambda params, multiplier: params)
  if use_groupnorm:
    conv_defs = dict(conv_defs, defaults=DEFAULTS_GROUP_NORM)
    conv_defs = lib.set_group_norm_groups(conv_defs, kwargs.pop('groups', 8))
  return lib.mobilenet(input_tensor, num_classes=num_classes, conv_defs=conv_defs, scope=scope,
                       multiplier=depth_multiplier, **kwargs)


mobilenet.default_image_size = 224
training_scope = lib.training_scope


@slim.add_arg_scope
def mobilenet_base(input_tensor, depth_multiplier=1.0, **kwargs):
  """The MobileNet V3 trunk only (no pooling head, no logits); args as `mobilenet`."""
  return mobilenet(input_tensor, depth_multiplier=depth_multiplier, base_only=True, **kwargs)


def wrapped_partial(func, new_defaults=None, **kwargs):
  """A partial of `func` with `kwargs` fixed and `new_defaults` as overridable defaults.

  Keeps the name, docstring and attributes (default_image_size) of `func`.
  """
  new_defaults = dict(new_defaults or {})

  def func_wrapper(*f_args, **f_kwargs):
    merged = dict(new_defaults)
    merged.update(f_kwargs)
    return func(*f_args, **merged)

  functools.update_wrapper(func_wrapper, func)
  partial_func = functools.partial(func_wrapper, **kwargs)
  functools.update_wrapper(partial_func, func)
  return partial_func


large = wrapped_partial(mobilenet, conv_defs=V3_LARGE)
small = wrapped_partial(mobilenet, conv_defs=V3_SMALL)
edge_tpu = wrapped_partial(mobilenet, new_defaults={'scope': 'MobilenetEdgeTPU'},
                           conv_defs=V3_EDGETPU)
edge_tpu_075 = wrapped_partial(mobilenet, new_defaults={'scope': 'MobilenetEdgeTPU'},
                               conv_defs=V3_EDGETPU, depth_multiplier=0.75,
                               finegrain_classification_mode=True)
large_minimalistic = wrapped_partial(mobilenet, conv_defs=V3_LARGE_MINIMALISTIC)
small_minimalistic = wrapped_partial(mobilenet, conv_defs=V3_SMALL_MINIMALISTIC)


def _reduce_consecutive_layers(conv_defs, start_id, end_id, multiplier=0.5):
  """Copy of `conv_defs` with layers start_id..end_id (0-based, inclusive) `multiplier` wide."""
  defs = copy.deepcopy(conv_defs)
  for d in defs['spec'][start_id:end_id + 1]:
    d.params.update({'num_outputs': int(np.round(d.params['num_outputs'] * multiplier))})
  return defs


# Narrower last layers for object detection back-bones.
V3_LARGE_DETECTION = _reduce_consecutive_layers(V3_LARGE, 13, 16)
V3_SMALL_DETECTION = _reduce_consecutive_layers(V3_SMALL, 9, 12)


__all__ = ['training_scope', 'mobilenet', 'mobilenet_base', 'large', 'small', 'edge_tpu',
           'DEFAULTS', 'DEFAULTS_GROUP_NORM',
           'edge_tpu_075', 'large_minimalistic', 'small_minimalistic', 'V3_LARGE', 'V3_SMALL',
           'V3_LARGE_MINIMALISTIC', 'V3_SMALL_MINIMALISTIC', 'V3_EDGETPU', 'V3_LARGE_DETECTION',
           'V3_SMALL_DETECTION']
