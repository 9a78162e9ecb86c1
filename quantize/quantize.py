"""Inserts fake-quant ops on the weights and activations of every layer of a (folded) graph.

A layer is a Conv2D / DepthwiseConv2dNative / MatMul whose weight is read from a variable or is a
folded weight (`mul_fold`), or a grouped convolution (the weight split into per-group Conv2Ds whose
outputs are concatenated; its weight is quantised once, before the split). From it the pass follows
  layer -> [BatchToSpaceND] -> [post_conv_mul -> [correction_add]] -> [bias add]
        -> [bypass Add] -> [activation Relu | Relu6 | Identity] -> [post-activation bypass Add]
and quantises, under the layer's scope `ctx` (its op name minus the last component):
  ctx/weights_quant  the weight (last-value range, narrow range), init -6 / 6
  ctx/act_quant      the activation, or the bias add when there is none (EMA), init 0 / 6;
                     after a bypass the scope is the parent of ctx
  ctx/conv_quant     the bias add going into a bypass, init -6 / 6
  parent/add_quant   a bypass not followed by an activation, init -6 / 6
  <scope of the Add>/post_activation_bypass_quant   a post-activation bypass not followed by
                     Relu / Relu6, init -6 / 6
Then every other Add / AddV2 / Mul fed by a fake-quant gets `<op>/activation_<Type>_quant`.
"""
import collections

import tensorflow.compat.v1 as tf

from quantize import fold_batch_norms
from quantize import graph_matching as gm
from quantize import quant_ops

_ADD_TYPES = ('Add', 'AddV2')
_BIAS_TYPES = ('Add', 'AddV2', 'BiasAdd')
_ACTIVATION_TYPES = ('Relu', 'Relu6', 'Identity')
_PASS_THROUGH_TYPES = ('Reshape', 'Identity', 'SpaceToBatchND', 'BatchToSpaceND', 'MaxPool', 'Max')
_FUSED_BATCH_NORM_TYPES = ('FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3')
_FOLD_SUFFIXES = ('add_fold', 'mul_fold', 'mul_unfold', 'post_conv_mul', 'correction_add', 'correction_mult')

# ctx: the layer's scope; weight: its weight tensor, read by the op `weight_user` (the layer, or
# the Split of a grouped convolution); output: the tensor after the layer (or the concat of the
# groups), the BatchToSpaceND and the correction; bias_add, bypass, activation, post_bypass: ops
# or None.
_Match = collections.namedtuple('_Match', ['ctx', 'weight', 'weight_user', 'output', 'bias_add',
                                           'bypass', 'activation', 'post_bypass'])


def quantize(graph, is_training, weight_bits=8, activation_bits=8, symmetric=False,
             ema_decay=0.999, quant_delay=None, vars_collection=tf.GraphKeys.GLOBAL_VARIABLES,
             scope=None):
  """Adds the fake-quant ops and their range variables to `graph`, in place.

  `symmetric` makes the weight ranges symmetric (zero point 0, what int8 TFLite kernels need);
  activation ranges stay asymmetric.
  """
  options = dict(is_training=is_training, ema_decay=ema_decay, quant_delay=quant_delay,
                 vars_collection=vars_collection)
  with graph.as_default(), graph.name_scope(None):
    layers = []
    for op in graph.get_operations():
      if not gm.in_scope(op, scope):
        continue
      if op.type in gm.LAYER_TYPES and _quantizable_weight(op.inputs[1]):
        layers.append((gm.context(op.name),) + _weight_and_user(op, op.inputs[1])
                      + (op.outputs[0],))
      grouped = gm.grouped_layer(op)
      if grouped is not None and _quantizable_weight(grouped[0].inputs[1]):
        split, convs = grouped
        layers.append((gm.context(convs[0].name),) + _weight_and_user(split, split.inputs[1])
                      + (op.outputs[0],))
    for layer in layers:
      match = _match(*layer)
      if match is not None:
        _insert(match, weight_bits, activation_bits, symmetric, options)
    _quantize_other_ops(graph, scope, activation_bits, options)


def _unfolded(weight):
  """The folded weight under a 'single_conv' fold's `mul_unfold`, or None."""
  op = weight.op
  if op.type == 'Mul' and op.name.endswith(fold_batch_norms.UNFOLD_NAME):
    folded = op.inputs[0]
    if folded.op.type == 'Mul' and folded.op.name.endswith('mul_fold'):
      return folded
  return None


def _quantizable_weight(weight):
  if weight.op.type == 'Mul' and weight.op.name.endswith('mul_fold'):
    return True
  return gm.is_variable_read(weight) or _unfolded(weight) is not None


def _weight_and_user(user, weight):
  """(the tensor to quantise as the weight, the op that reads it)."""
  folded = _unfolded(weight)
  return (weight, user) if folded is None else (folded, weight.op)


def _other_operand(op, tensor):
  inputs = list(op.inputs)
  if len(inputs) != 2:
    return None
  return inputs[1] if inputs[0] is tensor else inputs[0]


def _rank(tensor):
  return tensor.shape.ndims


def _next_op(tensor, accept):
  """The one consumer of `tensor` that `accept(op)` approves, or None."""
  found = [op for op in tensor.consumers() if accept(op)]
  return found[0] if len(found) == 1 else None


def _is_bias_add(op, tensor):
  if op.type == 'BiasAdd':
    return op.inputs[0] is tensor
  if op.type not in _ADD_TYPES:
    return False
  other = _other_operand(op, tensor)
  return other is not None and _rank(other) is not None and _rank(other) <= 1


def _is_bypass(op, tensor):
  if op.type not in _ADD_TYPES:
    return False
  other = _other_operand(op, tensor)
  return (other is not None and _rank(other) is not None and _rank(tensor) is not None
          and _rank(other) == _rank(tensor) and _rank(other) >= 2)


def _match(ctx, weight, weight_user, tensor):
  if not tensor.consumers():
    return None
  op = _next_op(tensor, lambda o: o.type == 'BatchToSpaceND')
  if op is not None:
    tensor = op.outputs[0]
  op = _next_op(tensor, lambda o: o.type == 'Mul' and o.name.endswith('post_conv_mul'))
  if op is not None:
    tensor = op.outputs[0]
    op = _next_op(tensor, lambda o: o.type in _ADD_TYPES and o.name.endswith('correction_add'))
    if op is not None:
      tensor = op.outputs[0]
  output = tensor
  bias_add = _next_op(tensor, lambda o: _is_bias_add(o, tensor))
  if bias_add is None and weight_user.name.endswith(fold_batch_norms.UNFOLD_NAME):
    bias_add = _training_batch_norm(tensor)  # only after a 'single_conv' fold's layer
  if bias_add is not None:
    tensor = bias_add.outputs[0]
  bypass = _next_op(tensor, lambda o: _is_bypass(o, tensor))
  if bypass is not None:
    tensor = bypass.outputs[0]
  # An Identity carrying control dependencies (batch norm with forced updates) before a ReLU.
  identity = _next_op(tensor, lambda o: o.type == 'Identity')
  if identity is not None and _next_op(identity.outputs[0],
                                       lambda o: o.type in ('Relu', 'Relu6')) is not None:
    tensor = identity.outputs[0]
  activation = _next_op(tensor, lambda o: o.type in _ACTIVATION_TYPES)
  post_bypass = None
  if activation is not None:
    tensor = activation.outputs[0]
    post_bypass = _next_op(tensor, lambda o: _is_bypass(o, tensor))
  if bias_add is None and activation is None and bypass is None:
    if not any(o.type in gm.LAYER_TYPES and o.inputs[0] is output for o in output.consumers()):
      return None  # not a layer the rewrite quantises (e.g. the batch statistics' conv)
  return _Match(ctx, weight, weight_user, output, bias_add, bypass, activation, post_bypass)


def _training_batch_norm(tensor):
  """A fused batch norm left in a training graph by the 'single_conv' fold, normalising `tensor`
  (directly, or between two Reshapes for a fully connected layer): it plays the bias add's part.
  Returns the op whose output 0 is the batch norm's result, or None."""
  reshape = None
  op = _next_op(tensor, lambda o: o.type == 'Reshape' and o.inputs[0] is tensor)
  if op is not None:
    reshape, tensor = op, op.outputs[0]
  bn = _next_op(tensor, lambda o: o.type in _FUSED_BATCH_NORM_TYPES and o.inputs[0] is tensor)
  if bn is None:
    return None
  if reshape is None:
    return bn
  return _next_op(bn.outputs[0], lambda o: o.type == 'Reshape')


def _followed_by_fake_quant(tensor):
  return any(op.type.startswith('FakeQuantWithMinMax') for op in tensor.consumers())


def _quantize_tensor(tensor, scope_name, moving_average, init_min, init_max, bits,
                     narrow_range, options, only=None):
  """Inserts one fake-quant on `tensor` and reroutes its consumers (or the ops in `only`)."""
  if _followed_by_fake_quant(tensor):
    return
  targets = gm.consumers(tensor) if only is None else list(only)  # before the new ops exist
  quantized = quant_ops.fake_quant(
      tensor, scope_name, moving_average=moving_average, init_min=init_min, init_max=init_max,
      num_bits=bits, narrow_range=narrow_range, **options)
  gm.reroute(tensor, quantized, only=targets)


def _join(ctx, name):
  return ctx + '/' + name if ctx else name


def _insert(match, weight_bits, activation_bits, symmetric, options):
  ctx = match.ctx
  _quantize_tensor(match.weight, _join(ctx, 'weights_quant'), False, -6.0, 6.0, weight_bits,
                   True, dict(options, symmetric=symmetric), only=[match.weight_user])
  before_bypass = match.bias_add.outputs[0] if match.bias_add is not None else match.output
  if match.bypass is not None:
    _quantize_tensor(before_bypass, _join(ctx, 'conv_quant'), True, -6.0, 6.0, activation_bits,
                     False, options, only=[match.bypass])
  act_ctx = gm.context(ctx) if match.bypass is not None else ctx
  if match.activation is not None:
    _quantize_tensor(match.activation.outputs[0], _join(act_ctx, 'act_quant'), True, 0.0, 6.0,
                     activation_bits, False, options)
  elif match.bypass is not None:
    _quantize_tensor(match.bypass.outputs[0], _join(act_ctx, 'add_quant'), True, -6.0, 6.0,
                     activation_bits, False, options)
  else:
    _quantize_tensor(before_bypass, _join(ctx, 'act_quant'), True, 0.0, 6.0, activation_bits,
                     False, options)
  if match.post_bypass is not None:
    post = match.post_bypass.outputs[0]
    if not any(op.type in ('Relu', 'Relu6') for op in post.consumers()):
      _quantize_tensor(post, _join(gm.context(match.post_bypass.name),
                                   'post_activation_bypass_quant'),
                       True, -6.0, 6.0, activation_bits, False, options)


def _is_rewrite_op(op):
  name = op.name
  return ('_quant/' in name or name.startswith('fake_quantization_step')
          or '/BatchNorm_Fold/' in name or name.endswith(_FOLD_SUFFIXES))


def _fed_by_fake_quant(tensor, depth=0):
  op = tensor.op
  if op.type.startswith('FakeQuantWithMinMax'):
    return True
  if op.type == 'SelectV2' and op.name.endswith('delayed_quant'):
    return True
  if op.type in _PASS_THROUGH_TYPES and depth < 8:
    return _fed_by_fake_quant(op.inputs[0], depth + 1)
  return False


def _quantize_other_ops(graph, scope, activation_bits, options):
  for op in list(graph.get_operations()):
    if op.type not in ('Add', 'AddV2', 'Mul') or not gm.in_scope(op, scope):
      continue
    if _is_rewrite_op(op) or op.outputs[0].dtype != tf.float32:
      continue
    if not any(_fed_by_fake_quant(t) for t in op.inputs):
      continue
    output = op.outputs[0]
    users = output.consumers()
    if len(users) == 1 and users[0].type in ('Relu', 'Relu6'):
      continue
    if not users:
      continue
    _quantize_tensor(output, '%s/activation_%s_quant' % (op.name, op.type), True, -6.0, 6.0,
                     activation_bits, False, options)
