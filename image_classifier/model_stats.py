"""Parameter and multiply-add counts read from a built graph.

Multiply-adds are counted the way the network papers count "FLOPs" / "Mult-Adds": one per
multiplication in a convolution or a fully connected layer, from the static shapes of the graph's
ops. Batch norm, activations, pooling, additions and bias additions are not counted. `Conv2D` covers
dilated and grouped convolutions too (the filter's input depth is the per-group depth).
"""
import numpy as np
import tensorflow.compat.v1 as tf


def _static(shape, what):
  dims = shape.as_list()
  if any(d is None for d in dims):
    raise ValueError('multiply-adds need static shapes; %s has shape %s' % (what, dims))
  return dims


def op_multiply_adds(op):
  """Multiply-adds of one op (0 for ops that are not convolutions or matrix products)."""
  if op.type in ('Conv2D', 'Conv3D'):
    out = _static(op.outputs[0].shape, op.name)
    filt = _static(op.inputs[1].shape, op.name)
    # out elements x (kernel taps x input depth of the filter)
    return int(np.prod(out)) * int(np.prod(filt[:-1]))
  if op.type == 'DepthwiseConv2dNative':
    out = _static(op.outputs[0].shape, op.name)
    filt = _static(op.inputs[1].shape, op.name)
    return int(np.prod(out)) * filt[0] * filt[1]
  if op.type in ('MatMul', 'BatchMatMulV2', 'BatchMatMulV3'):
    a = _static(op.inputs[0].shape, op.name)
    out = _static(op.outputs[0].shape, op.name)
    transpose_a = op.get_attr('transpose_a' if op.type == 'MatMul' else 'adj_x')
    inner = a[-2] if transpose_a else a[-1]
    return int(np.prod(out)) * inner
  return 0


def multiply_adds(graph=None, scope=None):
  """Total multiply-adds of the ops of `graph` (default graph) whose names start with `scope`.

  Counts the forward graph as built; build it with a batch of 1 for per-image numbers and before
  any gradient ops exist.
  """
  graph = graph or tf.get_default_graph()
  return sum(op_multiply_adds(op) for op in graph.get_operations()
             if scope is None or op.name.startswith(scope))


def parameter_count(variables):
  """Number of scalars in `variables` (e.g. tf.trainable_variables())."""
  return int(sum(np.prod(v.shape.as_list()) for v in variables))
