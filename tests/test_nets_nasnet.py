"""NASNet-A and PNASNet-5: end points, heads, checkpoint names, configs and the cell helpers.

The five published-size graphs are big, so each is built once (training graph, batch 1, through the
factory as a user's training run builds it) and shared by the tests that read it. Behaviour that
does not depend on size (eval graphs, toggles, data format, reuse, drop-path) is tested on small
configs of the same builders.
"""
import copy
import re

import numpy as np
import pytest

from conftest import ROOT  # noqa: F401  (puts the project on sys.path, applies the compat fixes)
import tensorflow.compat.v1 as tf
import tf_slim as slim

import zoo_helpers
from nets import nets_factory
from nets.nasnet import hparams as hparams_lib
from nets.nasnet import nasnet
from nets.nasnet import nasnet_utils
from nets.nasnet import pnasnet


# name -> (image size, classes, Stem [h, c], per-stage [h, c] of the cells, cells per stage,
#          reduction cells [h, c] (NASNet only), aux head cell)
ZOO = {
    'nasnet_cifar': (32, 10, (32, 96), [(32, 192), (16, 384), (8, 768)], 6,
                     [(16, 256), (8, 512)], 11),
    'nasnet_mobile': (224, 1001, (28, 88), [(28, 264), (14, 528), (7, 1056)], 4,
                      [(14, 352), (7, 704)], 7),
    'nasnet_large': (331, 1001, (42, 336), [(42, 1008), (21, 2016), (11, 4032)], 6,
                     [(21, 1344), (11, 2688)], 11),
    'pnasnet_large': (331, 1001, (42, 540), [(42, 1080), (21, 2160), (11, 4320)], 4, [], 7),
    'pnasnet_mobile': (224, 1001, (28, 135), [(28, 270), (14, 540), (7, 1080)], 3, [], 5),
}


def expected_end_points(name):
  """{end point: shape} of the training graph at batch 1 (the original tests' tables)."""
  size, classes, stem, stages, per_stage, reductions, _ = ZOO[name]
  shapes = {'Stem': [1, stem[0], stem[0], stem[1]]}
  for stage, (side, channels) in enumerate(stages):
    for i in range(per_stage):
      shapes['Cell_%d' % (stage * per_stage + i)] = [1, side, side, channels]
  for i, (side, channels) in enumerate(reductions):
    shapes['Reduction_Cell_%d' % i] = [1, side, side, channels]
  shapes['global_pool'] = [1, stages[-1][1]]
  for head in ('AuxLogits', 'Logits', 'Predictions'):
    shapes[head] = [1, classes]
  return shapes


class Built(object):
  """A training graph of a zoo net and what the tests read from it."""

  def __init__(self, name):
    size, classes = ZOO[name][:2]
    self.graph = tf.Graph()
    with self.graph.as_default():
      network_fn = nets_factory.get_network_fn(name, num_classes=classes, is_training=True)
      self.default_image_size = network_fn.default_image_size
      images = tf.placeholder(tf.float32, [1, size, size, 3])
      self.logits, self.end_points = network_fn(images)
      self.variables = {v.op.name: v.shape.as_list() for v in tf.global_variables()}


_BUILT = {}


@pytest.fixture(scope='module')
def zoo():
  def get(name):
    if name not in _BUILT:
      _BUILT[name] = Built(name)
    return _BUILT[name]
  yield get
  _BUILT.clear()


@pytest.mark.parametrize('name', sorted(ZOO))
def test_end_point_shapes(zoo, name):
  built = zoo(name)
  assert built.default_image_size == ZOO[name][0]
  shapes = {k: v.shape.as_list() for k, v in built.end_points.items()}
  assert shapes == expected_end_points(name)


@pytest.mark.parametrize('name', sorted(ZOO))
def test_heads_and_checkpoint_names(zoo, name):
  built = zoo(name)
  classes, aux_cell = ZOO[name][1], ZOO[name][-1]
  features = ZOO[name][3][-1][1]
  assert built.logits is built.end_points['Logits']
  predictions = built.end_points['Predictions']
  assert predictions.op.name == 'final_layer/predictions'
  assert predictions.op.type == 'Softmax'
  variables = built.variables
  assert variables['final_layer/FC/weights'] == [features, classes]
  assert variables['final_layer/FC/biases'] == [classes]
  aux = 'aux_%d/aux_logits/' % aux_cell
  assert variables[aux + 'proj/weights'][-1] == 128
  assert variables[aux + 'Conv/weights'][-2:] == [128, 768]
  assert variables[aux + 'FC/weights'] == [768, classes]
  # No model scope: the first name component is a stem, cell or head.
  top = re.compile(r'^(conv0|conv0_bn|l1_stem_3x3|l1_stem_bn|cell_stem_[01]|cell_\d+|'
                   r'reduction_cell_[01]|aux_%d|final_layer|global_step)$' % aux_cell)
  assert all(top.match(v.split('/')[0]) for v in variables), sorted(
      v for v in variables if not top.match(v.split('/')[0]))[:5]
  # Convolutions have no biases (batch norm follows each); only the classifiers have them.
  assert sorted(v for v in variables if v.endswith('/biases')) == [aux + 'FC/biases',
                                                                   'final_layer/FC/biases']
  # Batch norm is scaled.
  assert 'cell_0/beginning_bn/gamma' in variables


@pytest.mark.parametrize('name', sorted(ZOO))
def test_checkpoint_manifest(zoo, name):
  zoo_helpers.check_manifest(name, zoo(name).variables)


@pytest.mark.parametrize('name, millions', [
    # Trainable parameters without the auxiliary head, as the papers report them (NASNet-A Large
    # is left out: the paper's 88.9M does not state what it counts; this graph has 88.76M).
    ('nasnet_cifar', 3.3), ('nasnet_mobile', 5.3), ('pnasnet_large', 86.1),
    ('pnasnet_mobile', 5.1)])
def test_parameter_count(zoo, name, millions):
  built = zoo(name)
  weights = {k: v for k, v in built.variables.items()
             if not k.startswith('aux_') and 'moving_' not in k and k != 'global_step'}
  assert round(zoo_helpers.parameter_count(weights) / 1e6, 1) == millions


def test_pnasnet_stem_projections(zoo):
  variables = zoo('pnasnet_large').variables
  assert 'cell_stem_0/1x1/weights' in variables
  # The second stem cell's previous input is reduced to the cell's width by factorized reduction,
  # so its max-pool branch needs no 1x1 projection.
  assert 'cell_stem_1/comb_iter_0/right/1x1/weights' not in variables
  assert 'cell_stem_1/final_path_bn/beta' in variables


def test_nasnet_cifar_has_no_imagenet_stem_and_drop_path_uses_the_global_step(zoo):
  variables = zoo('nasnet_cifar').variables
  assert variables['l1_stem_3x3/weights'] == [3, 3, 3, 96]
  assert not any(v.startswith(('conv0', 'cell_stem')) for v in variables)
  assert variables['global_step'] == []


def test_factory_rows(zoo):
  expected = {
      'nasnet_cifar': (32, None, 'cifarnet'), 'nasnet_mobile': (224, 1001, 'inception'),
      'nasnet_large': (331, 1001, 'inception'), 'pnasnet_large': (331, 1001, 'inception'),
      'pnasnet_mobile': (224, 1001, 'inception')}
  for name, (size, checkpoint_classes, preprocessing) in expected.items():
    spec = nets_factory.network_spec(name)
    assert spec.fn.default_image_size == size
    assert (spec.checkpoint_classes, spec.preprocessing) == (checkpoint_classes, preprocessing)
    assert nets_factory.networks_map[name] is spec.fn
    assert nets_factory.arg_scopes_map[name] is spec.arg_scope
  # Every class-dependent variable lies under one of the logits scopes the scripts suggest to
  # exclude when fine-tuning.
  for name in ('nasnet_mobile', 'pnasnet_mobile'):
    spec = nets_factory.network_spec(name)
    for variable, shape in zoo(name).variables.items():
      if shape and shape[-1] == 1001:
        assert variable.startswith(spec.logits_scopes), variable


# ---- behaviour on small configs of the same builders ----
# Two cells (reduction indices [0, 1], aux head on cell 0) exercise the same code as the full nets
# at a fraction of the build time.

def _small(config_fn, **overrides):
  config = config_fn()
  config.override_from_dict(dict(dict(num_cells=2, num_conv_filters=8), **overrides))
  return config


def _build_small(builder, config, size=96, num_classes=5, is_training=True, **kwargs):
  images = tf.placeholder(tf.float32, [1, size, size, 3])
  with slim.arg_scope(nasnet.nasnet_mobile_arg_scope()):
    return builder(images, num_classes, is_training=is_training, config=config, **kwargs)


def _op_types(graph, prefix):
  return {op.type for op in graph.get_operations()
          if op.name.startswith(prefix) and '/Initializer/' not in op.name}


def test_nasnet_eval_graph_and_aux_toggle(graph):
  config = _small(nasnet.mobile_imagenet_config, drop_path_keep_prob=0.7)
  with tf.variable_scope('eval'):
    logits, eval_points = _build_small(nasnet.build_nasnet_mobile, config, is_training=False)
  with tf.variable_scope('no_aux'):
    _, no_aux_points = _build_small(nasnet.build_nasnet_mobile, _small(
        nasnet.mobile_imagenet_config, use_aux_head=0, drop_path_keep_prob=0.7))
  assert logits.shape.as_list() == [1, 5]
  assert sorted(eval_points) == sorted(no_aux_points) == [
      'Cell_0', 'Cell_1', 'Logits', 'Predictions', 'Reduction_Cell_0', 'Reduction_Cell_1', 'Stem',
      'global_pool']
  assert not [v for v in tf.global_variables() if '/aux_' in v.op.name]
  # The training graph drops paths; evaluation does not, uses the moving statistics, and leaves
  # the caller's config alone.
  assert 'RandomUniform' in _op_types(graph, 'no_aux/')
  assert 'RandomUniform' not in _op_types(graph, 'eval/')
  assert [op for op in tf.get_collection(tf.GraphKeys.UPDATE_OPS) if op.name.startswith('no_aux/')]
  assert not [op for op in tf.get_collection(tf.GraphKeys.UPDATE_OPS)
              if op.name.startswith('eval/')]
  assert config.drop_path_keep_prob == 0.7
  # Both use ReLU (bounded activation is off by default).
  assert 'Relu' in _op_types(graph, '') and 'Relu6' not in _op_types(graph, '')


def test_pnasnet_eval_graph_has_no_aux_head_and_reuses_variables(graph):
  config = _small(pnasnet.mobile_imagenet_config)
  with tf.variable_scope('shared'):
    first, end_points = _build_small(pnasnet.build_pnasnet_mobile, config, is_training=False)
  count = len(tf.global_variables())
  with tf.variable_scope('shared', reuse=True):
    second, _ = _build_small(pnasnet.build_pnasnet_mobile, config, is_training=False, size=128)
  assert len(tf.global_variables()) == count
  assert first.shape.as_list() == second.shape.as_list() == [1, 5]
  assert sorted(end_points) == ['Cell_0', 'Cell_1', 'Logits', 'Predictions', 'Stem', 'global_pool']
  assert not [v for v in tf.global_variables() if '/aux_' in v.op.name]


def test_pnasnet_bounded_activation_and_aux_toggle(graph):
  config = _small(pnasnet.mobile_imagenet_config, use_bounded_activation=True, use_aux_head=0)
  _, end_points = _build_small(pnasnet.build_pnasnet_mobile, config)
  kinds = _op_types(graph, '')
  assert 'Relu6' in kinds and 'Relu' not in kinds
  assert 'AuxLogits' not in end_points
  assert not [v for v in tf.global_variables() if v.op.name.startswith('aux_')]


def _check_pooled_features(net, end_points, shape):
  assert net.op.name == 'final_layer/Mean'
  assert net.shape.as_list() == shape
  assert net is end_points['global_pool']
  assert not {'AuxLogits', 'Logits', 'Predictions'} & set(end_points)
  assert not [v for v in tf.global_variables() if '/FC/' in v.op.name]


def test_pnasnet_without_classes_returns_the_pooled_features(graph):
  config = _small(pnasnet.mobile_imagenet_config)
  net, end_points = _build_small(pnasnet.build_pnasnet_mobile, config, num_classes=0)
  _check_pooled_features(net, end_points, [1, 5 * 8 * 4])


def test_final_endpoint_stops_the_build(graph):
  net, end_points = _build_small(nasnet.build_nasnet_mobile, _small(nasnet.mobile_imagenet_config),
                                 final_endpoint='Reduction_Cell_0')
  assert net is end_points['Reduction_Cell_0']
  assert sorted(end_points) == ['Reduction_Cell_0', 'Stem']
  assert not [v for v in tf.global_variables() if v.op.name.startswith(('cell_0/', 'final_layer'))]


@pytest.mark.parametrize('builder, config_fn, size, stem', [
    (nasnet.build_nasnet_mobile, nasnet.mobile_imagenet_config, 224, [1, 88, 28, 28]),
    (pnasnet.build_pnasnet_large, pnasnet.large_imagenet_config, 331, [1, 540, 42, 42]),
    (pnasnet.build_pnasnet_mobile, pnasnet.mobile_imagenet_config, 224, [1, 135, 28, 28])])
def test_nchw_config_transposes_the_input(graph, builder, config_fn, size, stem):
  config = config_fn()
  config.set_hparam('data_format', 'NCHW')
  images = tf.placeholder(tf.float32, [1, size, size, 3])
  with slim.arg_scope(nasnet.nasnet_large_arg_scope()):
    net, end_points = builder(images, 1001, config=config, final_endpoint='Stem')
  assert net is end_points['Stem']
  assert end_points['Stem'].shape.as_list() == stem


def test_nchw_whole_network_without_classes(graph):
  config = _small(nasnet.cifar_config, data_format='NCHW')
  images = tf.placeholder(tf.float32, [2, 32, 32, 3])
  with slim.arg_scope(nasnet.nasnet_cifar_arg_scope()):
    net, end_points = nasnet.build_nasnet_cifar(images, None, config=config)
  assert end_points['Stem'].shape.as_list() == [2, 24, 32, 32]
  assert end_points['Reduction_Cell_0'].shape.as_list() == [2, 4 * 16, 16, 16]
  assert end_points['Cell_1'].shape.as_list() == [2, 6 * 32, 8, 8]
  _check_pooled_features(net, end_points, [2, 6 * 32])


def test_forward_run_and_drop_path_ramp():
  """Training-mode outputs: drop-path is off at step 0 and random once it has ramped in."""
  with tf.Graph().as_default():
    config = _small(nasnet.cifar_config)
    images = tf.constant(np.random.RandomState(0).uniform(-1, 1, [2, 32, 32, 3]), tf.float32)
    step = tf.placeholder(tf.int64, [])
    with slim.arg_scope(nasnet.nasnet_cifar_arg_scope()):
      logits, end_points = nasnet.build_nasnet_cifar(images, 10, is_training=True, config=config,
                                                     current_step=step)
    assert end_points['AuxLogits'].shape.as_list() == [2, 10]
    assert 'global_step' not in [v.op.name for v in tf.global_variables()]
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      start = [session.run([logits, end_points['Predictions']], {step: 0}) for _ in range(2)]
      ramped = [session.run(logits, {step: config.total_training_steps}) for _ in range(2)]
  np.testing.assert_allclose(start[0][0], start[1][0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(start[0][1].sum(axis=1), [1, 1], rtol=1e-5)
  assert np.all(np.isfinite(ramped[0])) and not np.allclose(ramped[0], ramped[1])


# ---- nasnet_utils ----

def test_calc_reduction_layers():
  assert nasnet_utils.calc_reduction_layers(18, 2) == [6, 12]
  assert nasnet_utils.calc_reduction_layers(12, 2) == [4, 8]
  assert nasnet_utils.calc_reduction_layers(9, 2) == [3, 6]


def test_channel_index_and_dim():
  assert nasnet_utils.get_channel_index(data_format='NHWC') == 3
  assert nasnet_utils.get_channel_index(data_format='NCHW') == 1
  assert nasnet_utils.get_channel_dim([1, 2, 3, 4], data_format='NHWC') == 4
  assert nasnet_utils.get_channel_dim([1, 2, 3, 4], data_format='NCHW') == 2
  with slim.arg_scope([nasnet_utils.get_channel_index], data_format='NCHW'):
    assert nasnet_utils.get_channel_index() == 1
  with pytest.raises(ValueError, match='data_format'):
    nasnet_utils.get_channel_index()
  with pytest.raises(ValueError, match='data_format'):
    nasnet_utils.get_channel_dim([1, 2, 3, 4], data_format='NWHC')


@pytest.mark.parametrize('data_format', ['NHWC', 'NCHW'])
def test_global_avg_pool(graph, data_format):
  x = tf.placeholder(tf.float32, [5, 10, 20, 10])
  assert nasnet_utils.global_avg_pool(x, data_format=data_format).shape.as_list() == [5, 10]


def test_global_avg_pool_values():
  x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape([2, 3, 4, 5])
  with tf.Graph().as_default(), tf.Session() as session:
    nhwc = session.run(nasnet_utils.global_avg_pool(tf.constant(x), data_format='NHWC'))
    nchw = session.run(nasnet_utils.global_avg_pool(tf.constant(x), data_format='NCHW'))
  np.testing.assert_allclose(nhwc, x.mean(axis=(1, 2)))
  np.testing.assert_allclose(nchw, x.mean(axis=(2, 3)))


def test_factorized_reduction(graph):
  net = tf.placeholder(tf.float32, [1, 7, 7, 6])
  with slim.arg_scope(nasnet.nasnet_mobile_arg_scope()):
    with slim.arg_scope([slim.conv2d, slim.batch_norm, nasnet_utils.factorized_reduction],
                        data_format='NHWC'):
      with tf.variable_scope('halve'):
        halved = nasnet_utils.factorized_reduction(net, 5, stride=2)
      with tf.variable_scope('keep'):
        kept = nasnet_utils.factorized_reduction(net, 4, stride=1)
  assert halved.shape.as_list() == [1, 4, 4, 5]
  assert kept.shape.as_list() == [1, 7, 7, 4]
  shapes = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
  # An odd filter count gives the extra filter to the shifted path.
  assert shapes['halve/path1_conv/weights'] == [1, 1, 6, 2]
  assert shapes['halve/path2_conv/weights'] == [1, 1, 6, 3]
  assert shapes['halve/final_path_bn/gamma'] == [5]
  assert shapes['keep/path_conv/weights'] == [1, 1, 6, 4]
  assert 'keep/path_bn/beta' in shapes


def test_factorized_reduction_second_path_sees_the_odd_pixels():
  x = np.arange(16, dtype=np.float32).reshape([1, 4, 4, 1])
  with tf.Graph().as_default(), tf.Session() as session:
    net = nasnet_utils.factorized_reduction(tf.constant(x), 2, stride=2, data_format='NHWC')
    session.run(tf.global_variables_initializer())
    graph = tf.get_default_graph()
    inputs = [graph.get_operation_by_name(n).inputs[0]
              for n in ('path1_conv/Conv2D', 'path2_conv/Conv2D')]
    path1, path2 = session.run(inputs)
    assert net.shape.as_list() == [1, 2, 2, 2]
  np.testing.assert_array_equal(path1[0, :, :, 0], [[0, 2], [8, 10]])
  np.testing.assert_array_equal(path2[0, :, :, 0], [[5, 7], [13, 15]])


def test_drop_path():
  with tf.Graph().as_default(), tf.Session() as session:
    ones = tf.ones([4000, 1, 1, 1])
    assert nasnet_utils.drop_path(ones, 0.25, is_training=False) is ones
    dropped = session.run(nasnet_utils.drop_path(ones, 0.25))
  assert set(np.unique(dropped)) <= {0.0, 4.0}
  assert 0.2 < np.mean(dropped == 4.0) < 0.3


def test_cell_definitions():
  normal = nasnet_utils.NasNetANormalCell(44, 1.0, 16, 250000)
  reduction = nasnet_utils.NasNetAReductionCell(44, 1.0, 16, 250000)
  pnas = pnasnet.PNasNetNormalCell(54, 1.0, 11, 250000)
  assert pnas is not None and pnasnet.PNasNetNormalCell is nasnet_utils.PNasNetNormalCell
  assert normal._used_hiddenstates == [1, 0, 0, 0, 0, 0, 0]
  assert normal._hiddenstate_indices == [0, 1, 1, 1, 0, 1, 1, 1, 0, 0]
  assert reduction._operations[:3] == ['separable_5x5_2', 'separable_7x7_2', 'max_pool_3x3']
  assert reduction._hiddenstate_indices == [0, 1, 0, 1, 0, 1, 3, 2, 2, 0]
  assert pnas._used_hiddenstates == [1, 1, 0, 0, 0, 0, 0]
  assert pnas._hiddenstate_indices == [1, 1, 0, 0, 0, 0, 4, 0, 1, 0]


# ---- configs ----

@pytest.mark.parametrize('config_fn, values', [
    (nasnet.cifar_config, (3.0, 18, 32, 0.6, 1.0, 0, 937500)),
    (nasnet.mobile_imagenet_config, (1.0, 12, 44, 1.0, 0.5, 0, 250000)),
    (nasnet.large_imagenet_config, (3.0, 18, 168, 0.7, 0.5, 1, 250000)),
    (pnasnet.large_imagenet_config, (3.0, 12, 216, 0.6, 0.5, 1, 250000)),
    (pnasnet.mobile_imagenet_config, (1.0, 9, 54, 1.0, 0.5, 1, 250000))])
def test_configs(config_fn, values):
  config = config_fn()
  keys = ('stem_multiplier', 'num_cells', 'num_conv_filters', 'drop_path_keep_prob',
          'dense_dropout_keep_prob', 'skip_reduction_layer_input', 'total_training_steps')
  assert tuple(getattr(config, k) for k in keys) == values
  assert (config.use_aux_head, config.filter_scaling_rate, config.num_reduction_layers,
          config.data_format, config.use_bounded_activation) == (1, 2.0, 2, 'NHWC', False)


def test_hparams_interface():
  config = nasnet.mobile_imagenet_config()
  assert config.values()['num_cells'] == 12
  config.set_hparam('num_cells', 6)
  config.set_hparam('drop_path_keep_prob', 1)  # an int may become a float
  assert config.drop_path_keep_prob == 1.0 and isinstance(config.drop_path_keep_prob, float)
  assert config.override_from_dict({'data_format': 'NCHW'}) is config
  assert config.parse('num_conv_filters=20, use_bounded_activation=true,stem_multiplier=2') is (
      config)
  assert (config.num_cells, config.num_conv_filters, config.data_format,
          config.use_bounded_activation, config.stem_multiplier) == (6, 20, 'NCHW', True, 2.0)
  copied = copy.deepcopy(config)
  copied.set_hparam('num_cells', 7)
  assert config.num_cells == 6 and 'num_cells' in config and 'depth' not in config
  for bad in (lambda: config.set_hparam('num_cells', 2.5),
              lambda: config.set_hparam('use_aux_head', True),
              lambda: config.set_hparam('data_format', 3),
              lambda: config.set_hparam('depth', 3),
              lambda: config.parse('num_cells=many')):
    with pytest.raises(hparams_lib.HParamsError):
      bad()
  assert issubclass(hparams_lib.HParamsError, ValueError)


def test_arg_scope_defaults(graph):
  expected = {
      nasnet.nasnet_cifar_arg_scope: (0.9, 1e-5),
      nasnet.nasnet_mobile_arg_scope: (0.9997, 1e-3),
      nasnet.nasnet_large_arg_scope: (0.9997, 1e-3),
      pnasnet.pnasnet_large_arg_scope: (0.9997, 1e-3),
      pnasnet.pnasnet_mobile_arg_scope: (0.9997, 1e-3)}
  key = slim.arg_scope_func_key
  for scope_fn, (decay, epsilon) in expected.items():
    scope = scope_fn()
    bn = scope[key(slim.batch_norm)]
    assert (bn['decay'], bn['epsilon'], bn['scale'], bn['fused']) == (decay, epsilon, True, True)
    for conv in (scope[key(slim.conv2d)], scope[key(slim.separable_conv2d)]):
      assert conv['biases_initializer'] is None and conv['activation_fn'] is None
    fc = scope[key(slim.fully_connected)]
    assert fc['scope'] == 'FC' and fc['activation_fn'] is None
  # The given weight decay (the factory passes --weight_decay) replaces the default.
  regularizer = nasnet.nasnet_cifar_arg_scope(weight_decay=0.5)[
      key(slim.fully_connected)]['weights_regularizer']
  with tf.Session() as session:
    assert session.run(regularizer(tf.ones([3, 4]))) == pytest.approx(0.5 * 12 / 2)
