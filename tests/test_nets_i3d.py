"""I3D and S3D-G video networks: end points, heads, checkpoint names, separable and gated layers.

One reference graph per net (the factory's training graph, 400 classes as for Kinetics, at the
original tests' 64 x 224 x 224 clips) serves the manifest and the shape tables; it is only built,
never run. Other variants are built without the arg scope (no batch norm: shapes do not depend on
it), and one small clip goes through S3D-G in eval mode.
"""
import numpy as np
import pytest

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import i3d
from nets import i3d_utils
from nets import nets_factory
from nets import s3dg
from tests import zoo_helpers

B = 5
CLASSES = 400

# (frames, size, channels) of every end point for a 64 x 224 x 224 clip.
SHAPES_64x224 = {
    'Conv2d_1a_7x7': (32, 112, 64), 'MaxPool_2a_3x3': (32, 56, 64),
    'Conv2d_2b_1x1': (32, 56, 64), 'Conv2d_2c_3x3': (32, 56, 192),
    'MaxPool_3a_3x3': (32, 28, 192), 'Mixed_3b': (32, 28, 256), 'Mixed_3c': (32, 28, 480),
    'MaxPool_4a_3x3': (16, 14, 480), 'Mixed_4b': (16, 14, 512), 'Mixed_4c': (16, 14, 512),
    'Mixed_4d': (16, 14, 512), 'Mixed_4e': (16, 14, 528), 'Mixed_4f': (16, 14, 832),
    'MaxPool_5a_2x2': (8, 7, 832), 'Mixed_5b': (8, 7, 832), 'Mixed_5c': (8, 7, 1024),
}


def _table(batch=B):
  return {name: [batch, t, s, s, c] for name, (t, s, c) in SHAPES_64x224.items()}


class Reference(object):
  """The factory's training graph of `model_name` on a [B, 64, 224, 224, 3] clip."""

  def __init__(self, model_name):
    fn = nets_factory.get_network_fn(model_name, num_classes=CLASSES, is_training=True)
    size = fn.default_image_size
    self.graph = tf.Graph()
    with self.graph.as_default():
      self.net, self.end_points = fn(tf.placeholder(tf.float32, [B, 64, size, size, 3]))
      self.variables = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
      self.moving_vars = {v.op.name for v in tf.get_collection('moving_vars')}

  def shapes(self):
    return {k: v.shape.as_list() for k, v in self.end_points.items()}


def _build(fn, shape, check_reuse=False, **kwargs):
  """Builds `fn` without arg scope; returns (net, end points, variables, new variables on reuse)."""
  with tf.Graph().as_default():
    inputs = tf.placeholder(tf.float32, shape)
    net, end_points = fn(inputs, **kwargs)
    variables = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
    added = None
    if check_reuse:
      fn(inputs, reuse=True, **kwargs)
      added = len(tf.global_variables()) - len(variables)
  return net, end_points, variables, added


@pytest.fixture(scope='module')
def i3d_ref():
  return Reference('i3d')


@pytest.fixture(scope='module')
def s3dg_ref():
  return Reference('s3dg')


@pytest.mark.parametrize('name', ['i3d', 's3dg'])
def test_heads_and_end_points(request, name):
  ref = request.getfixturevalue(name + '_ref')
  assert ref.net.op.name == 'InceptionV1/Logits/SpatialSqueeze'
  assert ref.end_points['Predictions'].op.name == 'InceptionV1/Logits/Predictions/Reshape_1'
  assert ref.shapes() == dict(_table(), Logits=[B, CLASSES], Predictions=[B, CLASSES])
  assert ref.variables['InceptionV1/Logits/Conv2d_0c_1x1/weights'] == [1, 1, 1, 1024, CLASSES]
  assert ref.variables['InceptionV1/Logits/Conv2d_0c_1x1/biases'] == [CLASSES]
  assert not any(n.endswith('/gamma') for n in ref.variables)
  # Moving statistics are also gathered in `moving_vars` (and only they are).
  assert ref.moving_vars == {n for n in ref.variables if '/moving_' in n} != set()


def test_i3d_checkpoint_manifest(i3d_ref):
  variables = i3d_ref.variables
  zoo_helpers.check_manifest('i3d', variables)
  # Full (inflated) 3-D kernels everywhere, no factorised or gated layers.
  assert variables['InceptionV1/Conv2d_1a_7x7/weights'] == [7, 7, 7, 3, 64]
  assert variables['InceptionV1/Conv2d_2c_3x3/weights'] == [3, 3, 3, 64, 192]
  assert variables['InceptionV1/Mixed_5b/Branch_2/Conv2d_0b_3x3/weights'] == [3, 3, 3, 32, 128]
  assert variables['InceptionV1/Mixed_5c/Branch_3/Conv2d_0b_1x1/weights'] == [1, 1, 1, 832, 128]
  assert not any('temporal' in n or 'self_gating' in n for n in variables)


def test_s3dg_checkpoint_manifest(s3dg_ref):
  variables = s3dg_ref.variables
  zoo_helpers.check_manifest('s3dg', variables)
  assert variables['InceptionV1/Conv2d_1a_7x7/weights'] == [3, 7, 7, 3, 64]
  # Conv2d_2b_1x1 comes before temporal_conv_startat and gating_startat.
  assert not any(n.startswith('InceptionV1/Conv2d_2b_1x1/') and ('temporal' in n or 'gating' in n)
                 for n in variables)
  # Separable from Conv2d_2c_3x3 on: spatial conv with batch norm, temporal conv with biases.
  expected = {
      'InceptionV1/Conv2d_2c_3x3/weights': [1, 3, 3, 64, 192],
      'InceptionV1/Conv2d_2c_3x3/temporal/weights': [3, 1, 1, 192, 192],
      'InceptionV1/Conv2d_2c_3x3/temporal/biases': [192],
      'InceptionV1/Conv2d_2c_3x3/self_gating/transformer_W/weights': [1, 1, 1, 192, 192],
      'InceptionV1/Mixed_3b/Branch_0/Conv2d_0a_1x1/self_gating/transformer_W/weights':
          [1, 1, 1, 64, 64],
      'InceptionV1/Mixed_5b/Branch_2/Conv2d_0b_3x3/temporal/weights': [3, 1, 1, 128, 128],
      'InceptionV1/Mixed_5c/Branch_3/Conv2d_0b_1x1/self_gating/transformer_W/weights':
          [1, 1, 1, 128, 128],
  }
  assert {n: variables.get(n) for n in expected} == expected
  assert 'InceptionV1/Conv2d_2c_3x3/self_gating/transformer_W/biases' not in variables
  assert 'InceptionV1/Conv2d_2c_3x3/temporal/BatchNorm/beta' not in variables


def test_temporal_kernels_start_as_identity():
  init = i3d_utils.center_initializer()([3, 1, 1, 4, 4])
  with tf.Session(graph=init.graph) as sess:
    kernel = sess.run(init)
  np.testing.assert_array_equal(kernel[1, 0, 0], np.eye(4))
  assert not kernel[0].any() and not kernel[2].any()
  with pytest.raises(ValueError):
    i3d_utils.center_initializer()([3, 3, 3, 4, 4])


def test_small_clips_unsqueezed_and_reuse():
  """10 frames of half-size images (the clip the original factory test uses)."""
  net, end_points, _, added = _build(i3d.i3d, [B, 10, 112, 112, 3], num_classes=CLASSES,
                                     spatial_squeeze=False, check_reuse=True)
  assert net.shape.as_list() == [B, 1, 1, CLASSES]
  assert end_points['Mixed_5c'].shape.as_list() == [B, 2, 4, 4, 1024]
  assert added == 0
  _, end_points = _base_only(i3d.i3d_base, [B, 10, 224, 224, 3])
  assert end_points['Mixed_5c'].shape.as_list() == [B, 2, 7, 7, 1024]


def _base_only(fn, shape, **kwargs):
  with tf.Graph().as_default():
    return fn(tf.placeholder(tf.float32, shape), **kwargs)


def test_final_endpoints_and_errors():
  net, end_points = _base_only(s3dg.s3dg_base, [B, 64, 224, 224, 3], gating_startat=None,
                               final_endpoint='Mixed_3c')
  assert list(end_points) == list(SHAPES_64x224)[:7]
  assert net.shape.as_list() == [B, 32, 28, 28, 480]
  with tf.Graph().as_default():
    clip = tf.placeholder(tf.float32, [1, 8, 64, 64, 3])
    for kwargs, message in (({'final_endpoint': 'Mixed_6a'}, 'Unknown final endpoint'),
                            ({'first_temporal_kernel_size': 4}, 'first_temporal_kernel_size'),
                            ({'depth_multiplier': 0}, 'depth_multiplier'),
                            ({'data_format': 'NHWC'}, 'data_format')):
      with pytest.raises(ValueError, match=message):
        s3dg.s3dg_base(clip, **kwargs)
      assert not tf.global_variables()


def test_s3dg_ncdhw_depth_multiplier_without_classes_and_reuse():
  net, end_points, variables, added = _build(
      s3dg.s3dg, [2, 3, 16, 112, 112], num_classes=None, data_format='NCDHW',
      depth_multiplier=0.5, check_reuse=True)
  assert end_points['Conv2d_1a_7x7'].shape.as_list() == [2, 32, 8, 56, 56]
  assert end_points['Mixed_5c'].shape.as_list() == [2, 512, 2, 4, 4]
  # The pooled features come back channels-last, as the head transposes NCDHW.
  assert net.shape.as_list() == [2, 1, 1, 1, 512]
  assert 'Logits' not in end_points
  assert variables['InceptionV1/Mixed_5c/Branch_0/Conv2d_0a_1x1/weights'] == [1, 1, 1, 416, 192]
  assert variables['InceptionV1/Mixed_5c/Branch_0/Conv2d_0a_1x1/self_gating/transformer_W/'
                   'weights'] == [1, 1, 1, 192, 192]
  assert added == 0


def test_s3dg_eval_forward_pass():
  """A real run of a small clip with batch norm in eval mode: softmax rows sum to 1."""
  with tf.Graph().as_default():
    clip = tf.placeholder(tf.float32, [1, 4, 64, 64, 3])
    with slim.arg_scope(s3dg.s3dg_arg_scope()):
      _, end_points = s3dg.s3dg(clip, num_classes=5, is_training=False)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      feed = np.random.RandomState(0).uniform(-1, 1, size=(1, 4, 64, 64, 3))
      mixed, probs = sess.run([end_points['Mixed_5c'], end_points['Predictions']], {clip: feed})
  assert mixed.shape == (1, 1, 2, 2, 1024)
  assert probs.shape == (1, 5)
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_factory_entries():
  for name in ('i3d', 's3dg'):
    spec = nets_factory.network_spec(name)
    assert spec.preprocessing is None and spec.checkpoint_classes is None
    assert nets_factory.get_network_fn(name, 10).default_image_size == 224
