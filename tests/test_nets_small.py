"""LeNet, CifarNet, AlexNet v2, OverFeat and VGG: end points, shapes, heads, names, manifests.

LeNet and CifarNet are small enough to run; the others are only built (static shapes), except one
batch-1 forward pass of AlexNet.
"""
import numpy as np
import pytest

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import alexnet
from nets import cifarnet
from nets import lenet
from nets import nets_factory
from nets import overfeat
from nets import vgg
from tests import zoo_helpers


def _shapes(end_points):
  return {k: v.shape.as_list() for k, v in end_points.items()}


def _build(fn, arg_scope, shape, **kwargs):
  """Builds fn on a placeholder in the default graph under its arg scope."""
  images = tf.placeholder(tf.float32, shape)
  with slim.arg_scope(arg_scope()):
    return fn(images, **kwargs)


# ----------------------------------------------------------------------------- LeNet, CifarNet

LENET_SHAPES = {
    'conv1': [2, 28, 28, 32], 'pool1': [2, 14, 14, 32], 'conv2': [2, 14, 14, 64],
    'pool2': [2, 7, 7, 64], 'Flatten': [2, 3136], 'fc3': [2, 1024], 'dropout3': [2, 1024],
    'Logits': [2, 10], 'Predictions': [2, 10]}

CIFARNET_SHAPES = {
    'conv1': [2, 32, 32, 64], 'pool1': [2, 16, 16, 64], 'conv2': [2, 16, 16, 64],
    'pool2': [2, 8, 8, 64], 'Flatten': [2, 4096], 'fc3': [2, 384], 'fc4': [2, 192],
    'Logits': [2, 10], 'Predictions': [2, 10]}


def test_lenet_end_points_and_predictions_outside_scope(graph):
  logits, end_points = _build(lenet.lenet, lenet.lenet_arg_scope, [2, 28, 28, 1])
  assert _shapes(end_points) == LENET_SHAPES
  assert logits.op.name == 'LeNet/fc4/BiasAdd'
  # The softmax is created after leaving the LeNet scope, as in the original export graphs.
  assert end_points['Predictions'].op.name == 'Predictions/Reshape_1'
  assert lenet.lenet.default_image_size == 28


def test_cifarnet_end_points_and_names(graph):
  logits, end_points = _build(cifarnet.cifarnet, cifarnet.cifarnet_arg_scope, [2, 32, 32, 3])
  assert _shapes(end_points) == CIFARNET_SHAPES
  assert logits.op.name == 'CifarNet/logits/BiasAdd'
  assert end_points['Predictions'].op.name == 'CifarNet/Predictions/Reshape_1'
  assert graph.get_operation_by_name('CifarNet/norm1').type == 'LRN'
  assert graph.get_operation_by_name('CifarNet/norm2').type == 'LRN'
  assert cifarnet.cifarnet.default_image_size == 32


def test_cifarnet_regularises_hidden_fully_connected_layers_only(graph):
  _build(cifarnet.cifarnet, cifarnet.cifarnet_arg_scope, [1, 32, 32, 3])
  regularised = sorted(l.op.name.split('/')[1] for l in tf.losses.get_regularization_losses())
  assert regularised == ['fc3', 'fc4']


def test_lenet_default_weight_decay_adds_no_loss(graph):
  _build(lenet.lenet, lenet.lenet_arg_scope, [1, 28, 28, 1])
  assert tf.losses.get_regularization_losses() == []


@pytest.mark.parametrize('num_classes', [0, None])
def test_without_classes_return_the_features(graph, num_classes):
  net, end_points = _build(lenet.lenet, lenet.lenet_arg_scope, [2, 28, 28, 1],
                           num_classes=num_classes)
  assert net is end_points['fc3'] and 'Logits' not in end_points
  assert 'dropout3' not in end_points  # features are taken before dropout
  net, end_points = _build(cifarnet.cifarnet, cifarnet.cifarnet_arg_scope, [2, 32, 32, 3],
                           num_classes=num_classes)
  assert net is end_points['fc4'] and 'Logits' not in end_points
  assert not [v for v in tf.global_variables()
              if v.op.name.startswith(('LeNet/fc4/', 'CifarNet/logits/'))]


@pytest.mark.parametrize('fn, arg_scope, size', [
    (lenet.lenet, lenet.lenet_arg_scope, 28),
    (cifarnet.cifarnet, cifarnet.cifarnet_arg_scope, 32)])
def test_dropout_only_in_training_and_eval_is_deterministic(fn, arg_scope, size):
  with tf.Graph().as_default():
    images = tf.constant(np.random.RandomState(0).uniform(size=(2, size, size, 3)), tf.float32)
    with slim.arg_scope(arg_scope()):
      eval_logits, _ = fn(images)  # is_training defaults to False
      train_logits, _ = fn(images, is_training=True, dropout_keep_prob=0.5, scope='Train')
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      first, second = sess.run(eval_logits), sess.run(eval_logits)
      np.testing.assert_array_equal(first, second)
      assert np.abs(first).sum() > 0
      train_a, train_b = sess.run([train_logits, train_logits])  # one run: same sample
      np.testing.assert_array_equal(train_a, train_b)
      assert not np.array_equal(sess.run(train_logits), sess.run(train_logits))


def test_cifarnet_reuse(graph):
  images = tf.placeholder(tf.float32, [1, 32, 32, 3])
  with slim.arg_scope(cifarnet.cifarnet_arg_scope()):
    cifarnet.cifarnet(images)
    count = len(tf.global_variables())
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
      cifarnet.cifarnet(images)
  assert count == 10 and len(tf.global_variables()) == count


# ----------------------------------------------------------------------------- AlexNet, OverFeat

ALEXNET_END_POINTS = ['alexnet_v2/' + n for n in (
    'conv1', 'pool1', 'conv2', 'pool2', 'conv3', 'conv4', 'conv5', 'pool5', 'fc6', 'fc7', 'fc8')]
OVERFEAT_END_POINTS = ['overfeat/' + n for n in (
    'conv1', 'pool1', 'conv2', 'pool2', 'conv3', 'conv4', 'conv5', 'pool5', 'fc6', 'fc7', 'fc8')]

# (module function, arg scope, default size, larger size, logits map at the larger size, end points)
FC_CONV_NETS = {
    'alexnet_v2': (alexnet.alexnet_v2, alexnet.alexnet_v2_arg_scope, 224, (300, 400), (4, 7),
                   ALEXNET_END_POINTS),
    'overfeat': (overfeat.overfeat, overfeat.overfeat_arg_scope, 231, (281, 281), (2, 2),
                 OVERFEAT_END_POINTS),
}


@pytest.mark.parametrize('name', sorted(FC_CONV_NETS))
def test_fc_conv_net_heads(name):
  fn, arg_scope, size, (height, width), logits_map, names = FC_CONV_NETS[name]
  assert fn.default_image_size == size
  with tf.Graph().as_default():
    logits, end_points = _build(fn, arg_scope, [3, size, size, 3])
    assert logits.op.name == name + '/fc8/squeezed'
    assert logits.shape.as_list() == [3, 1000]
    assert sorted(end_points) == sorted(names)
    assert end_points[name + '/fc8'] is logits
    assert end_points[name + '/fc7'].shape.as_list() == [3, 1, 1, 4096]
  with tf.Graph().as_default():
    logits, _ = _build(fn, arg_scope, [1, height, width, 3], spatial_squeeze=False)
    assert logits.op.name == name + '/fc8/BiasAdd'
    assert logits.shape.as_list() == [1] + list(logits_map) + [1000]
  with tf.Graph().as_default():
    logits, end_points = _build(fn, arg_scope, [1, height, width, 3], spatial_squeeze=False,
                                global_pool=True)
    assert logits.shape.as_list() == [1, 1, 1, 1000]
    assert end_points['global_pool'].shape.as_list() == [1, 1, 1, 4096]


@pytest.mark.parametrize('name', sorted(FC_CONV_NETS))
def test_fc_conv_net_without_classes_and_reuse(name):
  fn, arg_scope, size, (height, width), _, _ = FC_CONV_NETS[name]
  with tf.Graph().as_default():
    net, end_points = _build(fn, arg_scope, [2, size, size, 3], num_classes=None)
    assert net.op.name == name + '/fc7/Relu'
    assert net.shape.as_list() == [2, 1, 1, 4096]
    assert name + '/fc8' not in end_points
    assert not [v for v in tf.global_variables() if '/fc8/' in v.op.name]
    count = len(tf.global_variables())
    # A larger input reuses the same variables (the head is convolutional).
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
      _build(fn, arg_scope, [1, height, width, 3], num_classes=None, spatial_squeeze=False)
    assert len(tf.global_variables()) == count


def test_alexnet_variables_and_forward_pass():
  with tf.Graph().as_default():
    images = tf.constant(np.random.RandomState(1).uniform(size=(1, 224, 224, 3)), tf.float32)
    with slim.arg_scope(alexnet.alexnet_v2_arg_scope()):
      logits, _ = alexnet.alexnet_v2(images, num_classes=10, is_training=False)
    names = [v.op.name for v in slim.get_model_variables()]
    assert names == ['alexnet_v2/%s/%s' % (layer, kind)
                     for layer in ('conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'fc8')
                     for kind in ('weights', 'biases')]
    # Biases start at 0.1 except fc8's (0): the arg scope and the head override are both in force.
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      by_name = {v.op.name: v for v in tf.global_variables()}
      fc7_biases, fc8_biases = sess.run(
          [by_name['alexnet_v2/fc7/biases'], by_name['alexnet_v2/fc8/biases']])
      np.testing.assert_allclose(fc7_biases, 0.1)
      np.testing.assert_array_equal(fc8_biases, 0.0)
      output = sess.run(logits)
    assert output.shape == (1, 10) and np.abs(output).sum() > 0


# ----------------------------------------------------------------------------- VGG

VGG_REPEATS = {'vgg_a': (1, 1, 2, 2, 2), 'vgg_16': (2, 2, 3, 3, 3), 'vgg_19': (2, 2, 4, 4, 4)}


def _vgg_conv_layers(name):
  return ['%s/conv%d/conv%d_%d' % (name, stage, stage, i)
          for stage, repeat in enumerate(VGG_REPEATS[name], start=1)
          for i in range(1, repeat + 1)]


@pytest.fixture(scope='module', params=sorted(VGG_REPEATS))
def vgg_built(request):
  """A VGG classifier at 224, batch 1, built once per variant."""
  name = request.param
  # Built through the factory in training mode, as zoo_helpers.build_for_manifest does, so the
  # same graph also serves the checkpoint manifest test.
  fn = nets_factory.get_network_fn(name, num_classes=1000, is_training=True)
  graph = tf.Graph()
  with graph.as_default():
    logits, end_points = fn(tf.placeholder(tf.float32, [1, 224, 224, 3]))
    variables = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
  return name, logits, end_points, variables


def test_vgg_checkpoint_manifest(vgg_built):
  name, _, _, variables = vgg_built
  zoo_helpers.check_manifest(name, variables)


def test_vgg_logits_end_points_and_variables(vgg_built):
  name, logits, end_points, variables = vgg_built
  assert logits.op.name == name + '/fc8/squeezed'
  assert logits.shape.as_list() == [1, 1000]
  convs = _vgg_conv_layers(name)
  pools = ['%s/pool%d' % (name, i) for i in range(1, 6)]
  fcs = ['%s/fc6' % name, '%s/fc7' % name, '%s/fc8' % name]
  assert sorted(end_points) == sorted(convs + pools + fcs)
  assert end_points[name + '/fc8'] is logits
  assert end_points[name + '/pool5'].shape.as_list() == [1, 7, 7, 512]
  assert end_points[name + '/fc7'].shape.as_list() == [1, 1, 1, 4096]
  assert sorted(variables) == sorted(
      '%s/%s' % (layer, kind) for layer in convs + fcs for kind in ('weights', 'biases'))
  assert variables[name + '/fc6/weights'] == [7, 7, 512, 4096]


def test_vgg_aliases_and_sizes():
  assert vgg.vgg_d is vgg.vgg_16 and vgg.vgg_e is vgg.vgg_19
  assert all(getattr(vgg, n).default_image_size == 224 for n in VGG_REPEATS)


def test_vgg_fully_convolutional_uses(graph):
  logits, _ = _build(vgg.vgg_a, vgg.vgg_arg_scope, [1, 256, 256, 3], spatial_squeeze=False)
  assert logits.op.name == 'vgg_a/fc8/BiasAdd'
  assert logits.shape.as_list() == [1, 2, 2, 1000]
  logits, end_points = _build(vgg.vgg_a, vgg.vgg_arg_scope, [1, 256, 256, 3],
                              spatial_squeeze=False, global_pool=True, scope='pooled')
  assert logits.shape.as_list() == [1, 1, 1, 1000]
  assert end_points['global_pool'].shape.as_list() == [1, 1, 1, 4096]
  # SAME fc6 keeps a dense map of input / 32.
  net, _ = _build(vgg.vgg_a, vgg.vgg_arg_scope, [1, 224, 224, 3], num_classes=None,
                  fc_conv_padding='SAME', scope='dense')
  assert net.shape.as_list() == [1, 7, 7, 4096]


def test_vgg_without_classes_and_reuse(graph):
  net, end_points = _build(vgg.vgg_16, vgg.vgg_arg_scope, [1, 224, 224, 3], num_classes=0)
  assert net.op.name == 'vgg_16/fc7/Relu' and net.shape.as_list() == [1, 1, 1, 4096]
  assert 'vgg_16/fc8' not in end_points
  count = len(tf.global_variables())
  _build(vgg.vgg_16, vgg.vgg_arg_scope, [1, 256, 256, 3], num_classes=0, reuse=True)
  assert len(tf.global_variables()) == count == 30


def test_vgg_dropout_follows_is_training(graph):
  def random_ops(prefix):
    return [op.name for op in graph.get_operations()
            if op.name.startswith(prefix) and op.type == 'RandomUniform']
  _build(vgg.vgg_a, vgg.vgg_arg_scope, [1, 224, 224, 3], is_training=False)
  assert random_ops('vgg_a/dropout') == []
  _build(vgg.vgg_a, vgg.vgg_arg_scope, [1, 224, 224, 3], is_training=True, scope='train')
  assert len(random_ops('train/dropout6/')) == 1 and len(random_ops('train/dropout7/')) == 1


# ----------------------------------------------------------------------------- factory, manifests

SMALL_FACTORY_ROWS = {
    # name: (checkpoint classes, preprocessing, logits scopes)
    'lenet': (None, 'lenet', ('LeNet/fc4',)),
    'cifarnet': (None, 'cifarnet', ('CifarNet/logits',)),
    'alexnet_v2': (None, 'vgg', ('alexnet_v2/fc8',)),
    'overfeat': (None, 'vgg', ('overfeat/fc8',)),
    'vgg_a': (None, 'vgg', ('vgg_a/fc8',)),
    'vgg_16': (1000, 'vgg', ('vgg_16/fc8',)),
    'vgg_19': (1000, 'vgg', ('vgg_19/fc8',)),
}


@pytest.mark.parametrize('name', sorted(SMALL_FACTORY_ROWS))
def test_factory_rows(name):
  spec = nets_factory.network_spec(name)
  assert (spec.checkpoint_classes, spec.preprocessing, spec.logits_scopes) == \
      SMALL_FACTORY_ROWS[name]
  assert nets_factory.networks_map[name] is spec.fn


@pytest.mark.parametrize('name, classes', [('cifarnet', 10), ('alexnet_v2', 1000),
                                           ('overfeat', 1000)])
def test_checkpoint_manifest(name, classes):
  variables = zoo_helpers.build_for_manifest(name, classes)
  logits_scope = SMALL_FACTORY_ROWS[name][2][0]
  assert any(v.startswith(logits_scope + '/') for v in variables)
  zoo_helpers.check_manifest(name, variables)


def test_lenet_checkpoint_manifest_for_grey_digits(graph):
  # LeNet is trained on MNIST, whose decoder yields one channel: conv1 weights are 5x5x1x32.
  fn = nets_factory.get_network_fn('lenet', num_classes=10, is_training=True)
  fn(tf.placeholder(tf.float32, [1, 28, 28, 1]))
  variables = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
  assert variables['LeNet/conv1/weights'] == [5, 5, 1, 32]
  zoo_helpers.check_manifest('lenet', variables)


def test_factory_network_fn_passes_classes_and_mode(graph):
  fn = nets_factory.get_network_fn('cifarnet', num_classes=7, weight_decay=0.5, is_training=True)
  assert fn.default_image_size == 32
  logits, end_points = fn(tf.placeholder(tf.float32, [4, 32, 32, 3]))
  assert logits.shape.as_list() == [4, 7]
  assert [op for op in graph.get_operations() if op.name.startswith('CifarNet/dropout3/')]
