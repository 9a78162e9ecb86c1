"""ResNet V1 and V2: resnet_utils exact values, dense (atrous) extraction, small test nets, and the
factory's full-size variants (static shapes, names, checkpoint manifests; no full-size runs).

The small nets use the real resnet_v1/resnet_v2 functions with base depths 1, 2, 4, 8 (outputs 4,
8, 16, 32), as the original tests do, so sessions stay cheap.
"""

import numpy as np
import pytest

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import nets_factory
from nets import resnet_utils
from nets import resnet_v1
from nets import resnet_v2
from tests import zoo_helpers

# version: (generic network, block helper, unit scope name)
VERSIONS = {
    'v1': (resnet_v1.resnet_v1, resnet_v1.resnet_v1_block, 'bottleneck_v1'),
    'v2': (resnet_v2.resnet_v2, resnet_v2.resnet_v2_block, 'bottleneck_v2'),
}


def mesh_input(batch, height, width, channels):
  """A deterministic input: value i + j at row i, column j, in every batch entry and channel."""
  grid = np.arange(height).reshape(height, 1) + np.arange(width).reshape(1, width)
  return tf.constant(np.tile(grid.reshape(1, height, width, 1), [batch, 1, 1, channels]),
                     tf.float32)


def small_blocks(version, units=(3, 3, 3, 2)):
  """Base depths 1, 2, 4, 8 (outputs 4, 8, 16, 32); strides 2, 2, 2, 1 on each block's end."""
  block = VERSIONS[version][1]
  return [block('block%d' % (i + 1), base_depth=2 ** i, num_units=n, stride=s)
          for i, (n, s) in enumerate(zip(units, (2, 2, 2, 1)))]


def small_net(version, inputs, num_classes=None, units=(1, 1, 1, 1), batch_norm=False,
              **kwargs):
  """The small test net; by default one unit per block and no conv batch norm (cheap to build:
  graph construction of slim batch norm dominates these tests). V2 keeps its `preact` and
  `postnorm` batch norms."""
  network = VERSIONS[version][0]
  with slim.arg_scope(resnet_utils.resnet_arg_scope(use_batch_norm=batch_norm)):
    return network(inputs, small_blocks(version, units), num_classes, **kwargs)


def static_shapes(end_points, names):
  return [end_points[n].shape.as_list() for n in names]


BLOCKS = ['resnet/block%d' % i for i in range(1, 5)]


# ----------------------------------------------------------------------------- resnet_utils

def test_subsample_keeps_every_other_row_and_column(graph):
  x = tf.reshape(tf.range(16, dtype=tf.float32), [1, 4, 4, 1])
  odd = tf.reshape(tf.range(9, dtype=tf.float32), [1, 3, 3, 1])
  with tf.Session() as sess:
    assert sess.run(resnet_utils.subsample(x, 2)).ravel().tolist() == [0, 2, 8, 10]
    assert sess.run(resnet_utils.subsample(odd, 2)).ravel().tolist() == [0, 2, 6, 8]
  assert resnet_utils.subsample(x, 1) is x


SAME_4 = [[14, 28, 43, 26], [28, 48, 66, 37], [43, 66, 84, 46], [26, 37, 46, 22]]
SAME_5 = [[14, 28, 43, 58, 34], [28, 48, 66, 84, 46], [43, 66, 84, 102, 55],
          [58, 84, 102, 120, 64], [34, 46, 55, 64, 30]]


@pytest.mark.parametrize('size, same, strided_same', [
    (4, SAME_4, [[48, 37], [37, 22]]),  # a SAME stride-2 conv shifts the grid for even sizes
    (5, SAME_5, [[14, 43, 34], [43, 84, 55], [34, 55, 30]]),
])
def test_conv2d_same_matches_subsampled_dense_conv(graph, size, same, strided_same):
  x = mesh_input(1, size, size, 1)
  kernel = np.add.outer(np.arange(3), np.arange(3)).astype(np.float32).reshape(3, 3, 1, 1)
  with slim.arg_scope([slim.conv2d], weights_initializer=tf.constant_initializer(kernel),
                      biases_initializer=tf.zeros_initializer(), activation_fn=None):
    dense = slim.conv2d(x, 1, [3, 3], stride=1, scope='Conv')
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
      subsampled = resnet_utils.subsample(dense, 2)
      same_strided = resnet_utils.conv2d_same(x, 1, 3, stride=2, scope='Conv')
      plain_strided = slim.conv2d(x, 1, [3, 3], stride=2, padding='SAME', scope='Conv')
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    values = sess.run([dense, subsampled, same_strided, plain_strided])
  values = [v[0, :, :, 0].tolist() for v in values]
  every_other = np.array(same)[::2, ::2].tolist()
  assert values[0] == same
  assert values[1] == every_other
  assert values[2] == every_other
  assert values[3] == strided_same


def test_conv2d_same_pads_the_smaller_half_before(graph):
  x = tf.placeholder(tf.float32, [1, 224, 224, 3])
  # Kernel 4: total padding 3, split 1 before and 2 after; 224 -> 227 -> (227 - 4) / 2 + 1.
  y = resnet_utils.conv2d_same(x, 1, 4, stride=2, scope='even')
  assert y.shape.as_list() == [1, 112, 112, 1]
  pad, = [op for op in graph.get_operations() if op.type == 'Pad']
  with tf.Session() as sess:
    assert sess.run(pad.inputs[1]).tolist() == [[0, 0], [1, 2], [1, 2], [0, 0]]
  # Stride 1 is a plain SAME convolution (atrous allowed), without explicit padding.
  z = resnet_utils.conv2d_same(x, 1, 3, stride=1, rate=2, scope='atrous')
  assert z.shape.as_list() == [1, 224, 224, 1]
  assert len([op for op in graph.get_operations() if op.type == 'Pad']) == 1


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_tiny_net_unit_end_points(graph, version):
  _, block, unit = VERSIONS[version]
  blocks = [block('block1', base_depth=1, num_units=2, stride=2),
            block('block2', base_depth=2, num_units=2, stride=1)]
  with slim.arg_scope(resnet_utils.resnet_arg_scope()):
    with slim.arg_scope([slim.conv2d], outputs_collections='end_points'):
      with tf.variable_scope('tiny'):
        resnet_utils.stack_blocks_dense(mesh_input(2, 32, 16, 3), blocks)
  end_points = slim.utils.convert_collection_to_dict('end_points')
  expected = []
  for b in ('block1', 'block2'):
    # Only each block's first unit changes depth, so only it has a projection shortcut.
    expected.append('tiny/%s/unit_1/%s/shortcut' % (b, unit))
    for u in (1, 2):
      expected += ['tiny/%s/unit_%d/%s/conv%d' % (b, u, unit, c) for c in (1, 2, 3)]
  assert sorted(end_points) == sorted(expected)


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_atrous_extraction_equals_nominal_then_subsampled(graph, version):
  # Few units suffice: the atrous bookkeeping depends only on where the strides are. Batch norm
  # is off (V2 keeps its pre-activation ones) to keep the graphs cheap to build.
  # Seeded: with one-channel units an unlucky initialisation can zero every activation (ReLU),
  # which would make the equality below vacuous.
  tf.set_random_seed(1)
  block = VERSIONS[version][1]
  blocks = [block('block1', base_depth=1, num_units=2, stride=2),
            block('block2', base_depth=2, num_units=1, stride=2),
            block('block3', base_depth=4, num_units=1, stride=2),
            block('block4', base_depth=8, num_units=1, stride=1)]
  inputs = mesh_input(2, 81, 81, 3)  # 81 = 10 * 8 + 1 keeps the grids aligned
  checks = []
  with slim.arg_scope(resnet_utils.resnet_arg_scope(use_batch_norm=False)):
    with slim.arg_scope([slim.batch_norm], is_training=False):
      with tf.variable_scope('net'):
        nominal = resnet_utils.stack_blocks_dense(inputs, blocks)
      for output_stride, moved in ((1, False), (2, False), (4, False), (8, False), (None, False),
                                   (2, True), (None, True)):
        with tf.variable_scope('net', reuse=True):
          dense = resnet_utils.stack_blocks_dense(inputs, blocks, output_stride,
                                                  store_non_strided_activations=moved)
        factor = 1 if output_stride is None else 8 // output_stride
        checks.append(((output_stride, moved), resnet_utils.subsample(dense, factor)))
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    expected, values = sess.run([nominal, [c[1] for c in checks]])
  assert expected.shape == (2, 11, 11, 32) and np.abs(expected).sum() > 0
  for (case, _), value in zip(checks, values):
    np.testing.assert_allclose(value, expected, rtol=1e-4, atol=1e-4, err_msg=str(case))


def test_store_non_strided_activations_keeps_block_outputs_dense(graph):
  inputs = tf.placeholder(tf.float32, [1, 81, 81, 3])
  with slim.arg_scope(resnet_utils.resnet_arg_scope(use_batch_norm=False)):
    with slim.arg_scope([resnet_utils.stack_blocks_dense], outputs_collections='blocks'):
      with tf.variable_scope('net'):
        out = resnet_utils.stack_blocks_dense(inputs, small_blocks('v1', (1, 1, 1, 1)),
                                              store_non_strided_activations=True)
  blocks = slim.utils.convert_collection_to_dict('blocks')
  assert static_shapes(blocks, ['net/block%d' % i for i in range(1, 5)]) == [
      [1, 81, 81, 4], [1, 41, 41, 8], [1, 21, 21, 16], [1, 11, 11, 32]]
  assert out.shape.as_list() == [1, 11, 11, 32]


# ----------------------------------------------------------------------------- small nets

class SmallNet(object):
  """The original tests' complete small net (units 3, 3, 3, 2, batch norm) at 224, batch 2."""

  def __init__(self, version):
    self.version = version
    self.graph = tf.Graph()
    with self.graph.as_default():
      self.logits, self.end_points = small_net(
          version, tf.placeholder(tf.float32, [2, 224, 224, 3]), 10, units=(3, 3, 3, 2),
          batch_norm=True, spatial_squeeze=False, scope='resnet')
      self.variables = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
      self.regularized = len(tf.losses.get_regularization_losses())


@pytest.fixture(scope='module', params=sorted(VERSIONS))
def small(request):
  return SmallNet(request.param)


def test_small_net_heads_and_end_point_names(small):
  unit = VERSIONS[small.version][2]
  logits, end_points = small.logits, small.end_points
  assert logits.op.name.startswith('resnet/logits')
  assert logits.shape.as_list() == [2, 1, 1, 10]
  assert end_points['predictions'].shape.as_list() == [2, 1, 1, 10]
  assert end_points['global_pool'].shape.as_list() == [2, 1, 1, 32]
  assert end_points['resnet/logits'] is logits
  assert static_shapes(end_points, BLOCKS) == [
      [2, 28, 28, 4], [2, 14, 14, 8], [2, 7, 7, 16], [2, 7, 7, 32]]

  expected = ['resnet/conv1', 'global_pool', 'resnet/logits', 'predictions'] + BLOCKS
  for b, units in zip(BLOCKS, (3, 3, 3, 2)):
    expected.append('%s/unit_1/%s/shortcut' % (b, unit))
    for u in range(1, units + 1):
      prefix = '%s/unit_%d/%s' % (b, u, unit)
      expected += [prefix, prefix + '/conv1', prefix + '/conv2', prefix + '/conv3']
  assert sorted(end_points) == sorted(expected)


def test_small_net_variables_follow_the_arg_scope(small):
  names = set(small.variables)
  with small.graph.as_default():
    pool = small.graph.get_operation_by_name('resnet/pool1/MaxPool')
    assert pool.get_attr('padding') == b'SAME'
  # Every conv weight is L2-regularised; batch norm has gamma (batch_norm_scale=True).
  assert small.regularized == len([n for n in names if n.endswith('/weights')])
  if small.version == 'v1':
    assert 'resnet/conv1/BatchNorm/gamma' in names
    assert 'resnet/conv1/biases' not in names
    bn = small.graph.get_operation_by_name('resnet/conv1/BatchNorm/FusedBatchNormV3')
    assert abs(bn.get_attr('epsilon') - 1e-5) < 1e-9
  else:
    # V2: the root conv and each unit's conv3/shortcut have biases, no batch norm.
    assert 'resnet/conv1/biases' in names and 'resnet/conv1/BatchNorm/gamma' not in names
    unit = 'resnet/block1/unit_1/bottleneck_v2/'
    assert {unit + 'conv3/biases', unit + 'shortcut/biases', unit + 'preact/gamma',
            unit + 'preact/moving_mean', 'resnet/postnorm/beta'} <= names
    assert unit + 'conv2/BatchNorm/gamma' in names


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_small_net_squeezed_predictions_and_unknown_batch(version):
  with tf.Graph().as_default():
    inputs = tf.placeholder(tf.float32, [None, 224, 224, 3])
    logits, end_points = small_net(version, inputs, 10, is_training=False, scope='resnet')
    assert logits.op.name == 'resnet/SpatialSqueeze'
    assert logits.shape.as_list() == [None, 10]
    assert end_points['resnet/spatial_squeeze'] is logits
    assert end_points['predictions'].op.name == 'resnet/predictions/Reshape_1'
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      probabilities = sess.run(end_points['predictions'],
                               {inputs: np.random.RandomState(0).uniform(size=(2, 224, 224, 3))})
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_small_net_fully_convolutional_shapes(graph, version):
  inputs = tf.placeholder(tf.float32, [2, 321, 321, 3])
  _, end_points = small_net(version, inputs, global_pool=False, scope='resnet')
  assert static_shapes(end_points, BLOCKS) == [
      [2, 41, 41, 4], [2, 21, 21, 8], [2, 11, 11, 16], [2, 11, 11, 32]]
  _, end_points = small_net(version, inputs, global_pool=False, output_stride=8,
                            scope='resnet', reuse=True)
  assert static_shapes(end_points, BLOCKS) == [
      [2, 41, 41, 4], [2, 41, 41, 8], [2, 41, 41, 16], [2, 41, 41, 32]]


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_small_net_without_root_block(graph, version):
  inputs = tf.placeholder(tf.float32, [2, 128, 128, 3])
  net, end_points = small_net(version, inputs, global_pool=False, include_root_block=False,
                              scope='resnet')
  assert static_shapes(end_points, BLOCKS) == [
      [2, 64, 64, 4], [2, 32, 32, 8], [2, 16, 16, 16], [2, 16, 16, 32]]
  assert 'resnet/conv1' not in end_points
  assert net.shape.as_list() == [2, 16, 16, 32]


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_small_net_unknown_height_and_width(version):
  with tf.Graph().as_default():
    inputs = tf.placeholder(tf.float32, [2, None, None, 3])
    net, _ = small_net(version, inputs, global_pool=False, is_training=False, scope='resnet')
    dense, _ = small_net(version, inputs, global_pool=False, output_stride=8, is_training=False,
                         scope='resnet', reuse=True)
    assert net.shape.as_list() == [2, None, None, 32]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      feed = {inputs: np.random.RandomState(0).uniform(size=(2, 65, 65, 3))}
      assert sess.run(net, feed).shape == (2, 3, 3, 32)
      assert sess.run(dense, feed).shape == (2, 9, 9, 32)


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_small_net_without_classes_returns_the_pooled_features(graph, version):
  inputs = tf.placeholder(tf.float32, [2, 224, 224, 3])
  for num_classes in (None, 0):
    net, end_points = small_net(version, inputs, num_classes, scope='nc%s' % num_classes)
    assert net is end_points['global_pool']
    assert net.shape.as_list() == [2, 1, 1, 32]
    assert 'predictions' not in end_points
  assert not [v for v in tf.global_variables() if '/logits/' in v.op.name]


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_output_stride_errors(graph, version):
  inputs = tf.placeholder(tf.float32, [1, 64, 64, 3])
  for bad in (6, 12, 64):  # not a multiple of 4; not reachable; beyond the nominal 32
    with pytest.raises(ValueError, match='output_stride'):
      small_net(version, inputs, output_stride=bad, scope='bad%d' % bad)
  with pytest.raises(ValueError):
    small_net(version, inputs, output_stride=6, scope='bad')


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_reuse_and_batch_norm_mode(graph, version):
  inputs = tf.placeholder(tf.float32, [1, 64, 64, 3])
  small_net(version, inputs, 10, batch_norm=True, scope='resnet')
  count = len(tf.global_variables())
  updates = len(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
  assert updates > 0  # is_training=True by default: moving statistics are updated
  small_net(version, inputs, 10, batch_norm=True, scope='resnet', reuse=True, is_training=False)
  assert len(tf.global_variables()) == count
  assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == updates
  # is_training=None leaves the mode to an enclosing arg scope.
  with slim.arg_scope([slim.batch_norm], is_training=False):
    small_net(version, inputs, 10, batch_norm=True, scope='resnet', reuse=True,
              is_training=None)
  assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == updates
  with slim.arg_scope([slim.batch_norm], is_training=True):
    small_net(version, inputs, 10, batch_norm=True, scope='resnet', reuse=True,
              is_training=None)
  assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2 * updates


def test_resnet_v1_depth_multiplier_and_min_base_depth(graph):
  inputs = tf.placeholder(tf.float32, [1, 64, 64, 3])
  with slim.arg_scope(resnet_v1.resnet_arg_scope(use_batch_norm=False)):
    _, end_points = resnet_v1.resnet_v1_50(inputs, depth_multiplier=0.125, min_base_depth=16,
                                           global_pool=False)
  # Base depths max(64 * 0.125, 16), max(128 * 0.125, 16), 32, 64 -> outputs 64, 64, 128, 256.
  assert [end_points['resnet_v1_50/block%d' % i].shape.as_list()[-1] for i in range(1, 5)] == \
      [64, 64, 128, 256]


def test_bounded_activations(graph):
  inputs = tf.placeholder(tf.float32, [1, 8, 8, 4])
  with slim.arg_scope(resnet_utils.resnet_arg_scope()):
    out = resnet_v1.bottleneck(inputs, 8, 2, 1, use_bounded_activations=True, scope='unit')
  assert out.op.type == 'Relu6'
  types = {op.name: op.type for op in graph.get_operations()}
  assert types['unit/shortcut/Relu6'] == 'Relu6'
  # The residual is clipped to [-6, 6] before the sum.
  with tf.Session() as sess:
    low = graph.get_operation_by_name('unit/clip_by_value')
    high = graph.get_operation_by_name('unit/clip_by_value/Minimum')
    assert (low.type, high.type) == ('Maximum', 'Minimum')
    assert sess.run([low.inputs[1], high.inputs[1]]) == [-6.0, 6.0]


# ----------------------------------------------------------------------------- factory variants

UNITS = {'50': (3, 4, 6, 3), '101': (3, 4, 23, 3), '152': (3, 8, 36, 3), '200': (3, 24, 36, 3)}
CLASSES = {'v1': 1000, 'v2': 1001}
# Trainable parameters of the 1000-class V1 nets (the usual ResNet-50/101/152 figures: slim's V1
# moves strides between convolutions but has the same layers).
V1_TRAINABLE = {'50': 25557032, '101': 44549160, '152': 60192808}


def _build_variant(name):
  """Builds a factory ResNet in training mode at 224, batch 1 (as build_for_manifest does)."""
  version = name.split('_')[1]
  fn = nets_factory.get_network_fn(name, num_classes=CLASSES[version], is_training=True)
  graph = tf.Graph()
  with graph.as_default():
    logits, end_points = fn(tf.placeholder(tf.float32, [1, 224, 224, 3]))
    variables = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
    trainable = int(sum(np.prod(v.shape.as_list()) for v in tf.trainable_variables()))
  return logits, end_points, variables, trainable


def _check_variant(name, built):
  version, depth = name.split('_')[1:]
  logits, end_points, variables, trainable = built
  classes = CLASSES[version]
  assert logits.op.name == name + '/SpatialSqueeze'
  assert logits.shape.as_list() == [1, classes]
  assert end_points['predictions'].op.name == name + '/predictions/Reshape_1'
  assert end_points[name + '/logits'].shape.as_list() == [1, 1, 1, classes]
  assert end_points['global_pool'].shape.as_list() == [1, 1, 1, 2048]
  blocks = ['%s/block%d' % (name, i) for i in range(1, 5)]
  assert static_shapes(end_points, blocks) == [
      [1, 28, 28, 256], [1, 14, 14, 512], [1, 7, 7, 1024], [1, 7, 7, 2048]]
  units = sum(UNITS[depth])
  # conv1; per unit conv1-3 and its output; 4 shortcuts; 4 blocks; 4 head end points.
  assert len(end_points) == 1 + 4 * units + 4 + 4 + 4
  assert variables[name + '/logits/weights'] == [1, 1, 2048, classes]
  unit = 'bottleneck_' + version
  last = '%s/block3/unit_%d/%s' % (name, UNITS[depth][2], unit)
  assert variables[last + '/conv2/weights'] == [3, 3, 256, 256]
  if version == 'v1':
    assert name + '/conv1/BatchNorm/gamma' in variables
    assert name + '/conv1/biases' not in variables
    if depth in V1_TRAINABLE:
      assert trainable == V1_TRAINABLE[depth]
  else:
    for present in ('/conv1/biases', '/postnorm/gamma', '/postnorm/moving_variance',
                    '/block1/unit_1/%s/preact/gamma' % unit,
                    '/block1/unit_1/%s/shortcut/biases' % unit,
                    '/block1/unit_1/%s/conv3/biases' % unit):
      assert name + present in variables, present
    assert name + '/conv1/BatchNorm/gamma' not in variables
  zoo_helpers.check_manifest(name, variables)


# Every depth is built and checked against its manifest: with batch norm on tf-slim's fused path
# the deepest (200 layers) takes about 8 s here.
@pytest.mark.parametrize('name', ['resnet_%s_%s' % (v, d) for v in ('v1', 'v2')
                                  for d in ('50', '101', '152', '200')])
def test_factory_variant(name):
  version = name.split('_')[1]
  spec = nets_factory.network_spec(name)
  published = None if name.endswith('_200') else CLASSES[version]
  assert (spec.checkpoint_classes, spec.preprocessing, spec.logits_scopes) == (
      published, 'vgg', (name + '/logits',))
  assert spec.fn.default_image_size == 224
  _check_variant(name, _build_variant(name))
