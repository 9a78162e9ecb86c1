"""Reads the learned quantisation ranges back, for export (one (min, max) per fake-quant scope).

Integer TFLite from a restored `create_eval_graph` graph, no calibration data (checked on TF 2.21
by tests/test_quantize.py): build every output op (softmax, identity) before the rewrite, so that
it reads the fake-quantised tensors, then `tf.compat.v1.lite.TFLiteConverter.from_session` with
`inference_type`, `inference_input_type` and `inference_output_type` all uint8 or all int8 and
`quantized_input_stats = {input_name: (mean, std)}` (real = (q - mean) / std).
- uint8: leave `optimizations` empty (with `Optimize.DEFAULT` the converter wants int8/int16
  input); the asymmetric ranges of `create_training_graph` work as learned.
- int8: `optimizations = [tf.lite.Optimize.DEFAULT]` or none; the int8 kernels need weight
  zero points of 0: train with `experimental_create_training_graph(symmetric=True)`, or call
  `make_weight_ranges_symmetric` on the restored eval graph before converting.
`Optimize.DEFAULT` alone (no `inference_type`) gives a float-input model with float activations.
"""
import collections

import tensorflow.compat.v1 as tf

_QUANT_SUFFIX = '_quant'


def _pair_up(values):
  """{'scope/min': a, 'scope/max': b, ...} -> OrderedDict scope -> (a, b), scopes sorted."""
  ranges = collections.OrderedDict()
  for name in sorted(values):
    scope, _, leaf = name.rpartition('/')
    if leaf != 'min' or not scope.endswith(_QUANT_SUFFIX) or scope + '/max' not in values:
      continue
    ranges[scope] = (float(values[name]), float(values[scope + '/max']))
  return ranges


def ranges_from_checkpoint(checkpoint_path):
  """The ranges stored in a QAT checkpoint (a file prefix or a directory), by quant scope.

  E.g. {'MobilenetV1/MobilenetV1/Conv2d_0/act_quant': (0.0, 5.87), ...}.
  """
  reader = tf.train.load_checkpoint(checkpoint_path)
  names = [name for name in reader.get_variable_to_shape_map()
           if name.endswith(('/min', '/max'))]
  return _pair_up({name: reader.get_tensor(name) for name in names})


def ranges_from_session(session, graph=None):
  """The current ranges of the `min` / `max` variables of a rewritten graph in `session`."""
  graph = graph or session.graph
  with graph.as_default():
    fetches = {v.op.name: v.read_value() for v in tf.global_variables()
               if v.op.name.endswith(('/min', '/max'))}
  return _pair_up(session.run(fetches) if fetches else {})


def fake_quant_scopes(graph):
  """The scopes of the FakeQuantWithMinMaxVars ops in `graph`, in graph order."""
  return [op.name.rsplit('/', 1)[0] for op in graph.get_operations()
          if op.type == 'FakeQuantWithMinMaxVars']


def make_weight_ranges_symmetric(session, graph=None):
  """Widens every `weights_quant` range of a rewritten graph to [-m, m], m = max(|min|, |max|).

  Int8 TFLite kernels need a zero point of 0 on the weights, which the (asymmetric) ranges of
  `create_training_graph` do not give; `experimental_create_training_graph(symmetric=True)`
  learns symmetric ones. For a checkpoint trained asymmetrically, call this on the restored eval
  graph before converting: the weights then lose at most one bit of resolution. Returns the
  number of ranges changed.
  """
  graph = graph or session.graph
  with graph.as_default():
    variables = {v.op.name: v for v in tf.global_variables()}
  changed = 0
  for scope, (low, high) in ranges_from_session(session, graph).items():
    if not scope.endswith('weights_quant'):
      continue
    extent = max(abs(low), abs(high))
    if low != -extent or high != extent:
      variables[scope + '/min'].load(-extent, session)
      variables[scope + '/max'].load(extent, session)
      changed += 1
  return changed
