"""Inception V1, V2, V3, V4 and Inception-ResNet-V2: end points, shapes, heads, names, parameters.

Graphs are only built (static shapes) except for one small forward pass, and each graph is built
once and shared by the tests that inspect it. Per network, one reference graph is what the factory
builds for training with 1001 classes (the published checkpoints): its variables are compared with
the checked-in manifest and its end points with the original tests' shape tables. Batch norm layers
are most of the cost of building a graph and do not change shapes, so the other variants use the
arg scope without batch norm.
"""
import numpy as np
import pytest

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import inception
from nets import nets_factory
from tests import zoo_helpers

B = 5  # batch size of the original tests


class Built(object):
  """A graph built once: its output, end points and variables.

  With check_reuse=True the network is built a second time with reuse=True in the same graph and
  `new_variables_on_reuse` records how many variables that added (0 when sharing works).
  """

  def __init__(self, fn, shape, batch_norm=False, arg_scope_kwargs=None, check_reuse=False,
               **kwargs):
    self.graph = tf.Graph()
    with self.graph.as_default():
      self.inputs = tf.placeholder(tf.float32, shape)
      scope_kwargs = dict(arg_scope_kwargs or {}, use_batch_norm=batch_norm)
      with slim.arg_scope(inception.inception_arg_scope(**scope_kwargs)):
        self.net, self.end_points = fn(self.inputs, **kwargs)
        self.variables = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
        if check_reuse:
          fn(self.inputs, reuse=True, **kwargs)
          self.new_variables_on_reuse = len(tf.global_variables()) - len(self.variables)

  def shapes(self):
    return {k: v.shape.as_list() for k, v in self.end_points.items()}

  def op_names(self):
    return {op.name for op in self.graph.get_operations()}


class Reference(object):
  """The factory's training graph of `model_name` with 1001 classes, at its default size, batch B.

  Built like zoo_helpers.build_for_manifest (whose manifest it is checked against), keeping the
  end points so the same graph also serves the shape tests.
  """

  def __init__(self, model_name):
    fn = nets_factory.get_network_fn(model_name, num_classes=1001, is_training=True)
    size = fn.default_image_size
    self.graph = tf.Graph()
    with self.graph.as_default():
      self.net, self.end_points = fn(tf.placeholder(tf.float32, [B, size, size, 3]))
      self.variables = {v.op.name: v.shape.as_list() for v in tf.global_variables()}

  def shapes(self):
    return {k: v.shape.as_list() for k, v in self.end_points.items()}

  def op_names(self):
    return {op.name for op in self.graph.get_operations()}


def _shape_table(spatial_channels, batch=B):
  return {name: [batch, s, s, c] for name, (s, c) in spatial_channels.items()}


def _params_outside(variables, head_scopes):
  """Parameter count of a manifest without the variables under the given (head) scopes."""
  return zoo_helpers.parameter_count(
      {n: s for n, s in variables.items() if not n.startswith(tuple(head_scopes))})


def _irregular(manifest_vars, names):
  missing = [n for n in names if n not in manifest_vars]
  assert not missing, 'checkpoint names of the published model are missing: %s' % missing


# ----------------------------------------------------------------------------- Inception V1

V1_BASE_SHAPES = _shape_table({
    'Conv2d_1a_7x7': (112, 64), 'MaxPool_2a_3x3': (56, 64), 'Conv2d_2b_1x1': (56, 64),
    'Conv2d_2c_3x3': (56, 192), 'MaxPool_3a_3x3': (28, 192), 'Mixed_3b': (28, 256),
    'Mixed_3c': (28, 480), 'MaxPool_4a_3x3': (14, 480), 'Mixed_4b': (14, 512),
    'Mixed_4c': (14, 512), 'Mixed_4d': (14, 512), 'Mixed_4e': (14, 528), 'Mixed_4f': (14, 832),
    'MaxPool_5a_2x2': (7, 832), 'Mixed_5b': (7, 832), 'Mixed_5c': (7, 1024)})


@pytest.fixture(scope='module')
def v1():
  return Reference('inception_v1')


def test_v1_heads_and_end_points(v1):
  assert v1.net.op.name == 'InceptionV1/Logits/SpatialSqueeze'
  assert v1.end_points['Predictions'].op.name == 'InceptionV1/Logits/Predictions/Reshape_1'
  expected = dict(V1_BASE_SHAPES, AvgPool_0a_7x7=[B, 1, 1, 1024], Logits=[B, 1001],
                  Predictions=[B, 1001])
  assert v1.shapes() == expected


def test_v1_checkpoint_manifest_and_parameters(v1):
  zoo_helpers.check_manifest('inception_v1', v1.variables)
  _irregular(v1.variables, ['InceptionV1/Mixed_5b/Branch_2/Conv2d_0a_3x3/weights',
                            'InceptionV1/Conv2d_1a_7x7/BatchNorm/moving_variance',
                            'InceptionV1/Logits/Conv2d_0c_1x1/biases'])
  assert 'InceptionV1/Mixed_5b/Branch_2/Conv2d_0b_3x3/weights' not in v1.variables
  assert v1.variables['InceptionV1/Logits/Conv2d_0c_1x1/weights'] == [1, 1, 1024, 1001]
  assert not any(name.endswith('gamma') for name in v1.variables)
  assert _params_outside(v1.variables, ['InceptionV1/Logits/']) == 5607184


def test_v1_final_endpoint_and_errors():
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [B, 224, 224, 3])
    net, end_points = inception.inception_v1_base(images, final_endpoint='Mixed_3c')
    assert list(end_points) == list(V1_BASE_SHAPES)[:7]
    assert net.shape.as_list() == [B, 28, 28, 480]
    with pytest.raises(ValueError, match='Unknown final endpoint'):
      inception.inception_v1_base(images, final_endpoint='Mixed_9z')
    with pytest.raises(ValueError):
      inception.inception_v1_base(images, final_endpoint='Mixed_9z')


def test_v1_without_root_block_starts_at_mixed_3b():
  base = Built(inception.inception_v1_base, [B, 28, 28, 192], include_root_block=False)
  assert base.shapes() == {k: v for k, v in V1_BASE_SHAPES.items() if k in list(V1_BASE_SHAPES)[5:]}
  assert not any('Conv2d_1a_7x7' in name for name in base.variables)


def test_v1_without_classes_returns_pooled_features_and_reuses():
  built = Built(inception.inception_v1, [B, 224, 224, 3], num_classes=None, check_reuse=True)
  assert built.new_variables_on_reuse == 0
  assert built.net.op.name.startswith('InceptionV1/Logits/AvgPool')
  assert built.net.shape.as_list() == [B, 1, 1, 1024]
  assert 'Logits' not in built.end_points and 'Predictions' not in built.end_points
  assert not any('Conv2d_0c_1x1' in name for name in built.variables)


def test_v1_global_pool_at_another_size_unsqueezed():
  built = Built(inception.inception_v1, [2, 300, 400, 3], num_classes=25, global_pool=True,
                spatial_squeeze=False)
  assert built.end_points['Mixed_5c'].shape.as_list() == [2, 10, 13, 1024]
  assert built.end_points['global_pool'].shape.as_list() == [2, 1, 1, 1024]
  assert 'AvgPool_0a_7x7' not in built.end_points
  assert built.net.shape.as_list() == [2, 1, 1, 25]


def test_v1_eval_forward_pass_with_unknown_size():
  """A real run with batch norm in eval mode, unknown batch and image size: softmax rows sum to 1."""
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [None, None, None, 3])
    with slim.arg_scope(inception.inception_arg_scope()):
      _, end_points = inception.inception_v1(images, num_classes=7, is_training=False)
    assert end_points['Mixed_5c'].shape.as_list() == [None, None, None, 1024]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      feed = np.random.RandomState(0).uniform(size=(2, 224, 224, 3))
      mixed, probs = sess.run([end_points['Mixed_5c'], end_points['Predictions']], {images: feed})
  assert mixed.shape == (2, 7, 7, 1024)
  assert probs.shape == (2, 7)
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------- Inception V2

V2_BASE_SHAPES = _shape_table({
    'Conv2d_1a_7x7': (112, 64), 'MaxPool_2a_3x3': (56, 64), 'Conv2d_2b_1x1': (56, 64),
    'Conv2d_2c_3x3': (56, 192), 'MaxPool_3a_3x3': (28, 192), 'Mixed_3b': (28, 256),
    'Mixed_3c': (28, 320), 'Mixed_4a': (14, 576), 'Mixed_4b': (14, 576), 'Mixed_4c': (14, 576),
    'Mixed_4d': (14, 576), 'Mixed_4e': (14, 576), 'Mixed_5a': (7, 1024), 'Mixed_5b': (7, 1024),
    'Mixed_5c': (7, 1024)})


@pytest.fixture(scope='module')
def v2():
  return Reference('inception_v2')


def test_v2_heads_and_end_points(v2):
  assert v2.net.op.name == 'InceptionV2/Logits/SpatialSqueeze'
  expected = dict(V2_BASE_SHAPES, AvgPool_1a=[B, 1, 1, 1024], PreLogits=[B, 1, 1, 1024],
                  Logits=[B, 1001], Predictions=[B, 1001])
  assert v2.shapes() == expected
  assert v2.end_points['Predictions'].op.name == 'InceptionV2/Predictions/Reshape_1'


def test_v2_checkpoint_manifest_and_parameters(v2):
  variables = v2.variables
  zoo_helpers.check_manifest('inception_v2', variables)
  _irregular(variables, ['InceptionV2/Mixed_5c/Branch_3/Conv2d_0b_1x1/weights',
                         'InceptionV2/Mixed_4a/Branch_0/Conv2d_1a_3x3/weights',
                         'InceptionV2/Logits/Conv2d_1c_1x1/biases'])
  # The first layer is a depthwise-separable 7x7 conv with channel multiplier 8.
  assert variables['InceptionV2/Conv2d_1a_7x7/depthwise_weights'] == [7, 7, 3, 8]
  assert variables['InceptionV2/Conv2d_1a_7x7/pointwise_weights'] == [1, 1, 24, 64]
  assert variables['InceptionV2/Logits/Conv2d_1c_1x1/weights'] == [1, 1, 1024, 1001]
  assert _params_outside(variables, ['InceptionV2/Logits/']) == 10173112


def test_v2_depth_multiplier_small_input_unsqueezed():
  built = Built(inception.inception_v2, [1, 112, 112, 3], num_classes=10, depth_multiplier=0.5,
                spatial_squeeze=False)
  for name, shape in V2_BASE_SHAPES.items():
    if name.startswith(('Mixed', 'Conv')):
      assert built.shapes()[name][3] == shape[3] // 2, name
  assert built.end_points['Mixed_5c'].shape.as_list() == [1, 4, 4, 512]
  assert built.net.shape.as_list() == [1, 1, 1, 10]
  # The 7x7 average pool shrank to the 4x4 map, and its scope name says so.
  assert 'InceptionV2/Logits/AvgPool_1a_4x4/AvgPool' in built.op_names()


def test_v2_argument_errors():
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [B, 224, 224, 3])
    for multiplier in (0.0, -0.1):
      with pytest.raises(ValueError, match='depth_multiplier'):
        inception.inception_v2(images, num_classes=10, depth_multiplier=multiplier)
    with pytest.raises(ValueError, match='data_format'):
      inception.inception_v2_base(images, data_format='NCWH')
    with pytest.raises(ValueError, match='separable'):
      inception.inception_v2_base(images, data_format='NCHW', use_separable_conv=True)


def test_v2_nchw_without_separable_conv():
  nchw = Built(inception.inception_v2_base, [B, 3, 224, 224], use_separable_conv=False,
               data_format='NCHW')
  assert nchw.shapes() == {name: [b, c, h, w] for name, (b, h, w, c) in V2_BASE_SHAPES.items()}
  assert nchw.variables['InceptionV2/Conv2d_1a_7x7/weights'] == [7, 7, 3, 64]


def test_v2_without_root_block():
  rootless = Built(inception.inception_v2_base, [B, 28, 28, 192], include_root_block=False)
  assert rootless.shapes() == {k: v for k, v in V2_BASE_SHAPES.items() if k.startswith('Mixed')}


def test_v2_global_pool_at_another_size():
  built = Built(inception.inception_v2, [1, 250, 300, 3], num_classes=10, global_pool=True)
  assert built.end_points['Mixed_5c'].shape.as_list() == [1, 8, 10, 1024]
  assert built.end_points['global_pool'].shape.as_list() == [1, 1, 1, 1024]
  assert built.net.shape.as_list() == [1, 10]


def test_v2_without_classes_returns_pooled_features_and_reuses():
  built = Built(inception.inception_v2, [B, 224, 224, 3], num_classes=0, check_reuse=True)
  assert built.new_variables_on_reuse == 0
  assert built.net.op.name.startswith('InceptionV2/Logits/AvgPool')
  assert built.net.shape.as_list() == [B, 1, 1, 1024]
  assert 'PreLogits' not in built.end_points and 'Logits' not in built.end_points


# ----------------------------------------------------------------------------- Inception V3

V3_BASE_SHAPES = _shape_table({
    'Conv2d_1a_3x3': (149, 32), 'Conv2d_2a_3x3': (147, 32), 'Conv2d_2b_3x3': (147, 64),
    'MaxPool_3a_3x3': (73, 64), 'Conv2d_3b_1x1': (73, 80), 'Conv2d_4a_3x3': (71, 192),
    'MaxPool_5a_3x3': (35, 192), 'Mixed_5b': (35, 256), 'Mixed_5c': (35, 288),
    'Mixed_5d': (35, 288), 'Mixed_6a': (17, 768), 'Mixed_6b': (17, 768), 'Mixed_6c': (17, 768),
    'Mixed_6d': (17, 768), 'Mixed_6e': (17, 768), 'Mixed_7a': (8, 1280), 'Mixed_7b': (8, 2048),
    'Mixed_7c': (8, 2048)})


@pytest.fixture(scope='module')
def v3():
  return Reference('inception_v3')


def test_v3_heads_and_end_points(v3):
  assert v3.net.op.name == 'InceptionV3/Logits/SpatialSqueeze'
  assert v3.end_points['AuxLogits'].op.name == 'InceptionV3/AuxLogits/SpatialSqueeze'
  # The output node name the README and export instructions give.
  assert v3.end_points['Predictions'].op.name == 'InceptionV3/Predictions/Reshape_1'
  expected = dict(V3_BASE_SHAPES, AuxLogits=[B, 1001], AvgPool_1a=[B, 1, 1, 2048],
                  PreLogits=[B, 1, 1, 2048], Logits=[B, 1001], Predictions=[B, 1001])
  assert v3.shapes() == expected


def test_v3_checkpoint_manifest_and_parameters(v3):
  variables = v3.variables
  zoo_helpers.check_manifest('inception_v3', variables)
  _irregular(variables, [
      'InceptionV3/Mixed_5c/Branch_1/Conv2d_0b_1x1/weights',
      'InceptionV3/Mixed_5c/Branch_1/Conv_1_0c_5x5/weights',
      'InceptionV3/Mixed_6a/Branch_0/Conv2d_1a_1x1/weights',
      'InceptionV3/Mixed_6a/Branch_1/Conv2d_1a_1x1/weights',
      'InceptionV3/Mixed_7b/Branch_1/Conv2d_0b_3x1/weights',
      'InceptionV3/Mixed_7c/Branch_1/Conv2d_0c_3x1/weights',
      'InceptionV3/AuxLogits/Conv2d_2a_5x5/weights',
      'InceptionV3/AuxLogits/Conv2d_2b_1x1/biases',
  ])
  assert variables['InceptionV3/Mixed_6a/Branch_0/Conv2d_1a_1x1/weights'] == [3, 3, 288, 384]
  assert variables['InceptionV3/Logits/Conv2d_1c_1x1/weights'] == [1, 1, 2048, 1001]
  assert variables['InceptionV3/AuxLogits/Conv2d_2b_1x1/weights'] == [1, 1, 768, 1001]
  assert not any(name.endswith('/gamma') for name in variables)
  assert _params_outside(variables, ['InceptionV3/Logits/', 'InceptionV3/AuxLogits/']) == 21802784


def test_v3_final_endpoint():
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [B, 299, 299, 3])
    _, end_points = inception.inception_v3_base(images, final_endpoint='MaxPool_5a_3x3')
    assert list(end_points) == list(V3_BASE_SHAPES)[:7]
    with pytest.raises(ValueError, match='Unknown final endpoint'):
      inception.inception_v3_base(images, final_endpoint='Mixed_8a')


def test_v3_global_pool_at_another_size_unsqueezed_without_aux():
  built = Built(inception.inception_v3, [1, 330, 400, 3], num_classes=10, global_pool=True,
                spatial_squeeze=False, create_aux_logits=False)
  assert built.end_points['Mixed_7c'].shape.as_list() == [1, 8, 11, 2048]
  assert built.end_points['global_pool'].shape.as_list() == [1, 1, 1, 2048]
  assert built.net.shape.as_list() == [1, 1, 1, 10]
  assert 'AuxLogits' not in built.end_points
  assert not any('AuxLogits' in name for name in built.variables)


def test_v3_without_classes_returns_pooled_features_and_reuses():
  built = Built(inception.inception_v3, [B, 299, 299, 3], num_classes=None, check_reuse=True)
  assert built.new_variables_on_reuse == 0
  assert built.net.op.name.startswith('InceptionV3/Logits/AvgPool')
  assert built.net.shape.as_list() == [B, 1, 1, 2048]
  assert not set(built.end_points) & {'AuxLogits', 'PreLogits', 'Logits', 'Predictions'}
  assert not any('AuxLogits' in name for name in built.variables)


def test_v3_small_input_and_depth_multiplier():
  """At 150 x 150 the aux head's 5x5 conv shrinks to 1x1, and its scope name says so."""
  built = Built(inception.inception_v3, [1, 150, 150, 3], num_classes=10, depth_multiplier=0.5)
  for name, shape in V3_BASE_SHAPES.items():
    if name.startswith(('Mixed', 'Conv')):
      assert built.shapes()[name][3] == shape[3] // 2, name
  assert built.end_points['Mixed_7c'].shape.as_list() == [1, 3, 3, 1024]
  assert built.variables['InceptionV3/AuxLogits/Conv2d_2a_1x1/weights'] == [1, 1, 64, 384]
  assert built.net.shape.as_list() == [1, 10]
  assert built.end_points['AuxLogits'].shape.as_list() == [1, 10]
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, 299, 299, 3])
    with pytest.raises(ValueError, match='depth_multiplier'):
      inception.inception_v3(images, num_classes=10, depth_multiplier=0)


def test_batch_norm_scale_adds_gamma_to_every_batch_norm():
  built = Built(inception.inception_v3_base, [1, 299, 299, 3], batch_norm=True,
                final_endpoint='Mixed_5b', arg_scope_kwargs={'batch_norm_scale': True})
  betas = {n[:-len('beta')] for n in built.variables if n.endswith('BatchNorm/beta')}
  gammas = {n[:-len('gamma')] for n in built.variables if n.endswith('BatchNorm/gamma')}
  assert len(betas) == 12 and betas == gammas  # 5 stem convs + 7 in Mixed_5b


# ----------------------------------------------------------------------------- Inception V4

V4_BASE_SHAPES = _shape_table(dict(
    [('Conv2d_1a_3x3', (149, 32)), ('Conv2d_2a_3x3', (147, 32)), ('Conv2d_2b_3x3', (147, 64)),
     ('Mixed_3a', (73, 160)), ('Mixed_4a', (71, 192))] +
    [('Mixed_5' + c, (35, 384)) for c in 'abcde'] +
    [('Mixed_6' + c, (17, 1024)) for c in 'abcdefgh'] +
    [('Mixed_7' + c, (8, 1536)) for c in 'abcd']))


@pytest.fixture(scope='module')
def v4():
  return Reference('inception_v4')


def test_v4_heads_and_end_points(v4):
  assert v4.net.op.name.startswith('InceptionV4/Logits')
  assert v4.end_points['AuxLogits'].op.name.startswith('InceptionV4/AuxLogits')
  # The softmax is a plain op inside `Logits`: the output node of an exported graph.
  assert v4.end_points['Predictions'].op.name == 'InceptionV4/Logits/Predictions'
  expected = dict(V4_BASE_SHAPES, AuxLogits=[B, 1001], global_pool=[B, 1, 1, 1536],
                  PreLogitsFlatten=[B, 1536], Logits=[B, 1001], Predictions=[B, 1001])
  assert v4.shapes() == expected
  assert v4.end_points['global_pool'].op.name == 'InceptionV4/Logits/AvgPool_1a/AvgPool'
  assert list(v4.end_points)[:len(V4_BASE_SHAPES)] == list(V4_BASE_SHAPES)


def test_v4_checkpoint_manifest(v4):
  zoo_helpers.check_manifest('inception_v4', v4.variables)
  _irregular(v4.variables, ['InceptionV4/AuxLogits/Aux_logits/weights',
                            'InceptionV4/AuxLogits/Aux_logits/biases',
                            'InceptionV4/AuxLogits/Conv2d_2a/weights',
                            'InceptionV4/Logits/Logits/weights',
                            'InceptionV4/Mixed_3a/Branch_1/Conv2d_0a_3x3/weights',
                            'InceptionV4/Mixed_7d/Branch_2/Conv2d_0e_3x1/weights'])
  assert v4.variables['InceptionV4/AuxLogits/Aux_logits/weights'] == [768, 1001]
  assert v4.variables['InceptionV4/AuxLogits/Conv2d_2a/weights'] == [5, 5, 128, 768]
  assert v4.variables['InceptionV4/Logits/Logits/weights'] == [1536, 1001]
  assert not any(name.endswith('/gamma') for name in v4.variables)


def test_v4_final_endpoint_and_errors():
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [B, 299, 299, 3])
    net, end_points = inception.inception_v4_base(images, final_endpoint='Mixed_4a')
    assert list(end_points) == list(V4_BASE_SHAPES)[:5]
    assert net.shape.as_list() == [B, 71, 71, 192]
    with pytest.raises(ValueError, match='Unknown final endpoint'):
      inception.inception_v4_base(images, final_endpoint='Mixed_8a')


def test_v4_without_classes_at_unknown_size_pools_globally_and_reuses():
  """The default-size graph pools with AvgPool_1a (see the reference); an unknown size means mean."""
  built = Built(inception.inception_v4, [1, None, None, 3], num_classes=None, check_reuse=True)
  assert built.net.op.name == 'InceptionV4/Logits/global_pool'
  assert built.net.shape.as_list() == [1, 1, 1, 1536]
  assert built.end_points['global_pool'] is built.net
  assert not set(built.end_points) & {'AuxLogits', 'PreLogitsFlatten', 'Logits', 'Predictions'}
  assert not any('AuxLogits' in name for name in built.variables)
  assert built.new_variables_on_reuse == 0


# ----------------------------------------------------------------------------- Inception-ResNet-V2

IRV2_SHAPES = {  # up to PreAuxLogits at 299: default, align_feature_maps=True, output_stride=8
    'Conv2d_1a_3x3': ((149, 32), (150, 32), (149, 32)),
    'Conv2d_2a_3x3': ((147, 32), (150, 32), (147, 32)),
    'Conv2d_2b_3x3': ((147, 64), (150, 64), (147, 64)),
    'MaxPool_3a_3x3': ((73, 64), (75, 64), (73, 64)),
    'Conv2d_3b_1x1': ((73, 80), (75, 80), (73, 80)),
    'Conv2d_4a_3x3': ((71, 192), (75, 192), (71, 192)),
    'MaxPool_5a_3x3': ((35, 192), (38, 192), (35, 192)),
    'Mixed_5b': ((35, 320), (38, 320), (35, 320)),
    'Mixed_6a': ((17, 1088), (19, 1088), (33, 1088)),
    'PreAuxLogits': ((17, 1088), (19, 1088), (33, 1088)),
}


def _irv2_table(column):
  return _shape_table({name: sizes[column] for name, sizes in IRV2_SHAPES.items()})


@pytest.fixture(scope='module')
def irv2():
  return Reference('inception_resnet_v2')


def test_irv2_heads_and_end_points(irv2):
  assert irv2.net.op.name.startswith('InceptionResnetV2/Logits')
  assert irv2.end_points['AuxLogits'].op.name.startswith('InceptionResnetV2/AuxLogits')
  assert irv2.end_points['Predictions'].op.name == 'InceptionResnetV2/Logits/Predictions'
  expected = dict(_irv2_table(0), Mixed_7a=[B, 8, 8, 2080], Conv2d_7b_1x1=[B, 8, 8, 1536],
                  AuxLogits=[B, 1001], global_pool=[B, 1, 1, 1536], PreLogitsFlatten=[B, 1536],
                  Logits=[B, 1001], Predictions=[B, 1001])
  assert irv2.shapes() == expected
  # The aux head's first layer is an average pool, although its name says conv.
  assert 'InceptionResnetV2/AuxLogits/Conv2d_1a_3x3/AvgPool' in irv2.op_names()
  # Output stride 16: no dilated convolutions.
  assert not any(op.type == 'SpaceToBatchND' for op in irv2.graph.get_operations())


def test_irv2_checkpoint_manifest(irv2):
  variables = irv2.variables
  zoo_helpers.check_manifest('inception_resnet_v2', variables)
  _irregular(variables, [
      'InceptionResnetV2/Repeat/block35_1/Branch_2/Conv2d_0c_3x3/weights',
      'InceptionResnetV2/Repeat/block35_10/Conv2d_1x1/biases',
      'InceptionResnetV2/Repeat_1/block17_20/Branch_1/Conv2d_0c_7x1/weights',
      'InceptionResnetV2/Repeat_2/block8_9/Conv2d_1x1/weights',
      'InceptionResnetV2/Block8/Conv2d_1x1/biases',
      'InceptionResnetV2/Mixed_5b/Branch_0/Conv2d_1x1/weights',
      'InceptionResnetV2/AuxLogits/Conv2d_2a_5x5/weights',
      'InceptionResnetV2/AuxLogits/Logits/weights',
      'InceptionResnetV2/Logits/Logits/biases',
  ])
  assert not any(name.startswith('InceptionResnetV2/AuxLogits/Conv2d_1a_3x3')
                 for name in variables)
  assert variables['InceptionResnetV2/Repeat/block35_1/Conv2d_1x1/weights'] == [1, 1, 128, 320]
  assert variables['InceptionResnetV2/Block8/Conv2d_1x1/weights'] == [1, 1, 448, 2080]
  assert variables['InceptionResnetV2/AuxLogits/Conv2d_2a_5x5/weights'] == [5, 5, 128, 768]
  assert variables['InceptionResnetV2/AuxLogits/Logits/weights'] == [768, 1001]
  assert variables['InceptionResnetV2/Logits/Logits/weights'] == [1536, 1001]
  assert not any(name.endswith('/gamma') for name in variables)
  assert 'InceptionResnetV2/Repeat/block35_11/Conv2d_1x1/weights' not in variables
  assert 'InceptionResnetV2/Repeat_2/block8_10/Conv2d_1x1/weights' not in variables


def test_irv2_arg_scope_regularises_biases_too():
  scope = inception.inception_resnet_v2_arg_scope(weight_decay=0.5)
  for layer in (slim.conv2d, slim.fully_connected):
    defaults = scope[slim.arg_scope_func_key(layer)]
    assert defaults['biases_regularizer'] is not None
    assert defaults['weights_regularizer'] is not None
  plain = inception.inception_v3_arg_scope(weight_decay=0.5)
  assert 'biases_regularizer' not in plain[slim.arg_scope_func_key(slim.conv2d)]
  assert scope[slim.arg_scope_func_key(slim.conv2d)]['normalizer_params']['scale'] is False


def test_irv2_aligned_feature_maps():
  # Alignment only changes the paddings before Mixed_6a (the residual blocks are all SAME).
  built = Built(inception.inception_resnet_v2_base, [B, 299, 299, 3], final_endpoint='Mixed_6a',
                align_feature_maps=True)
  expected = _irv2_table(1)
  del expected['PreAuxLogits']
  assert built.shapes() == expected


def test_irv2_output_stride_8():
  built = Built(inception.inception_resnet_v2_base, [B, 299, 299, 3],
                final_endpoint='PreAuxLogits', output_stride=8)
  assert built.shapes() == _irv2_table(2)
  # The 17x17 blocks keep their receptive field with dilated (space-to-batch) convolutions.
  dilated = {op.name.split('Repeat_1/')[-1].split('/')[0] for op in built.graph.get_operations()
             if op.type == 'SpaceToBatchND' and '/Repeat_1/' in op.name}
  assert dilated == {'block17_%d' % i for i in range(1, 21)}


def test_irv2_argument_errors():
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [B, 299, 299, 3])
    with pytest.raises(ValueError, match='output_stride must be 8 or 16'):
      inception.inception_resnet_v2_base(images, output_stride=4)
    with pytest.raises(ValueError, match='Unknown final endpoint'):
      inception.inception_resnet_v2_base(images, final_endpoint='Mixed_8a')
    _, end_points = inception.inception_resnet_v2_base(images, final_endpoint='MaxPool_5a_3x3')
    assert list(end_points) == list(IRV2_SHAPES)[:7]


def test_irv2_without_classes_at_another_size():
  # (Reuse is checked on the other nets, which share its scope handling: it is the costliest
  # graph to build twice.)
  built = Built(inception.inception_resnet_v2, [1, 330, 400, 3], num_classes=None)
  assert built.end_points['Conv2d_7b_1x1'].shape.as_list() == [1, 8, 11, 1536]
  assert built.net.op.name.startswith('InceptionResnetV2/Logits/AvgPool')
  assert built.net.shape.as_list() == [1, 1, 1, 1536]
  assert not set(built.end_points) & {'AuxLogits', 'PreLogitsFlatten', 'Logits', 'Predictions'}


def test_irv2_relu6_blocks_clip_the_residual():
  with tf.Graph().as_default() as graph:
    net = tf.placeholder(tf.float32, [1, 8, 8, 2080])
    with slim.arg_scope(inception.inception_resnet_v2_arg_scope(activation_fn=tf.nn.relu6)):
      from nets import inception_resnet_v2
      out = inception_resnet_v2.block8(net, activation_fn=tf.nn.relu6, scale=0.2)
    ops = {op.type for op in graph.get_operations()}
  assert out.shape.as_list() == [1, 8, 8, 2080]
  assert 'Relu6' in ops and ('ClipByValue' in ops or 'Minimum' in ops)


def test_factory_entries_of_the_family():
  for name, size in (('inception_v1', 224), ('inception_v2', 224), ('inception_v3', 299),
                     ('inception_v4', 299), ('inception_resnet_v2', 299)):
    spec = nets_factory.network_spec(name)
    assert spec.checkpoint_classes == 1001 and spec.preprocessing == 'inception'
    assert nets_factory.get_network_fn(name, 10).default_image_size == size
