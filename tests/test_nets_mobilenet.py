"""MobileNet V1 / V2 / V3 / EdgeTPU: end points, shapes, heads, multipliers, strides, checkpoints.

Expected values are those of the original slim tests (shape tables of the spec, section 9). Graphs
are only built (static shapes) except where a value has to be computed.
"""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from slimlib import compat  # noqa: F401  (before tf_slim)
import tf_slim as slim  # noqa: E402

from nets import mobilenet_v1  # noqa: E402
from nets import nets_factory  # noqa: E402
from tests import zoo_helpers  # noqa: E402


def _shape(tensor):
  return tensor.get_shape().as_list()


# ---------------------------------------------------------------------------------------------
# MobileNet V1
# ---------------------------------------------------------------------------------------------

V1_ENDPOINTS = ['Conv2d_0'] + ['Conv2d_%d_%s' % (i, kind)
                               for i in range(1, 14) for kind in ('depthwise', 'pointwise')]

# Base at 224 without output_stride (spec 9.1): end point -> [H, W, C] (batch left out).
V1_SHAPES_224 = {
    'Conv2d_0': [112, 112, 32],
    'Conv2d_1_depthwise': [112, 112, 32], 'Conv2d_1_pointwise': [112, 112, 64],
    'Conv2d_2_depthwise': [56, 56, 64], 'Conv2d_2_pointwise': [56, 56, 128],
    'Conv2d_3_depthwise': [56, 56, 128], 'Conv2d_3_pointwise': [56, 56, 128],
    'Conv2d_4_depthwise': [28, 28, 128], 'Conv2d_4_pointwise': [28, 28, 256],
    'Conv2d_5_depthwise': [28, 28, 256], 'Conv2d_5_pointwise': [28, 28, 256],
    'Conv2d_6_depthwise': [14, 14, 256], 'Conv2d_6_pointwise': [14, 14, 512],
    'Conv2d_7_depthwise': [14, 14, 512], 'Conv2d_7_pointwise': [14, 14, 512],
    'Conv2d_8_depthwise': [14, 14, 512], 'Conv2d_8_pointwise': [14, 14, 512],
    'Conv2d_9_depthwise': [14, 14, 512], 'Conv2d_9_pointwise': [14, 14, 512],
    'Conv2d_10_depthwise': [14, 14, 512], 'Conv2d_10_pointwise': [14, 14, 512],
    'Conv2d_11_depthwise': [14, 14, 512], 'Conv2d_11_pointwise': [14, 14, 512],
    'Conv2d_12_depthwise': [7, 7, 512], 'Conv2d_12_pointwise': [7, 7, 1024],
    'Conv2d_13_depthwise': [7, 7, 1024], 'Conv2d_13_pointwise': [7, 7, 1024],
}


def _v1_shapes(output_stride, batch=5):
  """Expected shapes with atrous convolution once the stride reaches `output_stride`."""
  smallest = 224 // output_stride if output_stride else 1
  return {name: [batch, max(h, smallest), max(w, smallest), c]
          for name, (h, w, c) in V1_SHAPES_224.items()}


@pytest.fixture(scope='module')
def v1_net():
  """One MobileNet V1 graph in training mode under its arg scope, plus an eval copy that reuses it."""
  g = tf.Graph()
  with g.as_default():
    with slim.arg_scope(mobilenet_v1.mobilenet_v1_arg_scope()):
      logits, end_points = mobilenet_v1.mobilenet_v1(tf.random_uniform((5, 224, 224, 3)), 1000)
      train_variables = list(tf.global_variables())
      train_updates = list(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
      eval_inputs = tf.placeholder(tf.float32, (None, None, None, 3))
      eval_logits, eval_end_points = mobilenet_v1.mobilenet_v1(
          eval_inputs, 1000, is_training=False, reuse=True, global_pool=True)
  return dict(graph=g, logits=logits, end_points=end_points, variables=train_variables,
              updates=train_updates, eval_inputs=eval_inputs, eval_logits=eval_logits,
              eval_end_points=eval_end_points)


def test_v1_classification_head_names_and_shapes(v1_net):
  logits, end_points = v1_net['logits'], v1_net['end_points']
  assert logits.op.name.startswith('MobilenetV1/Logits/SpatialSqueeze')
  assert _shape(logits) == [5, 1000]
  assert _shape(end_points['Predictions']) == [5, 1000]
  assert end_points['Predictions'].op.name == 'MobilenetV1/Predictions/Reshape_1'
  assert _shape(end_points['AvgPool_1a']) == [5, 1, 1, 1024]
  assert set(end_points) == set(V1_ENDPOINTS) | {'AvgPool_1a', 'Logits', 'Predictions'}
  assert {name: _shape(end_points[name]) for name in V1_ENDPOINTS} == _v1_shapes(None)


def test_v1_variables_under_arg_scope(v1_net):
  names = {v.op.name for v in v1_net['variables']}
  assert 'MobilenetV1/Logits/Conv2d_1c_1x1/biases' in names
  assert 'MobilenetV1/Conv2d_13_depthwise/depthwise_weights' in names
  assert 'MobilenetV1/Conv2d_13_depthwise/BatchNorm/gamma' in names
  assert not any(name.endswith('biases') for name in names
                 if not name.startswith('MobilenetV1/Logits/'))
  # conv weights + 4 batch-norm vectors per layer + logits
  trunk = {v.op.name: v.shape.as_list() for v in v1_net['variables']
           if not v.op.name.startswith('MobilenetV1/Logits/')}
  weights = sum(int(np.prod(s)) for n, s in trunk.items() if 'weights' in n)
  assert weights == 3185088
  assert len(names) == 27 * 5 + 2


def test_v1_arg_scope_regularizes_conv_weights_only_by_default(v1_net):
  with v1_net['graph'].as_default():
    losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
  # Conv2d_0, 13 pointwise convs and the logits conv; no depthwise weights.
  assert len(losses) == 15
  assert not any('depthwise' in loss.op.name for loss in losses)


def test_v1_reuse_in_eval_mode_with_global_pool_and_unknown_sizes(v1_net):
  with v1_net['graph'].as_default():
    assert len(tf.global_variables()) == len(v1_net['variables'])
    # The eval copy adds no moving-average updates.
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == len(v1_net['updates'])
  assert _shape(v1_net['eval_logits']) == [None, 1000]
  assert 'global_pool' in v1_net['eval_end_points']
  assert 'AvgPool_1a' not in v1_net['eval_end_points']


def test_v1_runs_and_updates_batch_norm_statistics(v1_net):
  # Exercises slim.batch_norm's UPDATE_OPS path on TF 2.21 (see slimlib/compat.py).
  assert len(v1_net['updates']) == 2 * 27
  with v1_net['graph'].as_default():
    moving_mean = [v for v in v1_net['variables']
                   if v.op.name == 'MobilenetV1/Conv2d_0/BatchNorm/moving_mean'][0]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(v1_net['updates'])
      assert np.abs(sess.run(moving_mean)).sum() > 0
      out, features = sess.run(
          [v1_net['eval_logits'], v1_net['eval_end_points']['Conv2d_13_pointwise']],
          {v1_net['eval_inputs']: np.random.uniform(-1, 1, size=(2, 96, 64, 3))})
  assert out.shape == (2, 1000) and features.shape == (2, 3, 2, 1024)
  assert np.isfinite(out).all()


@pytest.mark.parametrize('num_classes', [0, None])
def test_v1_without_classes_returns_pooled_features(graph, num_classes):
  net, end_points = mobilenet_v1.mobilenet_v1(tf.random_uniform((5, 224, 224, 3)), num_classes)
  assert net.op.name.startswith('MobilenetV1/Logits/AvgPool')
  assert _shape(net) == [5, 1, 1, 1024]
  assert 'Logits' not in end_points and 'Predictions' not in end_points
  assert not any('Conv2d_1c_1x1' in v.op.name for v in tf.global_variables())


@pytest.mark.parametrize('output_stride', [None, 16, 8])
@pytest.mark.parametrize('use_explicit_padding', [False, True])
def test_v1_base_shapes(graph, output_stride, use_explicit_padding):
  inputs = tf.random_uniform((5, 224, 224, 3))
  net, end_points = mobilenet_v1.mobilenet_v1_base(
      inputs, output_stride=output_stride, use_explicit_padding=use_explicit_padding)
  assert {name: _shape(t) for name, t in end_points.items()} == _v1_shapes(output_stride)
  assert net is end_points['Conv2d_13_pointwise']
  assert net.op.name.startswith('MobilenetV1/Conv2d_13')


def test_v1_base_parameter_count(graph):
  # As the original test: batch norm with slim's defaults (no gamma) after every convolution.
  with slim.arg_scope([slim.conv2d, slim.separable_conv2d], normalizer_fn=slim.batch_norm):
    mobilenet_v1.mobilenet_v1_base(tf.random_uniform((5, 224, 224, 3)))
  total, _ = slim.model_analyzer.analyze_vars(slim.get_model_variables())
  assert total == 3217920


@pytest.mark.parametrize('end_point', ['Conv2d_0', 'Conv2d_1_depthwise', 'Conv2d_6_pointwise',
                                       'Conv2d_13_depthwise'])
def test_v1_base_stops_at_final_endpoint(graph, end_point):
  inputs = tf.placeholder(tf.float32, (5, 224, 224, 3))
  out, end_points = mobilenet_v1.mobilenet_v1_base(inputs, final_endpoint=end_point)
  assert out.op.name.startswith('MobilenetV1/' + end_point)
  assert sorted(end_points) == sorted(V1_ENDPOINTS[:V1_ENDPOINTS.index(end_point) + 1])


def test_v1_base_bad_arguments(graph):
  inputs = tf.placeholder(tf.float32, (2, 224, 224, 3))
  with pytest.raises(ValueError):
    mobilenet_v1.mobilenet_v1_base(inputs, final_endpoint='Conv2d_14_pointwise')
  with pytest.raises(ValueError):
    mobilenet_v1.mobilenet_v1_base(inputs, depth_multiplier=0.0)
  with pytest.raises(ValueError):
    mobilenet_v1.mobilenet_v1_base(inputs, output_stride=4)
  with pytest.raises(ValueError):
    mobilenet_v1.mobilenet_v1(tf.placeholder(tf.float32, (224, 224, 3)))


def test_v1_128_input_with_multiplier_075(graph):
  _, end_points = mobilenet_v1.mobilenet_v1_base(tf.random_uniform((5, 128, 128, 3)),
                                                 depth_multiplier=0.75)
  expected = {name: [5, h * 128 // 224, w * 128 // 224, int(c * 0.75)]
              for name, (h, w, c) in V1_SHAPES_224.items()}
  assert {name: _shape(t) for name, t in end_points.items()} == expected
  assert _shape(end_points['Conv2d_13_pointwise']) == [5, 4, 4, 768]


@pytest.mark.parametrize('multiplier', [0.5, 2.0])
def test_v1_depth_multiplier_scales_every_layer(graph, multiplier):
  _, end_points = mobilenet_v1.mobilenet_v1_base(tf.random_uniform((2, 224, 224, 3)),
                                                 depth_multiplier=multiplier)
  assert ({name: _shape(t)[-1] for name, t in end_points.items()}
          == {name: int(c * multiplier) for name, (_, _, c) in V1_SHAPES_224.items()})


def test_v1_min_depth_floors_channels(graph):
  _, end_points = mobilenet_v1.mobilenet_v1_base(tf.random_uniform((1, 64, 64, 3)),
                                                 depth_multiplier=0.01, min_depth=8)
  assert {_shape(t)[-1] for t in end_points.values()} == {8, 10}


def test_v1_custom_conv_defs(graph):
  conv_defs = [mobilenet_v1.Conv(kernel=[3, 3], stride=2, depth=32),
               mobilenet_v1.DepthSepConv(kernel=[3, 3], stride=1, depth=512)]
  net, end_points = mobilenet_v1.mobilenet_v1_base(
      tf.random_uniform((5, 224, 224, 3)), final_endpoint='Conv2d_1_pointwise',
      conv_defs=conv_defs)
  assert net.op.name.startswith('MobilenetV1/Conv2d_1')
  assert _shape(net) == [5, 112, 112, 512]
  assert sorted(end_points) == ['Conv2d_0', 'Conv2d_1_depthwise', 'Conv2d_1_pointwise']


def test_v1_small_input_reduces_pool_kernel(graph):
  logits, end_points = mobilenet_v1.mobilenet_v1(tf.random_uniform((5, 112, 112, 3)), 1000)
  assert _shape(end_points['Conv2d_13_pointwise']) == [5, 4, 4, 1024]
  assert _shape(end_points['AvgPool_1a']) == [5, 1, 1, 1024]
  assert _shape(logits) == [5, 1000]


def test_v1_global_pool_any_size_not_squeezed(graph):
  logits, end_points = mobilenet_v1.mobilenet_v1(tf.random_uniform((1, 250, 300, 3)), 25,
                                                 global_pool=True, spatial_squeeze=False)
  assert _shape(end_points['Conv2d_13_pointwise']) == [1, 8, 10, 1024]
  assert _shape(end_points['global_pool']) == [1, 1, 1, 1024]
  assert 'AvgPool_1a' not in end_points
  assert _shape(logits) == [1, 1, 1, 25]


def test_v1_arg_scope_batch_norm_is_training_unless_none():
  sc = mobilenet_v1.mobilenet_v1_arg_scope()
  assert sc[slim.arg_scope_func_key(slim.batch_norm)]['is_training'] is True
  assert sc[slim.arg_scope_func_key(slim.batch_norm)]['scale'] is True
  sc = mobilenet_v1.mobilenet_v1_arg_scope(is_training=None)
  assert 'is_training' not in sc[slim.arg_scope_func_key(slim.batch_norm)]


def test_v1_variants_keep_default_image_size():
  for fn in (mobilenet_v1.mobilenet_v1, mobilenet_v1.mobilenet_v1_075,
             mobilenet_v1.mobilenet_v1_050, mobilenet_v1.mobilenet_v1_025):
    assert fn.default_image_size == 224
  assert mobilenet_v1.mobilenet_v1_025.keywords == {'depth_multiplier': 0.25}


# ---------------------------------------------------------------------------------------------
# Checkpoint manifests of every registered MobileNet
# ---------------------------------------------------------------------------------------------

MOBILENET_NAMES = [name for name in nets_factory.model_names() if name.startswith('mobilenet')]


@pytest.mark.parametrize('model_name', MOBILENET_NAMES)
def test_checkpoint_manifest(model_name):
  spec = nets_factory.network_spec(model_name)
  variables = zoo_helpers.build_for_manifest(model_name, num_classes=spec.checkpoint_classes)
  zoo_helpers.check_manifest(model_name, variables)
