"""One fake-quant op with its `min` / `max` range variables, as `tf.contrib.quantize` made them.

Weights keep the last batch range (`AssignMinLast` / `AssignMaxLast`); activations follow a
zero-debiased moving average of it (`AssignMinEma` / `AssignMaxEma`, with the `biased` and
`local_step` variables of TF's moving averages, named after the range variable). An eval graph
reads the variables as they are. Ranges always contain 0.
"""
import tensorflow.compat.v1 as tf

from quantize import common


def _range_variable(name, value, vars_collection):
  collections = [tf.GraphKeys.GLOBAL_VARIABLES]
  if vars_collection not in collections:
    collections.append(vars_collection)
  return tf.get_variable(name, shape=[], dtype=tf.float32,
                         initializer=tf.constant_initializer(value), trainable=False,
                         collections=collections, aggregation=tf.VariableAggregation.MEAN)


def _zero_debiased_moving_average(variable, value, decay, name):
  """variable <- EMA(value), debiased as TF's `assign_moving_average(zero_debias=True)` does."""
  with tf.name_scope(name):
    with tf.variable_scope(variable.op.name):
      biased = tf.get_variable('biased', shape=variable.shape, dtype=variable.dtype,
                               initializer=tf.zeros_initializer(), trainable=False,
                               collections=[tf.GraphKeys.GLOBAL_VARIABLES])
      local_step = tf.get_variable('local_step', shape=[], dtype=variable.dtype,
                                   initializer=tf.zeros_initializer(), trainable=False,
                                   collections=[tf.GraphKeys.GLOBAL_VARIABLES])
    new_biased = biased.assign_sub((biased.read_value() - value) * (1.0 - decay))
    new_step = local_step.assign_add(1.0)
    unbiased = new_biased / (1.0 - tf.pow(tf.constant(decay, variable.dtype), new_step))
    return variable.assign(unbiased)


def _symmetric(batch_min, batch_max, num_bits, narrow_range):
  """Widens [min, max] so that it holds its mirror on the integer grid."""
  if narrow_range:
    extent = tf.maximum(-batch_min, batch_max)
    return -extent, extent
  ratio = (2.0 ** num_bits - 2.0) / 2.0 ** num_bits  # max / -min on a full signed grid
  extent = tf.maximum(-batch_min, batch_max / ratio)
  return -extent, extent * ratio


def fake_quant(inputs, scope_name, is_training, moving_average, init_min, init_max,
               num_bits=8, narrow_range=False, symmetric=False, ema_decay=0.999,
               quant_delay=None, vars_collection=tf.GraphKeys.GLOBAL_VARIABLES):
  """Builds `scope_name/{min,max}` and `scope_name/FakeQuantWithMinMaxVars` on `inputs`.

  Returns the tensor that replaces `inputs`: the fake-quantised one, or with `quant_delay` a
  `delayed_quant` select that passes `inputs` through until the run counter reaches the delay.
  """
  graph = inputs.graph
  with tf.variable_scope(None, default_name=scope_name, values=[inputs]) as variable_scope:
    variable_scope.set_partitioner(None)
    min_var = _range_variable('min', init_min, vars_collection)
    max_var = _range_variable('max', init_max, vars_collection)
    if is_training:
      batch_min = tf.minimum(tf.reduce_min(inputs, name='BatchMin'), 0.0)
      batch_max = tf.maximum(tf.reduce_max(inputs, name='BatchMax'), 0.0)
      if symmetric:
        batch_min, batch_max = _symmetric(batch_min, batch_max, num_bits, narrow_range)
      if moving_average:
        range_min = _zero_debiased_moving_average(min_var, batch_min, ema_decay, 'AssignMinEma')
        range_max = _zero_debiased_moving_average(max_var, batch_max, ema_decay, 'AssignMaxEma')
      else:
        range_min = min_var.assign(batch_min, name='AssignMinLast')
        range_max = max_var.assign(batch_max, name='AssignMaxLast')
    else:
      range_min, range_max = min_var.read_value(), max_var.read_value()
    quantized = tf.quantization.fake_quant_with_min_max_vars(
        inputs, range_min, range_max, num_bits=num_bits, narrow_range=narrow_range,
        name='FakeQuantWithMinMaxVars')
    if quant_delay is None or quant_delay <= 0:
      return quantized
    activate = tf.greater_equal(common.quantization_step(graph), quant_delay,
                                name='activate_quant')
    # A select, not the original's tf.cond: the same values and gradients, without one If op
    # (and its two functions) per fake-quant op, which made session start-up 5x slower.
    return tf.where_v2(activate, quantized, inputs, name='delayed_quant')
