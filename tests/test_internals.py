"""foundation.internals: each private TensorFlow / tf-slim name it uses still has the shape it uses,
no other module of the project reaches a private name, and SLIM_TF_SPEEDUPS=0 leaves TensorFlow's
and tf-slim's own paths with the same numbers.

When a TensorFlow or tf-slim release changes one of these names, the test named after it fails.
"""
import ast
import inspect
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim

from conftest import ROOT
from foundation import internals


def test_fused_batch_norm_and_the_decorated_original():
  from tf_slim.layers import layers as slim_layers
  params = inspect.signature(slim_layers._fused_batch_norm).parameters
  for name in ('decay', 'center', 'scale', 'epsilon', 'activation_fn', 'param_initializers',
               'param_regularizers', 'updates_collections', 'is_training', 'reuse',
               'variables_collections', 'outputs_collections', 'trainable', 'data_format',
               'zero_debias_moving_mean', 'scope'):
    assert name in params, name
  original = internals.keras_layer_batch_norm()
  assert callable(original._tf_decorator.decorated_target)
  assert original._key_op


def test_checkpoint_saver_hook_fields(tmp_path, graph):
  tf.train.get_or_create_global_step()
  hook = tf.train.CheckpointSaverHook(str(tmp_path), save_steps=10)
  hook.begin()
  assert hook._global_step_tensor is not None
  assert hasattr(hook._summary_writer, 'add_graph')
  assert callable(hook._timer.update_last_triggered_step)


def test_scaffold_readiness_properties_and_session_manager_skip(graph):
  assert isinstance(inspect.getattr_static(tf.train.Scaffold, 'ready_op'), property)
  assert isinstance(inspect.getattr_static(tf.train.Scaffold, 'ready_for_local_init_op'),
                    property)
  tf.get_variable('v', [2])
  scaffold = internals._ScaffoldWithoutReadyChecks()
  scaffold.finalize()
  assert scaffold.ready_op is None and scaffold.ready_for_local_init_op is None
  with tf.train.MonitoredSession(tf.train.ChiefSessionCreator(scaffold=scaffold)) as session:
    session.run(tf.global_variables())
  kinds = {op.type for op in tf.get_default_graph().get_operations()}
  assert not any('ReportUninitialized' in kind for kind in kinds)


def test_example_decoder_and_image_handler_fields():
  image = slim.tfexample_decoder.Image(channels=3)
  for name, value in (('_image_key', 'image/encoded'), ('_repeated', False), ('_shape', None),
                      ('_dtype', tf.uint8), ('_channels', 3)):
    assert getattr(image, name) == value, name
  assert hasattr(image, '_dct_method')
  features = {'image/encoded': tf.FixedLenFeature((), tf.string),
              'image/format': tf.FixedLenFeature((), tf.string),
              'image/class/label': tf.FixedLenFeature([], tf.int64)}
  decoder = slim.tfexample_decoder.TFExampleDecoder(
      features, {'image': image, 'label': slim.tfexample_decoder.Tensor('image/class/label')})
  assert decoder._keys_to_features is features
  assert set(decoder._items_to_handlers) == {'image', 'label'}
  plain = internals.plain_image_decoding(decoder)
  assert (plain is not None) == internals.SPEEDUPS
  if plain:
    assert plain.image_key == 'image/encoded' and plain.channels == 3


def test_queue_runner_closed_exception_types(graph):
  queue = tf.FIFOQueue(2, tf.float32)
  runner = tf.train.QueueRunner(queue, [queue.enqueue(1.0)])
  before = tuple(runner._queue_closed_exception_types)
  internals.treat_cancelled_as_closed(runner)
  assert runner._queue_closed_exception_types == before + (tf.errors.CancelledError,)


def test_onednn_query_and_deprecation_switch():
  assert internals.onednn_enabled() in (True, False)
  from tensorflow.python.util import deprecation
  assert isinstance(deprecation._PRINT_DEPRECATION_WARNINGS, bool)


def test_repairs_find_what_they_alias():
  from tensorflow.python.framework import ops
  from tensorflow.python.framework import tensor
  from tensorflow.python.ops import control_flow_ops
  internals.apply_repairs()
  assert ops.Tensor is tensor.Tensor
  for name in ('cond', 'case', 'while_loop', 'Assert'):
    assert callable(getattr(control_flow_ops, name)), name


# Private names anywhere else: `x._name` on a module-level alias of tf/slim/os, or an import of
# tensorflow.python.* / a private tf_slim module.
_PRIVATE_ATTRIBUTE = re.compile(r'\b(tf|slim|os|sys|tf_slim|tensorflow)\._[a-zA-Z]')


def _project_sources():
  for folder in ('foundation', 'image_classifier', 'nets', 'preprocessing', 'datasets',
                 'deployment', 'quantize'):
    for base, _, files in os.walk(os.path.join(ROOT, folder)):
      for name in files:
        if name.endswith('.py'):
          yield os.path.join(base, name)
  for name in os.listdir(ROOT):
    if name.endswith('.py'):
      yield os.path.join(ROOT, name)


def test_no_other_module_reaches_a_private_name():
  problems = []
  for path in _project_sources():
    if path.endswith(os.path.join('foundation', 'internals.py')):
      continue
    source = open(path).read()
    rel = os.path.relpath(path, ROOT)
    for node in ast.walk(ast.parse(source)):
      modules = []
      if isinstance(node, ast.ImportFrom) and node.module:
        modules = [node.module]
      elif isinstance(node, ast.Import):
        modules = [alias.name for alias in node.names]
      for module in modules:
        if module.startswith('tensorflow.python') or module.startswith('tf_slim.') and any(
            part.startswith('_') for part in module.split('.')):
          problems.append('%s:%d imports %s' % (rel, node.lineno, module))
    for number, line in enumerate(source.splitlines(), 1):
      if _PRIVATE_ATTRIBUTE.search(line.split('#')[0]):
        problems.append('%s:%d %s' % (rel, number, line.strip()))
  assert not problems, '\n'.join(problems)


_LOGITS_PROBE = r'''
import sys
sys.path.insert(0, %(root)r)
from image_classifier import process
process.configure()
import numpy as np
import tensorflow.compat.v1 as tf
import tf_slim as slim
from foundation import internals
from nets import nets_factory
print('speedups', internals.SPEEDUPS, getattr(slim.batch_norm, '_without_keras_layer', False))
for training in (False, True):
  with tf.Graph().as_default():
    tf.set_random_seed(3)
    images = tf.constant(np.random.RandomState(0).rand(2, 64, 64, 3), tf.float32)
    logits, _ = nets_factory.get_network_fn('mobilenet_v1_025', 5, is_training=training)(images)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      print('logits', training, ' '.join('%%.9g' %% v for v in session.run(logits).ravel()))
'''


def _probe(speedups):
  env = dict(os.environ, SLIM_TF_SPEEDUPS=speedups)
  result = subprocess.run([sys.executable, '-c', _LOGITS_PROBE % {'root': ROOT}], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout.splitlines()


def test_speedups_off_take_tensorflows_own_paths_with_the_same_numbers():
  on, off = _probe('1'), _probe('0')
  assert on[0] == 'speedups True True' and off[0] == 'speedups False False', (on[0], off[0])
  for a, b in zip(on[1:], off[1:]):
    head_a, head_b = a.split(' ', 2)[:2], b.split(' ', 2)[:2]
    assert head_a == head_b
    np.testing.assert_allclose([float(v) for v in a.split()[2:]],
                               [float(v) for v in b.split()[2:]], rtol=1e-5, atol=1e-6)


def test_factories_follow_the_switch(tmp_path, graph):
  tf.train.get_or_create_global_step()
  hook = internals.checkpoint_saver_hook(str(tmp_path), save_steps=1)
  scaffold = internals.training_scaffold(alone=True)
  expected = internals.SPEEDUPS
  assert (type(hook) is not tf.train.CheckpointSaverHook) == expected
  assert (type(scaffold) is not tf.train.Scaffold) == expected
  assert type(internals.training_scaffold(alone=False)) is tf.train.Scaffold


def test_restoring_scaffold_skips_the_checks_only_when_every_variable_is_restored(tmp_path,
                                                                                graph):
  a = tf.get_variable('a', [2], initializer=tf.ones_initializer())
  b = tf.get_variable('b', [3], initializer=tf.ones_initializer())
  with tf.Session() as session:
    session.run(tf.global_variables_initializer())
    checkpoint = tf.train.Saver().save(session, str(tmp_path / 'model.ckpt'))
  complete = internals.restoring_scaffold(tf.train.Saver([a, b]), [a, b])
  partial = internals.restoring_scaffold(tf.train.Saver([a]), [a])
  assert (type(complete) is not tf.train.Scaffold) == internals.SPEEDUPS
  assert type(partial) is tf.train.Scaffold
  # Partly restored, the checks stay and name the variable left out.
  creator = tf.train.ChiefSessionCreator(scaffold=partial, checkpoint_filename_with_path=checkpoint)
  with pytest.raises(RuntimeError, match='not initialized: b'):
    tf.train.MonitoredSession(session_creator=creator)
  creator = tf.train.ChiefSessionCreator(scaffold=complete,
                                         checkpoint_filename_with_path=checkpoint)
  with tf.train.MonitoredSession(session_creator=creator) as session:
    np.testing.assert_array_equal(session.run(b), np.ones(3))


@pytest.mark.parametrize('value,expected', [('off', False), ('1', True)])
def test_the_switch_is_read_from_the_environment(value, expected):
  code = ('import sys; sys.path.insert(0, %r); from foundation import internals; '
          'print(internals.SPEEDUPS)' % ROOT)
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=dict(os.environ, SLIM_TF_SPEEDUPS=value), timeout=300)
  assert result.stdout.split()[-1:] == [str(expected)], result.stderr[-2000:]
