"""What the fold and the fake-quant passes share: the run counter behind the delays."""
import tensorflow.compat.v1 as tf

STEP_NAME = 'fake_quantization_step'
_STEP_COLLECTION = 'quantize_fake_quantization_step_value'


def quantization_step(graph):
  """How many times the rewritten graph ran before this run (an int64 scalar tensor).

  Backed by the root-scope variable `fake_quantization_step` (int64, initial value 0,
  non-trainable, GLOBAL_VARIABLES only), incremented once on every run that reads the value.
  One variable and one increment per graph, whichever pass asks first.
  """
  cached = graph.get_collection(_STEP_COLLECTION)
  if cached:
    return cached[0]
  with graph.as_default(), graph.name_scope(None):
    with tf.variable_scope(tf.VariableScope(reuse=tf.AUTO_REUSE, name='')):
      step = tf.get_variable(STEP_NAME, shape=[], dtype=tf.int64,
                             initializer=tf.zeros_initializer(), trainable=False,
                             collections=[tf.GraphKeys.GLOBAL_VARIABLES], partitioner=None)
    with graph.name_scope(STEP_NAME + '/'):
      incremented = step.assign_add(1)
      value = tf.identity(incremented - 1, name='Identity')
  graph.add_to_collection(_STEP_COLLECTION, value)
  return value
