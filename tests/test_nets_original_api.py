"""Network-side names of the original that user code reaches for (issue 16): group-norm MobileNets,
`global_pool`, `trunc_normal`, `resnet_v1.NoOpScope` and the arg-scope / layers module aliases.

Each test uses the name as code written against slim does: build a net, enter a scope, make an
initializer, and checks what comes out (variables, shapes, values).
"""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from foundation import internals  # noqa: F401  (before tf_slim)
import tf_slim as slim  # noqa: E402

from nets import alexnet  # noqa: E402
from nets import cifarnet  # noqa: E402
from nets import i3d  # noqa: E402
from nets import i3d_utils  # noqa: E402
from nets import inception_v1  # noqa: E402
from nets import overfeat  # noqa: E402
from nets import resnet_v1  # noqa: E402
from nets import s3dg  # noqa: E402
from nets.mobilenet import mobilenet as mobilenet_lib  # noqa: E402
from nets.mobilenet import mobilenet_v2  # noqa: E402
from nets.mobilenet import mobilenet_v3  # noqa: E402
from nets.nasnet import nasnet  # noqa: E402
from nets.nasnet import nasnet_utils  # noqa: E402
from nets.nasnet import pnasnet  # noqa: E402


def _variable_names():
  return [v.op.name for v in tf.global_variables()]


def _normalizer_scopes(names, kind):
  """The layer scopes owning a `<kind>` (BatchNorm / GroupNorm) sub-scope."""
  return {name.split('/' + kind + '/')[0] for name in names if '/' + kind + '/' in name}


def _group_counts(graph):
  """Number of groups of every group norm in the graph (the group axis of its moments)."""
  return {op.outputs[0].get_shape().as_list()[-2] for op in graph.get_operations()
          if op.name.endswith('GroupNorm/moments/mean')}


# ---------------------------------------------------------------------------------------------
# Group-norm MobileNets
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('variant', ['small', 'large'])
def test_v3_use_groupnorm_puts_group_norm_where_batch_norm_was(variant):
  net_fn = getattr(mobilenet_v3, variant)
  with tf.Graph().as_default():
    net_fn(tf.placeholder(tf.float32, [2, 64, 64, 3]), num_classes=10)
    batch_norm_names = _variable_names()
  with tf.Graph().as_default() as graph:
    logits, end_points = net_fn(tf.placeholder(tf.float32, [2, 64, 64, 3]), num_classes=10,
                                use_groupnorm=True)
    names = _variable_names()
  assert logits.get_shape().as_list() == [2, 10]
  assert end_points['Predictions'].get_shape().as_list() == [2, 10]
  assert not [n for n in names if 'BatchNorm' in n]
  group_norm_scopes = _normalizer_scopes(names, 'GroupNorm')
  assert group_norm_scopes == _normalizer_scopes(batch_norm_names, 'BatchNorm')
  assert 'MobilenetV3/Conv/GroupNorm/gamma' in names
  assert 'MobilenetV3/expanded_conv_1/project/GroupNorm/beta' in names
  assert _group_counts(graph) == {8}


def test_v3_groups_keyword_sets_the_number_of_groups_and_leaves_the_defaults_alone():
  with tf.Graph().as_default() as graph:
    mobilenet_v3.mobilenet(tf.placeholder(tf.float32, [1, 64, 64, 3]), num_classes=5,
                           conv_defs=mobilenet_v3.V3_SMALL_MINIMALISTIC, use_groupnorm=True,
                           groups=4)
    assert _group_counts(graph) == {4}
  assert mobilenet_v3.DEFAULTS_GROUP_NORM[(slim.group_norm,)] == {'groups': 8}
  assert mobilenet_v3.V3_SMALL_MINIMALISTIC['defaults'] == mobilenet_v3.DEFAULTS


def test_v3_groups_without_use_groupnorm_is_an_unknown_argument():
  with tf.Graph().as_default():
    with pytest.raises(TypeError, match='groups'):
      mobilenet_v3.small(tf.placeholder(tf.float32, [1, 64, 64, 3]), groups=4)


def test_v3_group_norm_net_trains_one_step():
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    images = tf.constant(np.random.RandomState(0).rand(2, 32, 32, 3), tf.float32)
    with slim.arg_scope(mobilenet_v3.training_scope(is_training=True)):
      logits, _ = mobilenet_v3.small_minimalistic(images, num_classes=3, use_groupnorm=True)
    loss = tf.losses.sparse_softmax_cross_entropy(tf.constant([0, 2]), logits)
    step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      before = sess.run(loss)
      sess.run(step)
      assert np.isfinite(before) and np.isfinite(sess.run(loss))


def test_v2_base_group_norm():
  with tf.Graph().as_default() as graph:
    net, end_points = mobilenet_v2.mobilenet_base_group_norm(
        tf.placeholder(tf.float32, [2, 96, 96, 3]))
    names = _variable_names()
  assert net.get_shape().as_list() == [2, 3, 3, 1280]
  assert end_points['layer_19'] is net
  assert 'Logits' not in end_points
  assert not [n for n in names if 'BatchNorm' in n or '/Logits/' in n]
  assert {'MobilenetV2/Conv', 'MobilenetV2/expanded_conv/depthwise', 'MobilenetV2/Conv_1',
          'MobilenetV2/expanded_conv_16/expand'} <= _normalizer_scopes(names, 'GroupNorm')
  assert _group_counts(graph) == {8}


def test_v2_base_group_norm_groups_and_multiplier():
  with tf.Graph().as_default() as graph:
    net, _ = mobilenet_v2.mobilenet_base_group_norm(
        tf.placeholder(tf.float32, [1, 64, 64, 3]), depth_multiplier=0.5, groups=2)
    assert _group_counts(graph) == {2}
  assert net.get_shape().as_list() == [1, 2, 2, 640]
  # Building did not write the group count into the shared definition.
  assert (slim.group_norm,) not in mobilenet_v2.V2_DEF_GROUP_NORM['defaults']


def test_v2_def_group_norm_is_v2_def_with_group_norm():
  group_def = mobilenet_v2.V2_DEF_GROUP_NORM
  assert group_def['spec'] == mobilenet_v2.V2_DEF['spec']
  defaults = group_def['defaults']
  conv = defaults[(slim.conv2d, slim.fully_connected, slim.separable_conv2d)]
  assert conv == {'normalizer_fn': slim.group_norm, 'activation_fn': tf.nn.relu6}
  block = defaults[(mobilenet_v2.ops.expanded_conv,)]
  assert block['normalizer_fn'] is slim.group_norm
  assert block['split_expansion'] == 1 and block['residual'] is True
  assert defaults[(slim.conv2d, slim.separable_conv2d)] == {'padding': 'SAME'}
  assert (slim.batch_norm,) not in defaults


def test_v3_defaults_group_norm():
  defaults = mobilenet_v3.DEFAULTS_GROUP_NORM
  assert defaults == {
      (mobilenet_v3.ops.expanded_conv,): {'normalizer_fn': slim.group_norm, 'residual': True},
      (slim.conv2d, slim.fully_connected, slim.separable_conv2d): {
          'normalizer_fn': slim.group_norm, 'activation_fn': tf.nn.relu},
      (slim.group_norm,): {'groups': 8},
  }
  # Made from DEFAULTS without changing it.
  assert mobilenet_v3.DEFAULTS[(slim.conv2d, slim.fully_connected, slim.separable_conv2d)][
      'normalizer_fn'] is slim.batch_norm


def test_set_group_norm_groups_copies():
  copied = mobilenet_lib.set_group_norm_groups(mobilenet_v2.V2_DEF_GROUP_NORM, 16)
  assert copied['defaults'][(slim.group_norm,)] == {'groups': 16}
  assert copied is not mobilenet_v2.V2_DEF_GROUP_NORM
  assert (slim.group_norm,) not in mobilenet_v2.V2_DEF_GROUP_NORM['defaults']


# ---------------------------------------------------------------------------------------------
# global_pool
# ---------------------------------------------------------------------------------------------

def test_global_pool_reduce_mean_equals_the_average_pool():
  values = np.random.RandomState(1).randn(2, 5, 7, 3).astype(np.float32)
  with tf.Graph().as_default():
    inputs = tf.constant(values)
    pooled = mobilenet_lib.global_pool(inputs)
    by_mean = mobilenet_lib.global_pool(inputs, use_reduce_mean_for_pooling=True)
    by_max = mobilenet_lib.global_pool(inputs, pool_op=tf.nn.max_pool2d)
    unknown = tf.placeholder(tf.float32, [None, None, None, 3])
    pooled_unknown = mobilenet_lib.global_pool(unknown)
    assert pooled.op.type == 'AvgPool' and by_mean.op.type == 'Mean'
    assert pooled_unknown.get_shape().as_list() == [None, 1, 1, 3]
    with tf.Session() as sess:
      results = sess.run([pooled, by_mean, by_max, pooled_unknown], {unknown: values})
  expected = values.mean(axis=(1, 2), keepdims=True)
  assert results[0].shape == (2, 1, 1, 3)
  np.testing.assert_allclose(results[0], expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(results[3], expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(results[2], values.max(axis=(1, 2), keepdims=True))


def test_mobilenet_head_pooled_by_mean_gives_the_same_logits():
  images = np.random.RandomState(2).rand(2, 48, 48, 3).astype(np.float32)
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    inputs = tf.constant(images)
    logits, _ = mobilenet_v2.mobilenet(inputs, num_classes=7, depth_multiplier=0.35)
    logits_mean, end_points = mobilenet_v2.mobilenet(
        inputs, num_classes=7, depth_multiplier=0.35, reuse=True,
        use_reduce_mean_for_pooling=True)
    assert end_points['global_pool'].op.type == 'Mean'
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      a, b = sess.run([logits, logits_mean])
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# trunc_normal, NoOpScope, module aliases
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('module', [alexnet, cifarnet, i3d, inception_v1, overfeat],
                         ids=lambda m: m.__name__)
def test_trunc_normal_is_a_truncated_normal_initializer_of_stddev(module):
  with tf.Graph().as_default():
    tf.set_random_seed(3)
    variable = tf.get_variable('w', [20000], initializer=module.trunc_normal(0.05))
    with tf.Session() as sess:
      sess.run(variable.initializer)
      values = sess.run(variable)
  assert np.abs(values).max() <= 2 * 0.05
  assert abs(values.mean()) < 0.002
  # A normal cut at two standard deviations keeps 0.88 of its spread.
  assert abs(values.std() - 0.05 * 0.8796) < 0.002


def test_no_op_scope_changes_nothing_and_lets_errors_through():
  with slim.arg_scope([slim.conv2d], padding='VALID'):
    outside = slim.current_arg_scope()
    with resnet_v1.NoOpScope() as entered:
      assert entered is None
      assert slim.current_arg_scope() == outside
  with pytest.raises(KeyError):
    with resnet_v1.NoOpScope():
      raise KeyError('not swallowed')


def test_no_op_scope_as_the_batch_norm_scope_when_is_training_is_none():
  def bn_scope(is_training):
    if is_training is None:
      return resnet_v1.NoOpScope()
    return slim.arg_scope([slim.batch_norm], is_training=is_training)

  with tf.Graph().as_default():
    inputs = tf.placeholder(tf.float32, [1, 4, 4, 2])
    with slim.arg_scope([slim.batch_norm], is_training=False):
      with bn_scope(None):
        kept = slim.batch_norm(inputs, scope='kept')
      with bn_scope(True):
        training = slim.batch_norm(inputs, scope='training')
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
  assert kept.op.name.startswith('kept/') and training.op.name.startswith('training/')
  # Only the training-mode batch norm updates its moving statistics.
  assert update_ops and all(op.name.startswith('training/') for op in update_ops)


@pytest.mark.parametrize('module', [nasnet, nasnet_utils, pnasnet, s3dg],
                         ids=lambda m: m.__name__)
def test_module_arg_scope_alias_sets_layer_defaults(module):
  @i3d_utils.add_arg_scope
  def scaled(x, factor=1):
    return x * factor

  with module.arg_scope([scaled], factor=3):
    assert scaled(2) == 6
  assert scaled(2) == 2
  with tf.Graph().as_default():
    with module.arg_scope([slim.conv2d], padding='VALID'):
      net = slim.conv2d(tf.placeholder(tf.float32, [1, 9, 9, 2]), 4, [3, 3])
  assert net.get_shape().as_list() == [1, 7, 7, 4]


def test_i3d_utils_layers_builds_slim_layers():
  with tf.Graph().as_default():
    with slim.arg_scope([i3d_utils.layers.conv3d], padding='VALID'):
      net = i3d_utils.layers.conv3d(tf.placeholder(tf.float32, [1, 4, 6, 6, 2]), 3, [2, 3, 3],
                                    scope='c3d')
    names = _variable_names()
  assert net.get_shape().as_list() == [1, 3, 4, 4, 3]
  assert names == ['c3d/weights', 'c3d/biases']
  assert i3d_utils.layers.batch_norm is slim.batch_norm
