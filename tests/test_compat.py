"""The TF 2.21 repairs and the batch-norm speed-up of foundation/internals.py: each test here fails
if its fix is removed."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim

from conftest import ROOT
from foundation import internals


def test_eager_is_disabled_in_a_configured_process():
  assert not tf.executing_eagerly()


@pytest.mark.parametrize('implementation', ['fused', 'keras_layer'])
def test_batch_norm_with_update_ops_trains(graph, implementation):
  # 'keras_layer' is tf-slim's own path (the legacy Keras layer, needing fix 1); slim.batch_norm
  # takes it for calls that cannot be fused, e.g. with renorm.
  batch_norm = (slim.batch_norm if implementation == 'fused'
                else internals.keras_layer_batch_norm())
  x = tf.constant(np.random.RandomState(0).rand(4, 6, 6, 3), tf.float32)
  net = slim.conv2d(x, 8, [3, 3], normalizer_fn=batch_norm,
                    normalizer_params={'is_training': True, 'scale': True})
  update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
  assert len(update_ops) == 2
  loss = tf.reduce_mean(tf.square(net))
  train_op = slim.learning.create_train_op(loss, tf.train.GradientDescentOptimizer(0.1))
  with tf.Session() as session:
    session.run(tf.global_variables_initializer())
    first = session.run(train_op)
    for _ in range(5):
      last = session.run(train_op)
    assert last < first
    mean = [v for v in tf.global_variables() if 'moving_mean' in v.name][0]
    assert np.any(session.run(mean) != 0)


def test_batch_norm_without_update_collections_and_rank_2(graph):
  # These take the code path that refers to ops.Tensor.
  x = tf.constant(np.random.RandomState(1).rand(4, 5), tf.float32)
  y = slim.batch_norm(x, is_training=True, updates_collections=None)
  z = slim.batch_norm(tf.reshape(x, [4, 1, 1, 5]), is_training=False, updates_collections=None,
                      scope='second')
  with tf.Session() as session:
    session.run(tf.global_variables_initializer())
    out, _ = session.run([y, z])
  np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)


def test_example_decoder_image_handler_uses_cond_and_case(graph):
  from datasets import dataset_utils
  import io
  from PIL import Image
  pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
  buf = io.BytesIO()
  Image.fromarray(pixels).save(buf, format='PNG')
  example = dataset_utils.image_to_tfexample(buf.getvalue(), b'png', 2, 3, 1)
  decoder = slim.tfexample_decoder.TFExampleDecoder(
      {'image/encoded': tf.FixedLenFeature((), tf.string, default_value=''),
       'image/format': tf.FixedLenFeature((), tf.string, default_value='png'),
       'image/class/label': tf.FixedLenFeature([], tf.int64, default_value=0)},
      {'image': slim.tfexample_decoder.Image(), 'label': slim.tfexample_decoder.Tensor(
          'image/class/label')})
  image, label = decoder.decode(example.SerializeToString(), ['image', 'label'])
  with tf.Session() as session:
    image, label = session.run([image, label])
  np.testing.assert_array_equal(image, pixels)
  assert label == 1


def test_slim_learning_train_runs_its_supervisor(tmp_path):
  with tf.Graph().as_default():
    x = tf.random.uniform([8, 4])
    w = slim.model_variable('w', [4, 1])
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - 1.0))
    train_op = slim.learning.create_train_op(loss, tf.train.GradientDescentOptimizer(0.1))
    final = slim.learning.train(train_op, str(tmp_path), number_of_steps=3, save_summaries_secs=0,
                                save_interval_secs=0)
  assert final is not None and tf.train.latest_checkpoint(str(tmp_path))


def test_without_compat_tf_slim_batch_norm_breaks():
  # Documents why compat.py exists: plain tf_slim on TF 2.21 cannot build a training batch norm.
  code = ('import tensorflow.compat.v1 as tf; import tf_slim as slim; tf.disable_eager_execution(); '
          'slim.batch_norm(tf.zeros([2, 3, 3, 4]), is_training=True)')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=os.path.dirname(ROOT), timeout=300)
  assert result.returncode != 0
  assert 'legacy_tf_layers' in result.stderr or 'tf_keras' in result.stderr


@pytest.mark.skipif(not internals.SPEEDUPS, reason='tests the fused batch-norm speed-up, off '
                    'with SLIM_TF_SPEEDUPS=0')
def test_tf_keras_is_imported_only_when_a_legacy_layer_needs_it():
  # Fix 1 is an import hook: the fused batch norm (every net of the zoo) never loads tf-keras.
  code = ('import sys; from image_classifier import process; process.configure_tensorflow(); '
          'import tensorflow.compat.v1 as tf; '
          'import tf_slim as slim; slim.batch_norm(tf.zeros([2, 3, 3, 4]), is_training=True); '
          'print("before", "tf_keras" in sys.modules); '
          'slim.batch_norm(tf.zeros([2, 3, 3, 4]), is_training=True, renorm=True); '
          'print("after", "tf_keras" in sys.modules, '
          'sys.modules["tf_keras.legacy_tf_layers.normalization"].__name__)')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'before False' in result.stdout
  assert 'after True tf_keras.src.legacy_tf_layers.normalization' in result.stdout


def test_tensors_and_variables_hash_by_identity_as_in_tf1(graph):
  a = tf.get_variable('a', [2])
  b = tf.constant([1.0, 2.0])
  assert len({a, b, a}) == 2
  assert (b == b) is True  # TF1 identity comparison, not an element-wise tensor


def _bn_net_after_one_step(batch_norm, is_training):
  """Variables (name -> value, collections) and output of a conv + batch-norm net after one SGD
  step (or of its eval pass), built with `batch_norm`."""
  rng = np.random.RandomState(0)
  with tf.Graph().as_default():
    x = tf.constant(rng.rand(4, 6, 6, 3), tf.float32)
    weights = rng.normal(0, 0.5, (3, 3, 3, 8)).astype(np.float32)
    with slim.arg_scope([slim.batch_norm], decay=0.9, scale=True, is_training=is_training):
      net = slim.conv2d(x, 8, [3, 3], normalizer_fn=batch_norm,
                        weights_initializer=tf.constant_initializer(weights),
                        weights_regularizer=slim.l2_regularizer(0.01))
      net = slim.fully_connected(tf.reduce_mean(net, [1, 2]), 5, normalizer_fn=batch_norm,
                                 biases_initializer=None,
                                 weights_initializer=tf.constant_initializer(0.1))
    loss = tf.reduce_mean(tf.square(net - 1.0)) + tf.add_n(tf.losses.get_regularization_losses())
    train_op = slim.learning.create_train_op(loss, tf.train.GradientDescentOptimizer(0.5))
    collections = {key: sorted(v.op.name for v in tf.get_collection(key)) for key in (
        tf.GraphKeys.GLOBAL_VARIABLES, tf.GraphKeys.TRAINABLE_VARIABLES,
        tf.GraphKeys.MODEL_VARIABLES, tf.GraphKeys.MOVING_AVERAGE_VARIABLES)}
    num_updates = len(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      output = session.run(net)
      if is_training:
        session.run(train_op)
      values = {v.op.name: session.run(v) for v in tf.global_variables()}
  return values, collections, num_updates, output


@pytest.mark.parametrize('is_training', [True, False])
def test_fused_batch_norm_route_equals_the_keras_layer_path(is_training):
  fused = _bn_net_after_one_step(slim.batch_norm, is_training)
  keras = _bn_net_after_one_step(internals.keras_layer_batch_norm(), is_training)
  assert fused[1] == keras[1]  # the same variables, in the same collections
  assert fused[2] == keras[2] == (4 if is_training else 0)
  assert sorted(fused[0]) == sorted(keras[0])
  for name in fused[0]:
    np.testing.assert_allclose(fused[0][name], keras[0][name], rtol=1e-5, atol=1e-6,
                               err_msg=name)
  np.testing.assert_allclose(fused[3], keras[3], rtol=1e-5, atol=1e-6)
