"""Quantization-aware training graph rewrites, as TF 1's `tf.contrib.quantize` had them.

`create_training_graph` / `create_eval_graph` (and their `experimental_` variants) rewrite a
graph mode (`tf.compat.v1`) graph in place: batch norms folded into the weights before them,
`FakeQuantWithMinMaxVars` ops on weights and activations with learned `min` / `max` ranges, under
the original's scope and variable names, so QAT checkpoints restore across the two graphs.
`quantize.ranges` reads the learned ranges back for export.
"""
from quantize.quantize_graph import create_eval_graph
from quantize.quantize_graph import create_training_graph
from quantize.quantize_graph import experimental_create_eval_graph
from quantize.quantize_graph import experimental_create_training_graph

__all__ = ['create_training_graph', 'create_eval_graph', 'experimental_create_training_graph',
           'experimental_create_eval_graph']
