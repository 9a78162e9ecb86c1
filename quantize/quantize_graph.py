"""The public rewrite functions, with the signatures and defaults of `tf.contrib.quantize`."""
import tensorflow.compat.v1 as tf

from quantize import fold_batch_norms
from quantize import graph_matching
from quantize import quantize


def _rewrite(input_graph, is_training, weight_bits, activation_bits, symmetric, quant_delay,
             freeze_bn_delay, scope, fold_mode='tf1'):
  graph = tf.get_default_graph() if input_graph is None else input_graph
  if not isinstance(graph, tf.Graph):
    raise TypeError('input_graph must be a tf.Graph or None, not %s' % type(graph).__name__)
  for name, bits in (('weight_bits', weight_bits), ('activation_bits', activation_bits)):
    if not isinstance(bits, int) or not 2 <= bits <= 16:
      raise ValueError('%s must be an integer from 2 to 16, not %r' % (name, bits))
  graph_matching.check_no_optimizer(graph)
  fold_batch_norms.fold_batch_norms(graph, is_training=is_training,
                                    freeze_batch_norm_delay=freeze_bn_delay, scope=scope,
                                    mode=fold_mode)
  quantize.quantize(graph, is_training, weight_bits=weight_bits,
                    activation_bits=activation_bits, symmetric=symmetric,
                    quant_delay=quant_delay, scope=scope)


def create_training_graph(input_graph=None, quant_delay=0):
  """Rewrites `input_graph` (default: the default graph) in place for quantization-aware training.

  Folds batch norms (with the training-time correction) and adds 8-bit fake-quant ops whose
  ranges are learned; quantisation is active from the `quant_delay`-th run of the graph on.
  Call it after the model and loss are built and before the optimizer.
  """
  _rewrite(input_graph, True, 8, 8, False, quant_delay, None, None)


def create_eval_graph(input_graph=None):
  """Rewrites `input_graph` in place into the eval graph matching `create_training_graph`.

  The batch norms are folded with their moving statistics and the fake-quant ops read the
  ranges (`min` / `max` variables) restored from a training checkpoint.
  """
  _rewrite(input_graph, False, 8, 8, False, None, None, None)


def experimental_create_training_graph(input_graph=None, weight_bits=8, activation_bits=8,
                                       symmetric=False, quant_delay=0, freeze_bn_delay=None,
                                       scope=None, fold_mode='tf1'):
  """`create_training_graph` with the bit widths, symmetric ranges, a step from which the batch
  norms use their moving statistics (`freeze_bn_delay`), and a `scope` to rewrite only.

  `fold_mode` (new): 'tf1' (TF 1's fold: batch statistics from the layer with float weights, so
  each layer runs twice) or 'single_conv' (each layer runs once; batch statistics from the
  quantised layer's output; see `fold_batch_norms.fold_batch_norms`). The variables are the same.
  """
  _rewrite(input_graph, True, weight_bits, activation_bits, symmetric, quant_delay,
           freeze_bn_delay, scope, fold_mode)


def experimental_create_eval_graph(input_graph=None, weight_bits=8, activation_bits=8,
                                   symmetric=False, quant_delay=None, scope=None):
  """`create_eval_graph` with the bit widths, symmetric ranges and a `scope` to rewrite only."""
  _rewrite(input_graph, False, weight_bits, activation_bits, symmetric, quant_delay, None, scope)
