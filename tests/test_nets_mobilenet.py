"""MobileNet V1 / V2 / V3 / EdgeTPU: end points, shapes, heads, multipliers, strides, checkpoints.

Expected values are those of the original slim tests (shape tables of the spec, section 9). Graphs
are only built (static shapes) except where a value has to be computed.
"""
import copy

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import tf_slim as slim  # noqa: E402

from nets import mobilenet_v1  # noqa: E402
from nets.mobilenet import conv_blocks  # noqa: E402
from nets.mobilenet import mobilenet as mobilenet_lib  # noqa: E402
from nets.mobilenet import mobilenet_v2  # noqa: E402
from nets.mobilenet import mobilenet_v3  # noqa: E402
from nets import nets_factory  # noqa: E402
from tests import zoo_helpers  # noqa: E402


def _shape(tensor):
  return tensor.get_shape().as_list()


def _conv_output_depths(graph, op_type='Conv2D'):
  return [op.outputs[0].get_shape().as_list()[-1]
          for op in graph.get_operations() if op.type == op_type]


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
  """One MobileNet V1 graph in training mode under its arg scope, and an eval copy reusing it."""
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
  # Exercises slim.batch_norm's UPDATE_OPS path on TF 2.21 (see foundation/internals.py).
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
# MobileNet V2 (the shared op-list library)
# ---------------------------------------------------------------------------------------------

V2_SPEC_LEN = len(mobilenet_v2.V2_DEF['spec'])


@pytest.fixture(scope='module')
def v2_net():
  """mobilenet_v2.mobilenet at 224; other sizes, strides and paddings reuse its variables."""
  g = tf.Graph()
  with g.as_default():
    logits, end_points = mobilenet_v2.mobilenet(tf.placeholder(tf.float32, (10, 224, 224, 3)))
    conv_count = len(_conv_output_depths(g))
    variable_count = len(tf.global_variables())
    variants = {
        'size_96': mobilenet_v2.mobilenet_base(
            tf.placeholder(tf.float32, (10, 96, 96, 3)), final_endpoint='layer_18', reuse=True),
        'os_8': mobilenet_v2.mobilenet_base(
            tf.placeholder(tf.float32, (10, 224, 224, 3)), output_stride=8, reuse=True),
        'os_16_explicit': mobilenet_v2.mobilenet_base(
            tf.placeholder(tf.float32, (10, 224, 224, 3)), output_stride=16,
            use_explicit_padding=True, reuse=True),
    }
    unknown_inputs = tf.placeholder(tf.float32, (None, None, None, 3))
    variants['unknown'] = mobilenet_v2.mobilenet(unknown_inputs, reuse=True)
  return dict(graph=g, logits=logits, end_points=end_points, variable_count=variable_count,
              conv_count=conv_count, variants=variants, unknown_inputs=unknown_inputs)


def test_v2_conv_count_and_head(v2_net):
  # Every inverted-residual block has an expansion and a projection conv, except the first (t=1,
  # no expansion); plus the first conv, the last 1x1 conv and the logits.
  assert v2_net['conv_count'] == 2 * V2_SPEC_LEN - 2
  logits, end_points = v2_net['logits'], v2_net['end_points']
  assert mobilenet_v2.mobilenet.default_image_size == 224
  assert _shape(logits) == [10, 1001]
  assert logits.op.name == 'MobilenetV2/Logits/output'
  assert end_points['Predictions'].op.name == 'MobilenetV2/Predictions/Reshape_1'
  assert _shape(end_points['global_pool']) == [10, 1, 1, 1280]
  assert _shape(end_points['layer_19']) == [10, 7, 7, 1280]


def test_v2_layer_end_points(v2_net):
  end_points = v2_net['end_points']
  for i in range(2, 19):
    assert 'layer_%d/depthwise_output' % i in end_points
    assert 'layer_%d/output' % i in end_points
  assert 'layer_2/expansion_output' not in end_points
  for i in range(3, 19):
    assert 'layer_%d/expansion_output' % i in end_points
  assert end_points['layer_3/output'].op.name == 'MobilenetV2/expanded_conv_1/output'
  assert _shape(end_points['layer_3/expansion_output']) == [10, 112, 112, 96]
  assert _shape(end_points['layer_3/depthwise_output']) == [10, 56, 56, 96]
  assert _shape(end_points['layer_18/output']) == [10, 7, 7, 320]


def test_v2_variables_and_inference_mode_by_default(v2_net):
  with v2_net['graph'].as_default():
    names = {v.op.name for v in tf.global_variables()}
    # Without an arg scope the net is built in inference mode: no batch norm updates.
    assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)
  assert len(names) == v2_net['variable_count']  # the reused copies added none
  assert 'MobilenetV2/expanded_conv_16/project/BatchNorm/gamma' in names
  assert 'MobilenetV2/expanded_conv/expand/weights' not in names
  assert 'MobilenetV2/Logits/Conv2d_1c_1x1/biases' in names


def test_v2_other_input_size(v2_net):
  net, end_points = v2_net['variants']['size_96']
  assert net is end_points['layer_18']
  assert _shape(end_points['layer_18/output']) == [10, 3, 3, 320]


def test_v2_output_stride_8(v2_net):
  _, end_points = v2_net['variants']['os_8']
  assert _shape(end_points['layer_19']) == [10, 28, 28, 1280]
  assert _shape(end_points['layer_18/output']) == [10, 28, 28, 320]


def test_v2_output_stride_16_with_explicit_padding(v2_net):
  _, end_points = v2_net['variants']['os_16_explicit']
  assert _shape(end_points['layer_19']) == [10, 14, 14, 1280]
  assert _shape(end_points['layer_4/output']) == [10, 56, 56, 24]


def test_v2_unknown_size_runs(v2_net):
  logits, end_points = v2_net['variants']['unknown']
  assert _shape(logits) == [None, 1001]
  assert _shape(end_points['global_pool']) == [None, 1, 1, 1280]
  with v2_net['graph'].as_default(), tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    out, probabilities = sess.run(
        [logits, end_points['Predictions']],
        {v2_net['unknown_inputs']: np.random.uniform(-1, 1, (2, 70, 90, 3))})
  assert out.shape == (2, 1001) and np.isfinite(out).all()
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_v2_split_expansion_without_classes(graph):
  conv_defs = copy.deepcopy(mobilenet_v2.V2_DEF)
  conv_defs['overrides'] = {(conv_blocks.expanded_conv,): dict(split_expansion=2)}
  net, end_points = mobilenet_lib.mobilenet(tf.placeholder(tf.float32, (10, 224, 224, 16)),
                                            conv_defs=conv_defs, num_classes=None)
  assert net is end_points['global_pool']
  assert 'Logits' not in end_points
  # Each expansion becomes two convolutions (3 * len - 5 with logits, none here).
  assert len(_conv_output_depths(graph)) == 3 * V2_SPEC_LEN - 6
  names = {v.op.name for v in tf.global_variables()}
  assert 'Mobilenet/expanded_conv_1/expand_part_1/weights' in names


def test_v2_divisible_by_and_min_depth(graph):
  mobilenet_v2.mobilenet(tf.placeholder(tf.float32, (10, 224, 224, 16)),
                         conv_defs=mobilenet_v2.V2_DEF, divisible_by=16, min_depth=32)
  assert set(_conv_output_depths(graph)) == {32, 64, 96, 160, 192, 320, 384, 576, 960, 1280, 1001}


def test_v2_small_multiplier_with_min_depth(graph):
  _, end_points = mobilenet_v2.mobilenet(tf.placeholder(tf.float32, (10, 224, 224, 16)),
                                         depth_multiplier=0.1, min_depth=32)
  assert set(_conv_output_depths(graph)) == {32, 192, 128, 1001}
  assert _shape(end_points['layer_19']) == [10, 7, 7, 128]


def test_v2_finegrain_classification_mode(graph):
  mobilenet_v2.mobilenet(tf.placeholder(tf.float32, (10, 224, 224, 16)), depth_multiplier=0.01,
                         finegrain_classification_mode=True)
  assert set(_conv_output_depths(graph)) == {8, 48, 1001, 1280}


def test_v2_custom_multiplier_func(graph):
  conv_defs = copy.deepcopy(mobilenet_v2.V2_DEF)

  def inverse_multiplier(output_params, multiplier):
    output_params['num_outputs'] = int(output_params['num_outputs'] / multiplier)

  conv_defs['spec'][0] = mobilenet_lib.op(slim.conv2d, kernel_size=(3, 3), num_outputs=16,
                                          multiplier_func=inverse_multiplier)
  mobilenet_v2.mobilenet_base(tf.placeholder(tf.float32, (10, 224, 224, 16)), conv_defs=conv_defs,
                              depth_multiplier=0.1, final_endpoint='layer_4')
  # 16 / 0.1 for the first layer; max(8, d * 0.1) after; expansions are 6 x their input.
  assert _conv_output_depths(graph)[:5] == [160, 8, 48, 8, 48]


def test_v2_activation_fn_and_bad_arguments(graph):
  inputs = tf.placeholder(tf.float32, (2, 64, 64, 3))
  mobilenet_v2.mobilenet_base(inputs, activation_fn=tf.nn.relu, final_endpoint='layer_2')
  types = {op.type for op in graph.get_operations()}
  assert 'Relu' in types and 'Relu6' not in types
  # V2_DEF itself is unchanged.
  assert mobilenet_v2.V2_DEF['defaults'][
      (slim.conv2d, slim.fully_connected, slim.separable_conv2d)]['activation_fn'] is tf.nn.relu6
  with pytest.raises(ValueError):
    mobilenet_v2.mobilenet(inputs, multiplier=0.5)
  with pytest.raises(ValueError):
    mobilenet_v2.mobilenet(tf.placeholder(tf.float32, (64, 64, 3)))
  with pytest.raises(ValueError):
    mobilenet_v2.mobilenet_base(inputs, output_stride=3)
  with pytest.raises(ValueError):
    mobilenet_lib.mobilenet_base(inputs, conv_defs=mobilenet_v2.V2_DEF, multiplier=0)


def test_v2_training_scope():
  sc = mobilenet_v2.training_scope()
  bn = sc[slim.arg_scope_func_key(slim.batch_norm)]
  assert bn['is_training'] is True and bn['decay'] == 0.997
  assert sc[slim.arg_scope_func_key(slim.dropout)]['keep_prob'] == 0.8
  assert sc[slim.arg_scope_func_key(slim.separable_conv2d)]['weights_regularizer'] is None
  sc = mobilenet_v2.training_scope(is_training=None)
  assert 'is_training' not in sc[slim.arg_scope_func_key(slim.batch_norm)]
  assert 'is_training' not in sc[slim.arg_scope_func_key(slim.dropout)]


def test_v2_variants_keep_default_image_size():
  for fn in (mobilenet_v2.mobilenet_v2_140, mobilenet_v2.mobilenet_v2_050,
             mobilenet_v2.mobilenet_v2_035):
    assert fn.default_image_size == 224
  assert mobilenet_v2.mobilenet_v2_035.keywords == {
      'depth_multiplier': 0.35, 'finegrain_classification_mode': True}


def test_make_divisible():
  assert mobilenet_lib._make_divisible(16 * 0.35, 8) == 8
  assert mobilenet_lib._make_divisible(32 * 1.4, 8) == 48  # 44.8 rounds up
  assert mobilenet_lib._make_divisible(1280 * 1.4, 8) == 1792
  assert mobilenet_lib._make_divisible(100, 8, min_value=128) == 128
  assert mobilenet_lib._make_divisible(10, 8) == 16  # 8 would lose more than 10%


# ---------------------------------------------------------------------------------------------
# MobileNet V3 / EdgeTPU
# ---------------------------------------------------------------------------------------------

def test_v3_edge_tpu_docstring_and_scope(graph):
  assert 'Inference mode is created by default' in mobilenet_v3.edge_tpu.__doc__
  _, end_points = mobilenet_v3.edge_tpu(tf.placeholder(tf.float32, (1, 224, 224, 3)),
                                        scope='Scope', base_only=True, final_endpoint='layer_3')
  assert end_points['layer_3'].name.startswith('Scope/')
  names = {v.op.name for v in tf.global_variables()}
  # Fused blocks: a full 3x3 expansion conv and no depthwise layer.
  assert _shape([v for v in tf.global_variables()
                 if v.op.name == 'Scope/expanded_conv_1/expand/weights'][0]) == [3, 3, 16, 128]
  assert not any('depthwise' in name for name in names)


def test_v3_base_to_layer_17_known_and_unknown_sizes(graph):
  net, end_points = mobilenet_v3.mobilenet_base(tf.placeholder(tf.float32, (1, 224, 224, 3)),
                                                final_endpoint='layer_17')
  assert _shape(net) == [1, 7, 7, 960]
  assert _shape(end_points['layer_17']) == [1, 7, 7, 960]
  assert 'layer_18' not in end_points
  inputs = tf.placeholder(tf.float32, (None, None, None, 3))
  net, _ = mobilenet_v3.mobilenet_base(inputs, final_endpoint='layer_17', reuse=True)
  assert _shape(net) == [None, None, None, 960]
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    out = sess.run(net, {inputs: np.random.uniform(-1, 1, (2, 96, 64, 3))})
  assert out.shape == (2, 3, 2, 960) and np.isfinite(out).all()


def test_v3_explicit_padding_gives_same_shapes_on_odd_input(graph):
  # expanded_conv pads inside the block (before its depthwise conv), so residual blocks keep their
  # size; the result matches SAME padding for odd inputs too.
  inputs = tf.placeholder(tf.float32, (1, 225, 225, 3))
  _, same = mobilenet_v3.mobilenet_base(inputs, final_endpoint='layer_6')
  _, explicit = mobilenet_v3.mobilenet_base(inputs, final_endpoint='layer_6',
                                            use_explicit_padding=True, reuse=True)
  assert {k: _shape(v) for k, v in explicit.items()} == {k: _shape(v) for k, v in same.items()}
  assert _shape(explicit['layer_6']) == [1, 29, 29, 40]
  assert any(op.type == 'Pad' for op in graph.get_operations()
             if op.name.startswith('MobilenetV3_1/expanded_conv_4/'))


def test_v3_hard_swish_values(graph):
  x = tf.constant([-4., -3., -1., 0., 1., 3., 4.])
  with tf.Session() as sess:
    got = sess.run(mobilenet_v3.hard_swish(x))
  np.testing.assert_allclose(got, [0., 0., -1. / 3, 0., 2. / 3, 3., 4.], atol=1e-6)


def test_v3_variants_keep_default_image_size():
  for fn in (mobilenet_v3.large, mobilenet_v3.small, mobilenet_v3.large_minimalistic,
             mobilenet_v3.small_minimalistic, mobilenet_v3.edge_tpu, mobilenet_v3.edge_tpu_075):
    assert fn.default_image_size == 224
  # the detection variants halve the last layers
  assert mobilenet_v3.V3_LARGE_DETECTION['spec'][16].params['num_outputs'] == 480
  assert mobilenet_v3.V3_LARGE['spec'][16].params['num_outputs'] == 960
  assert mobilenet_v3.V3_SMALL_DETECTION['spec'][12].params['num_outputs'] == 288


# ---------------------------------------------------------------------------------------------
# Every registered MobileNet through the factory: head, last layer, checkpoint manifest
# ---------------------------------------------------------------------------------------------

MOBILENET_NAMES = [name for name in nets_factory.model_names() if name.startswith('mobilenet')]

# name -> (scope, last layer end point, its shape at 224, trainable parameter count)
FACTORY_EXPECTED = {
    'mobilenet_v1': ('MobilenetV1', 'Conv2d_13_pointwise', [1, 7, 7, 1024], None),
    'mobilenet_v1_075': ('MobilenetV1', 'Conv2d_13_pointwise', [1, 7, 7, 768], None),
    'mobilenet_v1_050': ('MobilenetV1', 'Conv2d_13_pointwise', [1, 7, 7, 512], None),
    'mobilenet_v1_025': ('MobilenetV1', 'Conv2d_13_pointwise', [1, 7, 7, 256], None),
    'mobilenet_v2': ('MobilenetV2', 'layer_19', [1, 7, 7, 1280], None),
    'mobilenet_v2_140': ('MobilenetV2', 'layer_19', [1, 7, 7, 1792], None),
    'mobilenet_v2_035': ('MobilenetV2', 'layer_19', [1, 7, 7, 1280], None),
    'mobilenet_v3_large': ('MobilenetV3', 'layer_19', [1, 1, 1, 1280], None),
    'mobilenet_v3_small': ('MobilenetV3', 'layer_15', [1, 1, 1, 1024], None),
    'mobilenet_v3_large_minimalistic': ('MobilenetV3', 'layer_19', [1, 1, 1, 1280], None),
    'mobilenet_v3_small_minimalistic': ('MobilenetV3', 'layer_15', [1, 1, 1, 1024], None),
    'mobilenet_edgetpu': ('MobilenetEdgeTPU', 'layer_24', [1, 7, 7, 1280], None),
    'mobilenet_edgetpu_075': ('MobilenetEdgeTPU', 'layer_24', [1, 7, 7, 1280], None),
}


def test_every_mobilenet_is_registered():
  assert sorted(MOBILENET_NAMES) == sorted(FACTORY_EXPECTED)
  for name in MOBILENET_NAMES:
    spec = nets_factory.network_spec(name)
    assert spec.checkpoint_classes == 1001 and spec.preprocessing == 'inception'
    assert spec.logits_scopes == (FACTORY_EXPECTED[name][0] + '/Logits',)


@pytest.mark.parametrize('model_name', MOBILENET_NAMES)
def test_factory_build_and_checkpoint_manifest(model_name):
  """Training graph of the factory net: head shapes, last layer, and the checked-in manifest."""
  scope, last, last_shape, _ = FACTORY_EXPECTED[model_name]
  spec = nets_factory.network_spec(model_name)
  network_fn = nets_factory.get_network_fn(model_name, num_classes=spec.checkpoint_classes,
                                           weight_decay=4e-5, is_training=True)
  assert network_fn.default_image_size == 224
  with tf.Graph().as_default():
    logits, end_points = network_fn(tf.placeholder(tf.float32, [1, 224, 224, 3]))
    variables = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS)  # batch norm in training mode
    assert tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
  assert _shape(logits) == [1, 1001]
  assert end_points['Predictions'].op.name == scope + '/Predictions/Reshape_1'
  assert _shape(end_points[last]) == last_shape
  assert all(name.startswith(scope + '/') for name in variables)
  zoo_helpers.check_manifest(model_name, variables)
