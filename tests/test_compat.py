"""The TF 2.21 fixes in slimlib/compat.py: each test here fails if its fix is removed."""
import os
import subprocess
import sys

import numpy as np
import tensorflow.compat.v1 as tf
import tf_slim as slim

from conftest import ROOT


def test_eager_is_disabled_process_wide():
  assert not tf.executing_eagerly()


def test_batch_norm_with_update_ops_trains(graph):
  x = tf.constant(np.random.RandomState(0).rand(4, 6, 6, 3), tf.float32)
  net = slim.conv2d(x, 8, [3, 3], normalizer_fn=slim.batch_norm,
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


def test_tensors_and_variables_hash_by_identity_as_in_tf1(graph):
  a = tf.get_variable('a', [2])
  b = tf.constant([1.0, 2.0])
  assert len({a, b, a}) == 2
  assert (b == b) is True  # TF1 identity comparison, not an element-wise tensor
