"""Small helpers for walking and editing a tf.Graph in place (what the rewrite passes share)."""
from foundation import internals

LAYER_TYPES = ('Conv2D', 'DepthwiseConv2dNative', 'MatMul')
VARIABLE_READ_TYPES = ('ReadVariableOp', 'Variable', 'VariableV2', 'VarHandleOp')
OPTIMIZER_PREFIXES = ('Apply', 'ResourceApply', 'SparseApply', 'ResourceSparseApply')


def context(op_name):
  """The name scope of an op: its name minus the last component ('' at the root)."""
  return op_name.rsplit('/', 1)[0] if '/' in op_name else ''


def consumers(tensor):
  """The ops reading `tensor`, in graph order."""
  return list(tensor.consumers())


def single_consumer(tensor, types):
  """The one consumer of `tensor` whose type is in `types`, or None (none, or ambiguous)."""
  found = [op for op in tensor.consumers() if op.type in types]
  return found[0] if len(found) == 1 else None


def reroute(old, new, only):
  """The ops in `only` read tensor `new` wherever they read tensor `old`; returns the count.

  Callers take `only` from `consumers(old)` before building `new`, so that the ops computing
  `new` from `old` keep reading `old`.
  """
  changed = 0
  for op in only:
    for index, tensor in enumerate(list(op.inputs)):
      if tensor is old:
        internals.reroute_input(op, index, new)
        changed += 1
  return changed


def through_identities(tensor):
  """The tensor behind any chain of Identity ops."""
  while tensor.op.type == 'Identity':
    tensor = tensor.op.inputs[0]
  return tensor


def is_variable_read(tensor):
  """True for a weight read straight from a variable (resource or ref, possibly partitioned)."""
  tensor = through_identities(tensor)
  if tensor.op.type in VARIABLE_READ_TYPES:
    return True
  if tensor.op.type == 'ConcatV2':  # a partitioned variable, read as the concat of its parts
    return all(is_variable_read(t) for t in tensor.op.inputs[:-1])
  return False


def grouped_layer(concat):
  """(Split op, [conv ops]) of a grouped convolution `concat(conv(x_g, split(w)[g]))`, or None.

  The groups are concatenated on the last (channel) axis, in the order the weight was split.
  """
  if concat.type != 'ConcatV2':
    return None
  values, axis = list(concat.inputs[:-1]), concat.inputs[-1]
  convs = [t.op for t in values]
  if len(convs) < 2 or any(op.type != 'Conv2D' or t is not op.outputs[0]
                           for op, t in zip(convs, values)):
    return None
  split = convs[0].inputs[1].op
  if split.type != 'Split' or [op.inputs[1] for op in convs] != list(split.outputs):
    return None
  rank = values[0].shape.ndims
  if axis.op.type != 'Const' or rank is None:
    return None
  concat_axis = int(axis.op.get_attr('value').int_val[0]) if axis.op.get_attr(
      'value').int_val else None
  split_axis = split.inputs[0].op.get_attr('value').int_val if split.inputs[0].op.type == \
      'Const' else None
  if concat_axis not in (rank - 1, -1) or not split_axis or split_axis[0] not in (3, -1):
    return None
  return split, convs


def in_scope(op, scope):
  return not scope or op.name == scope or op.name.startswith(scope.rstrip('/') + '/')


def check_no_optimizer(graph):
  """The rewrite must run before gradients and the optimizer are added (as in TF 1)."""
  for op in graph.get_operations():
    if op.type.startswith(OPTIMIZER_PREFIXES):
      raise ValueError('Some training ops are already in the graph (%s: %s); call the quantize '
                       'rewrite before the optimizer is created.' % (op.type, op.name))
