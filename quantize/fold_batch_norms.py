"""Folds batch norms into the weights of the conv / depthwise conv / fully connected layer before them.

Two shapes of batch norm reach this pass on TensorFlow 2.21:
- fused: `FusedBatchNormV3` (what this port's `slim.batch_norm` builds for rank-2 and rank-4
  inputs; rank 2 sits between two `Reshape`s);
- unfused: the `tf.nn.batch_normalization` arithmetic (`Rsqrt`, `Mul`, `Sub`, `Add`) of the Keras
  layer path (`fused=False`).

A folded layer computes `conv(x, w * mult) + (beta - mean * mult)`, `mult = gamma / sqrt(var + eps)`.
In a training graph the statistics are the batch's, and the weights are corrected so that their
quantised values use the moving variance: `w * (sigma_b / sigma_mv) * mult`, the conv output
multiplied back by `sigma_mv / sigma_b`. The output equals the batch norm's before quantisation.
With `freeze_batch_norm_delay` the layer switches to the moving statistics at that step (and the
moving averages stop updating). No variable is created here; the batch norm variables stay.
"""
import collections

import tensorflow.compat.v1 as tf

from foundation import internals
from quantize import common
from quantize import graph_matching as gm

FUSED_TYPES = ('FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3')

# layer: the Conv2D / DepthwiseConv2dNative / MatMul; batch_to_space: an atrous BatchToSpaceND
# after it or None; normalized: the tensor the batch norm normalises; output: the batch norm's
# result (its consumers are rerouted); gamma, beta: tensors or None; epsilon: float or tensor;
# mean, variance: the statistics the batch norm used (None when computed here: fused training);
# moving_mean, moving_variance: reads of the moving averages (training) or None;
# updates: {'mean'|'variance': (update Mul op, index of its decay input)} (training);
# stat_outputs: fused training only, (batch mean, batch variance) outputs of the batch norm op;
# group: (Split, [Conv2D], ConcatV2) of a grouped convolution (ShuffleNet V1), or None.
_Match = collections.namedtuple('_Match', [
    'layer', 'batch_to_space', 'normalized', 'output', 'gamma', 'beta', 'epsilon', 'mean',
    'variance', 'training', 'moving_mean', 'moving_variance', 'updates', 'stat_outputs', 'name',
    'group'])


FOLD_MODES = ('tf1', 'single_conv')
UNFOLD_NAME = 'mul_unfold'  # single_conv, fused: the quantised folded weights divided back


def fold_batch_norms(graph, is_training, freeze_batch_norm_delay=None, scope=None, mode='tf1'):
  """Folds every batch norm that follows a layer in `graph` (in scope), in place.

  `mode` matters in a training graph only. 'tf1': the batch statistics are those of the layer
  run with its float weights, so every layer runs twice (TF 1's rewrite). 'single_conv': the layer
  runs once, with the weights folded with the moving statistics, and the batch statistics are
  taken from that output scaled back (the two agree until quantisation starts; after it, the
  statistics are those of the quantised layer). Same variables either way.
  """
  if mode not in FOLD_MODES:
    raise ValueError('Unknown batch-norm fold mode %r; valid: %s.' % (mode, ', '.join(FOLD_MODES)))
  with graph.as_default(), graph.name_scope(None):
    matches = _fused_matches(graph, scope) + _unfused_matches(graph, scope)
    for match in matches:
      if is_training and match.training and mode == 'single_conv':
        _fold_single_conv(graph, match, freeze_batch_norm_delay)
      else:
        _fold(graph, match, is_training, freeze_batch_norm_delay)
    _check_nothing_left(graph, scope, set(match.name for match in matches))


def fold_inference_batch_norms(graph, scope=None):
  """Folds, in place, every inference-mode batch norm that follows a layer the rewrite knows;
  leaves the others as they are (no error). Returns how many were folded.

  For inference speed (not quantisation): a depthwise conv followed by its batch norm and ReLU
  becomes one conv + bias + activation, which TensorFlow's remapper fuses into one kernel.
  """
  with graph.as_default(), graph.name_scope(None):
    matches = [match for match in _fused_matches(graph, scope, strict=False)
               if not match.training]
    for match in matches:
      _fold(graph, match, False, None)
  return len(matches)


# ---------------------------------------------------------------------------------- matching

def _layer_chain(tensor):
  """Walks back from a batch norm input to the layer: [Identity] <- [BatchToSpaceND] <- layer,
  or to the concat of a grouped convolution. Returns (layer, batch_to_space, group): the layer
  is the first conv of a group, group = (Split, [convs], ConcatV2) or None."""
  batch_to_space = None
  tensor = gm.through_identities(tensor)
  if tensor.op.type == 'BatchToSpaceND':
    batch_to_space = tensor.op
    tensor = gm.through_identities(tensor.op.inputs[0])
  grouped = gm.grouped_layer(tensor.op)
  if grouped is not None:
    split, convs = grouped
    return convs[0], batch_to_space, (split, convs, tensor.op)
  if tensor.op.type not in gm.LAYER_TYPES:
    return None, None, None
  return tensor.op, batch_to_space, None


def _moving_average_update(batch_stat):
  """(moving read, update Mul op, decay index) of `moving -= (moving - batch_stat) * decay`."""
  for sub in batch_stat.consumers():
    if sub.type != 'Sub' or sub.inputs[1] is not batch_stat:
      continue
    if not gm.is_variable_read(sub.inputs[0]):
      continue
    for mul in sub.outputs[0].consumers():
      if mul.type == 'Mul':
        decay_index = 1 if mul.inputs[0] is sub.outputs[0] else 0
        return sub.inputs[0], mul, decay_index
  return None


def _moving_statistics(training, batch_mean, batch_variance, bn_name, layer_name):
  """(moving mean read, moving variance read, {'mean'|'variance': (update Mul, decay index)})
  of a training-mode batch norm; (None, None, {}) in inference mode."""
  if not training:
    return None, None, {}
  mean_update = _moving_average_update(batch_mean)
  variance_update = _moving_average_update(batch_variance)
  if mean_update is None or variance_update is None:
    raise ValueError('Cannot fold batch norm %s after layer %s in a training graph: no '
                     'moving-average update of its statistics was found.'
                     % (bn_name, layer_name))
  return (mean_update[0], variance_update[0],
          {'mean': mean_update[1:], 'variance': variance_update[1:]})


def _fused_matches(graph, scope, strict=True):
  """The fused batch norms after a layer; `strict`: an unsupported one (NCHW...) is an error
  rather than left out."""
  matches = []
  for bn in graph.get_operations():
    if bn.type not in FUSED_TYPES or not gm.in_scope(bn, scope):
      continue
    if not bn.outputs[0].consumers():
      continue
    source = bn.inputs[0]
    reshape_in = None
    if source.op.type == 'Reshape':  # rank-2 input (fully connected), reshaped to rank 4
      reshape_in = source.op
      source = source.op.inputs[0]
    layer, batch_to_space, group = _layer_chain(source)
    if layer is None:
      continue
    output = bn.outputs[0]
    if reshape_in is not None:
      reshape_out = gm.single_consumer(output, ('Reshape',))
      if reshape_out is None:
        continue
      output = reshape_out.outputs[0]
    if bn.get_attr('data_format') not in (b'NHWC', 'NHWC'):
      if not strict:
        continue
      raise ValueError('Cannot fold batch norm %s: data format %s (only NHWC is supported).'
                       % (bn.name, bn.get_attr('data_format')))
    training = bool(bn.get_attr('is_training'))
    moving_mean, moving_variance, updates = _moving_statistics(
        training, bn.outputs[1], bn.outputs[2], bn.name, layer.name)
    matches.append(_Match(
        layer=layer, batch_to_space=batch_to_space, normalized=source, output=output,
        gamma=bn.inputs[1], beta=bn.inputs[2], epsilon=bn.get_attr('epsilon'),
        mean=None if training else bn.inputs[3], variance=None if training else bn.inputs[4],
        training=training, moving_mean=moving_mean, moving_variance=moving_variance,
        updates=updates, stat_outputs=(bn.outputs[1], bn.outputs[2]) if training else None,
        name=bn.name, group=group))
  return matches


def _other_input(op, tensor):
  first, second = op.inputs[0], op.inputs[1]
  if first is tensor:
    return second
  if second is tensor:
    return first
  return None


def _parse_multiplier(tensor):
  """gamma * rsqrt(variance + epsilon) (or rsqrt alone) -> (variance, epsilon, gamma) or None."""
  gamma = None
  op = tensor.op
  if op.type == 'Mul':
    for index in (0, 1):
      if op.inputs[index].op.type == 'Rsqrt':
        gamma = op.inputs[1 - index]
        op = op.inputs[index].op
        break
    else:
      return None
  if op.type != 'Rsqrt':
    return None
  add = op.inputs[0].op
  if add.type not in ('Add', 'AddV2'):
    return None
  return add.inputs[0], add.inputs[1], gamma


def _parse_shift(tensor, multiplier):
  """beta - mean * mult (or -(mean * mult)) -> (mean, beta) or None."""
  op = tensor.op
  if op.type == 'Sub':
    beta, product = op.inputs[0], op.inputs[1]
  elif op.type == 'Neg':
    beta, product = None, op.inputs[0]
  else:
    return None
  if product.op.type != 'Mul':
    return None
  mean = _other_input(product.op, multiplier)
  if mean is None:
    return None
  return mean, beta


def _unfused_matches(graph, scope):
  matches = []
  for layer in graph.get_operations():
    if layer.type not in gm.LAYER_TYPES or not gm.in_scope(layer, scope):
      continue
    candidates = [layer.outputs[0]]
    for op in layer.outputs[0].consumers():
      if op.type == 'BatchToSpaceND':
        candidates.append(op.outputs[0])
      grouped = gm.grouped_layer(op)
      if grouped is not None and grouped[1][0] is layer:
        candidates.append(op.outputs[0])
    for normalized in candidates:
      for identity in list(normalized.consumers()):
        if identity.type == 'Identity':
          candidates.append(identity.outputs[0])
    for normalized in candidates:
      for scale_mul in normalized.consumers():
        match = _unfused_match(layer, normalized, scale_mul)
        if match is not None:
          matches.append(match)
  return matches


def _unfused_match(layer, normalized, scale_mul):
  if scale_mul.type != 'Mul':
    return None
  multiplier = _other_input(scale_mul, normalized)
  parsed = _parse_multiplier(multiplier) if multiplier is not None else None
  if parsed is None:
    return None
  variance, epsilon, gamma = parsed
  add = gm.single_consumer(scale_mul.outputs[0], ('Add', 'AddV2'))
  if add is None:
    return None
  shift = _parse_shift(_other_input(add, scale_mul.outputs[0]), multiplier)
  if shift is None:
    return None
  mean, beta = shift
  training = not gm.is_variable_read(variance)
  moving_mean, moving_variance, updates = _moving_statistics(
      training, mean, variance, add.name, layer.name)
  _, batch_to_space, group = _layer_chain(normalized)
  return _Match(layer=layer, batch_to_space=batch_to_space, normalized=normalized,
                output=add.outputs[0], gamma=gamma, beta=beta, epsilon=epsilon, mean=mean,
                variance=variance, training=training, moving_mean=moving_mean,
                moving_variance=moving_variance, updates=updates, stat_outputs=None,
                name=add.name, group=group)


def _check_nothing_left(graph, scope, folded):
  for bn in graph.get_operations():
    if bn.type in FUSED_TYPES and gm.in_scope(bn, scope) and bn.name not in folded \
        and bn.outputs[0].consumers():
      raise ValueError('Cannot fold batch norm %s (its input comes from %s %s, not from a '
                       'conv, depthwise conv or fully connected layer the rewrite knows).'
                       % (bn.name, bn.inputs[0].op.type, bn.inputs[0].op.name))


# ----------------------------------------------------------------------------------- folding

def _clone(op, inputs, name):
  """A copy of `op` (same type and attributes) on new inputs, named `name` in the current scope;
  returns the copy's outputs."""
  attrs = {key: value for key, value in op.node_def.attr.items()}
  clone = op.graph.create_op(op.type, inputs, [t.dtype for t in op.outputs], name=name,
                             attrs=attrs)
  return clone.outputs


def _fold_name(op):
  return op.name.rsplit('/', 1)[-1] + '_Fold'


def _folded_layer(match, folded_weight):
  """The layer (or grouped layer, or atrous layer) computed again with the folded weight."""
  layer = match.layer
  if match.group is None:
    output = _clone(layer, [layer.inputs[0], folded_weight], _fold_name(layer))[0]
  else:
    split, convs, concat = match.group
    parts = _clone(split, [split.inputs[0], folded_weight], _fold_name(split))
    outputs = [_clone(conv, [conv.inputs[0], part], _fold_name(conv))[0]
               for conv, part in zip(convs, parts)]
    output = _clone(concat, outputs + [concat.inputs[-1]], _fold_name(concat))[0]
  if match.batch_to_space is not None:
    bts = match.batch_to_space
    output = _clone(bts, [output] + list(bts.inputs[1:]), _fold_name(bts))[0]
  return output


def _per_output_channel(vector, layer, weight, name):
  """Shapes a per-channel vector so that it multiplies the layer's weight on its output channels."""
  if layer.type == 'DepthwiseConv2dNative':  # weight [h, w, in, multiplier], channels in*mult
    shape = tf.shape(weight)
    return tf.reshape(vector, tf.stack([shape[2], shape[3]]), name=name)
  if layer.type == 'MatMul' and layer.get_attr('transpose_b'):  # weight [out, in]
    return tf.reshape(vector, [-1, 1], name=name)
  return vector


def _moments(match):
  return _moments_of(match.normalized)


def _moments_of(tensor):
  """Batch mean and (biased) variance of the layer output, over all but the channel axis.

  The gradient is written out rather than left to autodiff: d mean / dx = 1/n and
  d var / dx = 2 (x - mean) / n give the input gradient as one per-channel affine map of x,
  where autodiff of the two reductions builds broadcasts, squared differences and sums over the
  whole activation (the mean's own term in the variance's gradient is zero, as autodiff finds).
  """
  axes = list(range(tensor.shape.ndims - 1)) if tensor.shape.ndims is not None else [0, 1, 2]

  @tf.custom_gradient
  def moments(x):
    mean = tf.reduce_mean(x, axes, name='mean')
    variance = tf.reduce_mean(tf.squared_difference(x, mean), axes, name='variance')

    def gradient(mean_grad, variance_grad):
      count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
      slope = variance_grad * (2.0 / count)
      return x * slope + (mean_grad / count - mean * slope)

    return (mean, variance), gradient

  with tf.name_scope('moments'):
    mean, variance = moments(tensor)
    count = tf.cast(tf.reduce_prod(tf.shape(tensor)[:-1]), tensor.dtype)
  return mean, variance, count


def _fold(graph, match, is_training, freeze_delay):
  layer = match.layer
  ctx = gm.context(layer.name)
  scope_prefix = ctx + '/' if ctx else ''
  weight = layer.inputs[1] if match.group is None else match.group[0].inputs[1]
  training = is_training and match.training
  # The consumers to reroute, taken before any op of the fold exists.
  output_users = gm.consumers(match.output)
  stat_users = [gm.consumers(t) for t in match.stat_outputs] if match.stat_outputs else None
  with graph.name_scope(scope_prefix + 'BatchNorm_Fold/'):
    if match.mean is None:  # fused training: the statistics, with gradients, computed here
      mean, variance, count = _moments(match)
      unbiased = tf.multiply(variance, count / tf.maximum(count - 1.0, 1.0),
                             name='Bessel_Correction')
    else:
      mean, variance = match.mean, match.variance
    epsilon = tf.cast(match.epsilon, variance.dtype)
    inv_sigma = tf.rsqrt(variance + epsilon)
    mult = inv_sigma if match.gamma is None else inv_sigma * match.gamma
    bias = -mean * mult if match.beta is None else tf.subtract(match.beta, mean * mult)
    bias = tf.identity(bias, name='bias')
    correction_recip = correction_offset = None
    if training:
      with tf.name_scope('batch_norm_correction'):
        sigma_b = tf.sqrt(variance + epsilon)
        sigma_mv = tf.sqrt(match.moving_variance + epsilon)
        correction_scale = tf.divide(sigma_b, sigma_mv, name='scale_compute')
        correction_scale = tf.identity(correction_scale, name='correction_scale')
        recip = tf.reciprocal(correction_scale, name='reciprocal_compute')
        if freeze_delay is None:
          correction_recip = tf.identity(recip, name='correction_recip')
          correction_offset = None
        else:
          gamma = 1.0 if match.gamma is None else match.gamma
          offset = tf.multiply(gamma, mean / sigma_b - match.moving_mean / sigma_mv,
                               name='offset_compute')
          use_moving = tf.greater_equal(common.quantization_step(graph), freeze_delay,
                                        name='use_moving_average')
          correction_recip = tf.where(use_moving, tf.ones_like(recip), recip,
                                      name='correction_recip')
          correction_offset = tf.where(use_moving, offset, tf.zeros_like(offset),
                                       name='correction_offset')
          for key, name in (('mean', 'freeze_moving_mean'), ('variance', 'freeze_moving_var')):
            update, index = match.updates[key]
            decay = update.inputs[index]
            frozen = tf.where(use_moving, tf.zeros_like(decay), decay, name=name)
            internals.reroute_input(update, index, frozen)
      correction_reshape = _per_output_channel(correction_scale, layer, weight,
                                               'correction_reshape')
    mult_reshape = _per_output_channel(mult, layer, weight, 'scale_reshape')
  with graph.name_scope(scope_prefix):
    if training:
      weight = tf.multiply(correction_reshape, weight, name='correction_mult')
    folded_weight = tf.multiply(mult_reshape, weight, name='mul_fold')
    output = _folded_layer(match, folded_weight)
    if training:
      output = tf.multiply(output, correction_recip, name='post_conv_mul')
      if correction_offset is not None:
        output = tf.add(output, correction_offset, name='correction_add')
    if match.output.shape.ndims is not None and output.shape.ndims is not None \
        and match.output.shape.ndims != output.shape.ndims:
      raise ValueError('Cannot fold batch norm %s into %s: output ranks differ.'
                       % (match.name, layer.name))
    output = tf.add(output, bias, name='add_fold')
  gm.reroute(match.output, output, only=output_users)
  if match.stat_outputs is not None:  # the moving averages now follow the statistics above
    batch_mean, batch_variance = match.stat_outputs
    gm.reroute(batch_mean, mean, only=stat_users[0])
    gm.reroute(batch_variance, unbiased, only=stat_users[1])


def _fold_single_conv(graph, match, freeze_delay):
  """The training fold of mode 'single_conv' (see `fold_batch_norms`)."""
  if match.stat_outputs is not None and freeze_delay is None:
    _fold_single_conv_into_fused(graph, match)
  else:
    _fold_single_conv_explicit(graph, match, freeze_delay)


def _fold_single_conv_into_fused(graph, match):
  """Mode 'single_conv' for a fused training batch norm: the layer runs on `q(w * m) / m`,
  `m = gamma / sigma_mv`, `q` the weights' fake quantisation, and its output (the float layer's
  output until quantisation starts) becomes the batch norm's input; the batch norm's own kernels then compute
  the statistics, the normalisation, the moving-average updates and their gradients.

  `m` is kept away from 0 (|gamma| below 1e-6 is taken as 1e-6 in the fold only; the batch
  norm still uses gamma), so that the division stays finite.
  """
  layer = match.layer
  ctx = gm.context(layer.name)
  scope_prefix = ctx + '/' if ctx else ''
  weight = layer.inputs[1] if match.group is None else match.group[0].inputs[1]
  bn = graph.get_operation_by_name(match.name)
  first = bn.inputs[0].op
  target = first if first.type == 'Reshape' and first.inputs[0] is match.normalized else bn
  with graph.name_scope(scope_prefix + 'BatchNorm_Fold/'):
    epsilon = tf.cast(match.epsilon, weight.dtype)
    inv_sigma_mv = tf.rsqrt(match.moving_variance + epsilon)
    if match.gamma is None:
      mult = inv_sigma_mv
    else:
      tiny = tf.constant(1e-6, match.gamma.dtype)
      gamma = tf.where(tf.abs(match.gamma) < tiny, tf.ones_like(match.gamma) * tiny, match.gamma)
      mult = inv_sigma_mv * gamma
    mult_reshape = _per_output_channel(mult, layer, weight, 'scale_reshape')
    unfold = tf.reciprocal(mult, name='unfold_scale')
    unfold_reshape = _per_output_channel(unfold, layer, weight, 'unfold_reshape')
  with graph.name_scope(scope_prefix):
    # The layer is linear per output channel: conv(x, q(w * m)) / m = conv(x, q(w * m) / m),
    # so the division is done on the weights (the quantisation pass puts q between the two).
    folded = tf.multiply(mult_reshape, weight, name='mul_fold')
    output = _folded_layer(match, tf.multiply(folded, unfold_reshape, name=UNFOLD_NAME))
  gm.reroute(match.normalized, output, only=[target])


def _fold_single_conv_explicit(graph, match, freeze_delay):
  """Mode 'single_conv' written out (an unfused batch norm, or `freeze_batch_norm_delay`).

  With `m = gamma / sigma_mv` the layer runs once on `w * m`, giving `y`; the batch norm of the
  float layer `c = y / m` is `(y - mean_y) * r + beta` with `r = sigma_mv / sigma_b`
  `= |gamma| / sqrt(var_y + eps * m^2)`, which needs no division by gamma on the gradient path.
  The moving averages are updated with the statistics of `c`.
  """
  layer = match.layer
  ctx = gm.context(layer.name)
  scope_prefix = ctx + '/' if ctx else ''
  weight = layer.inputs[1] if match.group is None else match.group[0].inputs[1]
  output_users = gm.consumers(match.output)
  stat_users = [gm.consumers(t) for t in match.stat_outputs] if match.stat_outputs else None
  with graph.name_scope(scope_prefix + 'BatchNorm_Fold/'):
    epsilon = tf.cast(match.epsilon, weight.dtype)
    inv_sigma_mv = tf.rsqrt(match.moving_variance + epsilon)
    mult = inv_sigma_mv if match.gamma is None else inv_sigma_mv * match.gamma
    mult_reshape = _per_output_channel(mult, layer, weight, 'scale_reshape')
  with graph.name_scope(scope_prefix):
    output = _folded_layer(match, tf.multiply(mult_reshape, weight, name='mul_fold'))
  with graph.name_scope(scope_prefix + 'BatchNorm_Fold/'):
    mean, variance, count = _moments_of(output)
    with tf.name_scope('batch_norm_correction'):
      magnitude = 1.0 if match.gamma is None else tf.abs(match.gamma)
      recip = tf.multiply(magnitude, tf.rsqrt(variance + epsilon * tf.square(mult)),
                          name='reciprocal_compute')
      bias = tf.identity(-mean * recip if match.beta is None else match.beta - mean * recip,
                         name='bias')
      correction_offset = None
      if freeze_delay is None:
        correction_recip = tf.identity(recip, name='correction_recip')
      else:
        offset = tf.subtract(mean * recip, mult * match.moving_mean, name='offset_compute')
        use_moving = tf.greater_equal(common.quantization_step(graph), freeze_delay,
                                      name='use_moving_average')
        correction_recip = tf.where(use_moving, tf.ones_like(recip), recip,
                                    name='correction_recip')
        correction_offset = tf.where(use_moving, offset, tf.zeros_like(offset),
                                     name='correction_offset')
        for key, name in (('mean', 'freeze_moving_mean'), ('variance', 'freeze_moving_var')):
          update, index = match.updates[key]
          decay = update.inputs[index]
          frozen = tf.where(use_moving, tf.zeros_like(decay), decay, name=name)
          internals.reroute_input(update, index, frozen)
    # the float layer's statistics, for the moving averages only
    float_mean = tf.math.divide_no_nan(tf.stop_gradient(mean), tf.stop_gradient(mult),
                                       name='float_mean')
    float_variance = tf.math.divide_no_nan(tf.stop_gradient(variance),
                                           tf.stop_gradient(tf.square(mult)),
                                           name='float_variance')
  with graph.name_scope(scope_prefix):
    output = tf.multiply(output, correction_recip, name='post_conv_mul')
    if correction_offset is not None:
      output = tf.add(output, correction_offset, name='correction_add')
    output = tf.add(output, bias, name='add_fold')
  gm.reroute(match.output, output, only=output_users)
  if match.stat_outputs is not None:  # fused: the op's outputs feed the moving averages
    unbiased = tf.multiply(float_variance, count / tf.maximum(count - 1.0, 1.0),
                           name=scope_prefix + 'BatchNorm_Fold/Bessel_Correction')
    batch_mean, batch_variance = match.stat_outputs
    gm.reroute(batch_mean, float_mean, only=stat_users[0])
    gm.reroute(batch_variance, unbiased, only=stat_users[1])
  else:  # unfused: the moving averages' Sub ops read the graph's own statistics
    for key, stat in (('mean', float_mean), ('variance', float_variance)):
      update, index = match.updates[key]
      sub = update.inputs[1 - index].op
      internals.reroute_input(sub, 1, stat)
