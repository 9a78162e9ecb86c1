"""quantize/: the tf.contrib.quantize rewrite (batch-norm folding, fake-quant insertion) on TF 2.21.

Names and numbers checked here are those of `../shared/reference/quantize.md`. Nets run at 64 px,
batch 2; the learning test trains a small conv + batch-norm net on the 8x8 digits.
"""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from foundation import internals  # noqa: F401  (before tf_slim)
import tf_slim as slim  # noqa: E402

import quantize  # noqa: E402
from nets import nets_factory  # noqa: E402
from quantize import fold_batch_norms  # noqa: E402
from quantize import ranges  # noqa: E402
from tests.conftest import shared_path  # noqa: E402

SIZE = 64
MOBILENET_V1_LAYERS = (['MobilenetV1/MobilenetV1/Conv2d_0']
                       + ['MobilenetV1/MobilenetV1/Conv2d_%d_%s' % (i, kind)
                          for i in range(1, 14) for kind in ('depthwise', 'pointwise')]
                       + ['MobilenetV1/Logits/Conv2d_1c_1x1'])


def _expected_range_names(layers):
  return sorted('%s/%s/%s' % (layer, kind, bound) for layer in layers
                for kind in ('weights_quant', 'act_quant') for bound in ('min', 'max'))


def _debias_names(layers):
  names = []
  for layer in layers:
    scope = layer + '/act_quant'
    for bound in ('min', 'max'):
      for leaf in ('biased', 'local_step'):
        names.append('%s/%s/%s/%s' % (scope, scope, bound, leaf))
  return sorted(names)


def _range_names(graph):
  with graph.as_default():
    return sorted(v.op.name for v in tf.global_variables()
                  if v.op.name.endswith(('/min', '/max')))


def _factory_net(name, is_training, images, **kwargs):
  if name.startswith('inception'):
    kwargs.setdefault('global_pool', True)
  fn = nets_factory.get_network_fn(name, 10, is_training=is_training)
  logits, _ = fn(images, **kwargs)
  return logits


def _images(seed=0, size=SIZE, batch=2):
  return np.random.RandomState(seed).rand(batch, size, size, 3).astype(np.float32)


def _new_session(graph):
  session = tf.Session(graph=graph)
  with graph.as_default():
    session.run(tf.global_variables_initializer())
  return session


# ---------------------------------------------------------------------------------------------
# Names: mobilenet_v1 against the reference; checkpoints between training and eval graphs
# ---------------------------------------------------------------------------------------------

def test_mobilenet_v1_range_variable_names_are_the_originals():
  """Section 5: 28 layers -> 112 min/max variables, under the op context (the training graph's
  112 zero-debias variables are checked on mobilenet_v1_025 below: the same scopes)."""
  with tf.Graph().as_default() as graph:
    _factory_net('mobilenet_v1', False, tf.zeros([1, SIZE, SIZE, 3]))
    quantize.create_eval_graph()
    assert _range_names(graph) == _expected_range_names(MOBILENET_V1_LAYERS)
    assert not [v for v in tf.global_variables() if 'biased' in v.op.name]
    fake_quants = [op for op in graph.get_operations() if op.type == 'FakeQuantWithMinMaxVars']
    assert len(fake_quants) == 56
    assert 'MobilenetV1/MobilenetV1/Conv2d_0/weights_quant/FakeQuantWithMinMaxVars' in [
        op.name for op in fake_quants]
    first = graph.get_operation_by_name(
        'MobilenetV1/MobilenetV1/Conv2d_0/weights_quant/FakeQuantWithMinMaxVars')
    assert first.get_attr('narrow_range') and first.get_attr('num_bits') == 8
    act = graph.get_operation_by_name(
        'MobilenetV1/MobilenetV1/Conv2d_0/act_quant/FakeQuantWithMinMaxVars')
    assert not act.get_attr('narrow_range')
    assert act.inputs[0].op.name == 'MobilenetV1/MobilenetV1/Conv2d_0/Relu6'
    assert graph.get_operation_by_name('MobilenetV1/MobilenetV1/Conv2d_0/Conv2D_Fold')
    assert graph.get_operation_by_name('MobilenetV1/MobilenetV1/Conv2d_1_depthwise/depthwise_Fold')



FOLD_MODES = ['tf1', 'single_conv']


@pytest.mark.parametrize('fold_mode', FOLD_MODES)
def test_training_checkpoint_restores_into_eval_graph(tmp_path, fold_mode):
  """A QAT checkpoint holds float vars + ranges + debias vars + the counter; eval restores it
  with no variable missing or extra."""
  prefix = str(tmp_path / 'model.ckpt')
  layers = MOBILENET_V1_LAYERS
  with tf.Graph().as_default() as graph:
    images = tf.constant(_images())
    logits = _factory_net('mobilenet_v1_025', True, images)
    float_names = set(v.op.name for v in tf.global_variables())
    loss = tf.losses.sparse_softmax_cross_entropy([1, 2], logits)
    quantize.experimental_create_training_graph(quant_delay=1, fold_mode=fold_mode)
    tf.train.get_or_create_global_step()
    # Forward runs with the batch-norm updates (the ranges learn there; no optimizer is needed
    # for the variables a training checkpoint holds, and gradients are slow to build here).
    train = [loss, tf.get_collection(tf.GraphKeys.UPDATE_OPS)]
    session = _new_session(graph)
    for _ in range(2):
      session.run(train)
    tf.train.Saver().save(session, prefix)
  stored = set(tf.train.load_checkpoint(prefix).get_variable_to_shape_map())
  expected = (float_names | {'global_step', 'fake_quantization_step'}
              | set(_expected_range_names(layers)) | set(_debias_names(layers)))
  assert stored == expected

  with tf.Graph().as_default() as graph:
    logits = _factory_net('mobilenet_v1_025', False, tf.constant(_images()))
    quantize.create_eval_graph()
    eval_names = set(v.op.name for v in tf.global_variables())
    assert eval_names <= stored  # nothing missing
    assert stored - eval_names == set(_debias_names(layers)) | {'global_step',
                                                                 'fake_quantization_step'}
    session = tf.Session(graph=graph)
    tf.train.Saver().restore(session, prefix)
    assert np.all(np.isfinite(session.run(logits)))
    learned = ranges.ranges_from_checkpoint(prefix)
    assert ranges.ranges_from_session(session) == learned
    assert len(learned) == 56
    low, high = learned['MobilenetV1/MobilenetV1/Conv2d_0/act_quant']
    assert low == 0.0 and 0.0 < high != 6.0  # learned by EMA (a ReLU6 output: min stays 0)
    low, high = learned['MobilenetV1/Logits/Conv2d_1c_1x1/act_quant']
    assert low < 0.0 < high  # logits: the moving average brought the minimum below 0


# ---------------------------------------------------------------------------------------------
# Numbers: the fold is exact before the delay, on each family; the delay switches quantisation on
# ---------------------------------------------------------------------------------------------

def _run_float_then_rewritten(build, rewrite, runs, feed=None):
  """Builds one graph (seeded), runs it `runs` times in float, rewrites it, reruns in a new session.

  The two sessions start from the same seeded initial values and random streams (dropout).
  Returns, for the float then the rewritten graph: ([outputs], [moving statistics after each run]).
  """
  results = []
  with tf.Graph().as_default() as graph:
    tf.set_random_seed(7)
    output = build()
    moving = [v for v in tf.global_variables() if 'moving_' in v.op.name]
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    for rewritten in (False, True):
      if rewritten:
        rewrite()
      session = _new_session(graph)
      outs, stats = [], []
      for _ in range(runs):
        outs.append(session.run([output, updates])[0])
        stats.append(session.run(moving))
      results.append((outs, stats))
      session.close()
  return results


FAMILIES = ['mobilenet_v1_025', 'mobilenet_v2', 'mobilenet_v3_small', 'inception_v1',
            'resnet_v1_50', 'shufflenet_v1', 'shufflenet_v2']




@pytest.mark.parametrize('fold_mode', FOLD_MODES)
@pytest.mark.parametrize('name', FAMILIES)
def test_training_rewrite_equals_float_before_the_delay(name, fold_mode):
  """Training graph (quant_delay=2): runs 0 and 1 give the float logits and the same moving
  averages (the corrected fold is exact); from run 2 the fake quantisation is on."""
  images = _images()
  (float_outs, float_moving), (q_outs, q_moving) = _run_float_then_rewritten(
      lambda: _factory_net(name, True, tf.constant(images)),
      lambda: quantize.experimental_create_training_graph(quant_delay=2, fold_mode=fold_mode),
      runs=3)
  graph_scale = np.abs(float_outs[0]).max()
  for run in (0, 1):
    np.testing.assert_allclose(q_outs[run], float_outs[run], atol=2e-4 * max(graph_scale, 1),
                               rtol=1e-3)
  assert np.abs(q_outs[2] - float_outs[2]).max() > 1e-4 * graph_scale  # quantised now
  for ours, theirs in zip(q_moving[1], float_moving[1]):  # after the last float run
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
  assert np.all(np.isfinite(q_outs[2]))


def test_atrous_depthwise_conv_folds_through_batch_to_space():
  """output_stride=8: the dilated depthwise convs are SpaceToBatchND -> depthwise ->
  BatchToSpaceND; the fold clones the BatchToSpaceND and stays exact."""
  from nets import mobilenet_v1
  images = _images()

  def build():
    with slim.arg_scope(mobilenet_v1.mobilenet_v1_arg_scope(is_training=True)):
      net, _ = mobilenet_v1.mobilenet_v1_base(tf.constant(images), depth_multiplier=0.25,
                                              output_stride=8)
    return net

  def rewrite():
    quantize.create_training_graph(quant_delay=5)
    graph = tf.get_default_graph()
    scope = 'MobilenetV1/Conv2d_7_depthwise'
    assert graph.get_operation_by_name(scope + '/BatchToSpaceND_Fold')
    assert scope + '/weights_quant' in ranges.fake_quant_scopes(graph)

  (float_outs, _), (q_outs, _) = _run_float_then_rewritten(build, rewrite, runs=1)
  scale = np.abs(float_outs[0]).max()
  np.testing.assert_allclose(q_outs[0], float_outs[0], atol=1e-4 * scale, rtol=1e-3)


@pytest.mark.parametrize('inference_only', [False, True])
@pytest.mark.parametrize('name', ['mobilenet_v1_025'])
def test_eval_fold_equals_float(name, inference_only):
  """Eval-mode fold with the moving statistics (set to random values) equals the float net:
  the quantisation rewrite's and the one evaluation applies for speed (inference_only)."""
  with tf.Graph().as_default() as graph:
    tf.set_random_seed(3)
    logits = _factory_net(name, False, tf.constant(_images()))
    rng = np.random.RandomState(0)
    values = {}
    for v in tf.global_variables():
      if v.op.name.endswith(('moving_mean', 'beta')):
        values[v] = rng.uniform(-0.2, 0.2, v.shape.as_list()).astype(np.float32)
      elif v.op.name.endswith(('moving_variance', 'gamma')):
        values[v] = rng.uniform(0.5, 1.5, v.shape.as_list()).astype(np.float32)
    outs = []
    for rewritten in (False, True):
      if rewritten:
        if inference_only:
          assert fold_batch_norms.fold_inference_batch_norms(graph) == 27
        else:
          fold_batch_norms.fold_batch_norms(graph, is_training=False)
        assert [op for op in graph.get_operations() if op.name.endswith('add_fold')]
        assert not [op for op in graph.get_operations()
                    if op.type in fold_batch_norms.FUSED_TYPES and op.outputs[0].consumers()]
      session = _new_session(graph)
      for v, value in values.items():
        v.load(value, session)
      outs.append(session.run(logits))
  scale = np.abs(outs[0]).max()
  np.testing.assert_allclose(outs[1], outs[0], atol=1e-4 * scale, rtol=1e-3)


def test_inference_fold_leaves_batch_norms_it_cannot_fold():
  """A batch norm after something other than a layer (here a ReLU) stays, without an error, and
  so does the batch norm of a 3-D convolution (I3D, S3D-G: 5-D, NDHWC)."""
  with tf.Graph().as_default() as graph:
    images = tf.constant(_images())
    with slim.arg_scope([slim.batch_norm], is_training=False, scale=True):
      net = slim.conv2d(images, 8, 3, normalizer_fn=slim.batch_norm, scope='conv1')
      net = tf.identity(slim.batch_norm(tf.nn.relu(net), scope='after_relu'))
      clip = slim.conv3d(tf.zeros([1, 4, 8, 8, 3]), 4, 3, normalizer_fn=slim.batch_norm,
                         scope='conv3d')
    assert fold_batch_norms.fold_inference_batch_norms(graph) == 1
    left = [op.name for op in graph.get_operations()
            if op.type in fold_batch_norms.FUSED_TYPES and op.outputs[0].consumers()]
    assert 'after_relu/FusedBatchNormV3' in left, left
    assert not [name for name in left if name.startswith('conv1/')], left
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      assert np.isfinite(session.run(clip)).all()
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      assert np.isfinite(session.run(net)).all()


# ---------------------------------------------------------------------------------------------
# A small net of every layer kind: unfused batch norm, fully connected + batch norm, ranges
# ---------------------------------------------------------------------------------------------

def _small_net(images, is_training, fused=None, num_classes=10):
  """conv+BN+ReLU6, separable (depthwise+BN, pointwise+BN), residual, fc+BN, logits."""
  with slim.arg_scope([slim.batch_norm], is_training=is_training, fused=fused, scale=True,
                      decay=0.9):
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d, slim.fully_connected],
                        normalizer_fn=slim.batch_norm, activation_fn=tf.nn.relu6):
      net = slim.conv2d(images, 16, 3, scope='conv1')
      net = slim.separable_conv2d(net, None, 3, depth_multiplier=1, stride=2, scope='dw2')
      net = slim.conv2d(net, 24, 1, scope='pw2')
      residual = slim.conv2d(net, 24, 3, activation_fn=None, scope='conv3')
      net = tf.nn.relu(net + residual, name='bypass_relu')
      net = tf.reduce_mean(net, [1, 2])
      net = slim.fully_connected(net, 32, scope='fc4')
      return slim.fully_connected(net, num_classes, activation_fn=None, normalizer_fn=None,
                                  scope='logits')


@pytest.mark.parametrize('fold_mode', FOLD_MODES)
@pytest.mark.parametrize('fused', [None, False])
def test_small_net_fused_and_unfused_fold_exactly(fused, fold_mode):
  images = np.random.RandomState(1).rand(4, 8, 8, 1).astype(np.float32)
  (float_outs, float_moving), (q_outs, q_moving) = _run_float_then_rewritten(
      lambda: _small_net(tf.constant(images), True, fused=fused),
      lambda: quantize.experimental_create_training_graph(quant_delay=3, fold_mode=fold_mode),
      runs=4)
  for run in range(3):
    np.testing.assert_allclose(q_outs[run], float_outs[run], atol=1e-5, rtol=1e-4)
  assert np.abs(q_outs[3] - float_outs[3]).max() > 1e-5
  for ours, theirs in zip(q_moving[2], float_moving[2]):
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
  with tf.Graph().as_default() as graph:
    _small_net(tf.constant(images), True, fused=fused)
    quantize.experimental_create_training_graph(quant_delay=3, fold_mode=fold_mode)
    scopes = ranges.fake_quant_scopes(graph)
    ops = set(op.name for op in graph.get_operations())
  expected_ops = ['conv1/Conv2D_Fold', 'dw2/depthwise_Fold', 'pw2/Conv2D_Fold', 'fc4/MatMul_Fold',
                  'fake_quantization_step/Identity', 'conv1/act_quant/activate_quant',
                  'conv1/act_quant/delayed_quant']
  # single_conv hands a fused batch norm the layer's output: the batch norm op stays, no add_fold
  if fold_mode == 'tf1' or fused is False:
    expected_ops += ['conv3/post_conv_mul', 'conv3/add_fold']
  else:
    expected_ops += ['conv3/mul_unfold', 'conv3/BatchNorm/FusedBatchNormV3']
  for name in expected_ops:
    assert name in ops, name
  for scope in ('conv1/weights_quant', 'conv1/act_quant', 'dw2/weights_quant', 'dw2/act_quant',
                'pw2/weights_quant', 'pw2/act_quant', 'conv3/weights_quant', 'conv3/conv_quant',
                'act_quant', 'fc4/weights_quant', 'fc4/act_quant', 'logits/weights_quant',
                'logits/act_quant'):
    assert scope in scopes, (scope, scopes)


def _gradients(build, rewrite, seed):
  """Gradients of a fixed projection of the logits with respect to every trainable variable, in
  a new seeded graph, with `rewrite` (or nothing) applied before the gradients are built; and the
  side of every ReLU / ReLU6 kink each activation fell on, read in the same run."""
  with tf.Graph().as_default() as graph:
    tf.set_random_seed(11)
    logits = build(seed)
    if rewrite is not None:
      rewrite()
    weights = np.random.RandomState(5).randn(*logits.shape.as_list()).astype(np.float32)
    loss = tf.reduce_sum(logits * weights)
    variables = tf.trainable_variables()
    gradients = tf.gradients(loss, variables)
    kinks = {op.name: op.inputs[0] for op in graph.get_operations()
             if op.type in ('Relu', 'Relu6') and not op.name.startswith('gradients/')}
    session = _new_session(graph)
    values, pre_activations = session.run((gradients, kinks))
    session.close()
  sides = {name: (x > 0) & (x < 6) if graph.get_operation_by_name(name).type == 'Relu6' else x > 0
           for name, x in pre_activations.items()}
  return dict(zip([v.op.name for v in variables], values)), sides


@pytest.mark.parametrize('build', [
    # seed 4 gives each net the input it was always tested on (the small net's RandomState(3))
    lambda seed: _small_net(tf.constant(np.random.RandomState(seed - 1).rand(4, 8, 8, 1).astype(
        np.float32)), True),
    lambda seed: _factory_net('mobilenet_v1_025', True, tf.constant(_images(seed=seed)),
                              dropout_keep_prob=1.0),
    lambda seed: _factory_net('shufflenet_v1', True, tf.constant(_images(seed=seed))),
], ids=['small_net', 'mobilenet_v1_025', 'shufflenet_v1'])
@pytest.mark.parametrize('fold_mode', FOLD_MODES)
def test_training_rewrite_gradients_equal_float_before_the_delay(build, fold_mode):
  """Before the delay the folded training graph (batch statistics computed by the rewrite, with
  their own gradient) gives the float graph's gradients for every weight, gamma and beta.

  A pre-activation within float round-off of a ReLU kink can fall on either side in the two
  graphs (the fold computes the same values in another order), and then that position's
  gradient differs by a whole term: seen on a 2x2 ShuffleNet stage, where it moved a beta's
  gradient by 40%. The comparison is made at the first input (of three) where every activation is
  on the same side in both graphs; the tolerance stays that of float round-off.
  """
  rewrite = lambda: quantize.experimental_create_training_graph(  # noqa: E731
      quant_delay=1000, fold_mode=fold_mode)
  flipped = {}
  for seed in (4, 5, 6):
    expected, expected_sides = _gradients(build, None, seed)
    got, got_sides = _gradients(build, rewrite, seed)
    assert set(got_sides) == set(expected_sides)
    flipped[seed] = sum(int(np.sum(got_sides[n] != expected_sides[n])) for n in expected_sides)
    if not flipped[seed]:
      break
  assert not flipped[seed], 'activations on the other side of a kink at every input: %s' % flipped
  assert set(got) == set(expected)
  overall = max(np.abs(value).max() for value in expected.values())
  for name, value in expected.items():
    # a gradient that is zero in exact arithmetic (a beta before another batch norm) is rounding
    # noise on both sides: it is compared at the scale of the largest gradient
    scale = max(np.abs(value).max(), 1e-2 * overall)
    np.testing.assert_allclose(got[name], value, atol=2e-4 * scale, rtol=2e-3, err_msg=name)


def test_eval_graph_fold_of_unfused_batch_norm_is_exact():
  images = np.random.RandomState(2).rand(4, 8, 8, 1).astype(np.float32)
  with tf.Graph().as_default() as graph:
    tf.set_random_seed(5)
    logits = _small_net(tf.constant(images), False, fused=False)
    rng = np.random.RandomState(0)
    values = {v: rng.uniform(0.5, 1.5, v.shape.as_list()).astype(np.float32)
              for v in tf.global_variables() if 'BatchNorm' in v.op.name}
    outs = []
    for rewritten in (False, True):
      if rewritten:
        fold_batch_norms.fold_batch_norms(graph, is_training=False)
      session = _new_session(graph)
      for v, value in values.items():
        v.load(value, session)
      outs.append(session.run(logits))
  np.testing.assert_allclose(outs[1], outs[0], rtol=1e-4, atol=1e-5)


def test_ranges_update_last_value_for_weights_and_debiased_ema_for_activations():
  first = np.random.RandomState(3).rand(4, 8, 8, 1).astype(np.float32)
  second = 3.0 * np.random.RandomState(4).rand(4, 8, 8, 1).astype(np.float32) - 1.0
  with tf.Graph().as_default() as graph:
    images = tf.placeholder(tf.float32, [4, 8, 8, 1])
    _small_net(images, True)
    quantize.create_training_graph()
    variables = {v.op.name: v for v in tf.global_variables()}
    # quant_delay=0: no counter variable, no select; ranges are neither trainable nor model vars
    assert 'fake_quantization_step' not in variables
    assert not [op for op in graph.get_operations() if 'delayed_quant' in op.name]
    range_vars = [v for v in tf.global_variables() if v.op.name.endswith(('/min', '/max'))]
    assert len(range_vars) == 2 * len(ranges.fake_quant_scopes(graph))
    assert not set(range_vars) & set(tf.trainable_variables() + tf.model_variables())
    session = _new_session(graph)
    get = graph.get_tensor_by_name
    weight_fold = get('conv1/mul_fold:0')
    fake_quant = graph.get_operation_by_name('conv1/act_quant/FakeQuantWithMinMaxVars')
    raw_act = fake_quant.inputs[0]
    weights_quant = graph.get_operation_by_name('conv1/weights_quant/FakeQuantWithMinMaxVars')
    assert weights_quant.inputs[0] is weight_fold
    init = session.run([variables['conv1/act_quant/min'], variables['conv1/act_quant/max'],
                        variables['conv1/weights_quant/min'],
                        variables['conv1/weights_quant/max']])
    assert init == [0.0, 6.0, -6.0, 6.0]
    minima, maxima = [], []
    for batch in (first, second):
      w, a, _ = session.run([weight_fold, raw_act, fake_quant.outputs[0]], {images: batch})
      minima.append(min(a.min(), 0.0))
      maxima.append(max(a.max(), 0.0))
      w_min, w_max = session.run([variables['conv1/weights_quant/min'],
                                  variables['conv1/weights_quant/max']])
      assert w_min == pytest.approx(min(w.min(), 0.0)) and w_max == pytest.approx(max(w.max(), 0))
    decay = 0.999
    def debiased(values):
      biased = 0.0
      for value in values:
        biased = decay * biased + (1 - decay) * value
      return biased / (1 - decay ** len(values))
    a_min, a_max = session.run([variables['conv1/act_quant/min'],
                                variables['conv1/act_quant/max']])
    # float32 debiasing divides by 1 - 0.999**n: about 3e-5 relative rounding at n = 2
    assert a_min == pytest.approx(debiased(minima), abs=1e-5)
    assert a_max == pytest.approx(debiased(maxima), rel=1e-4)
    assert a_max != pytest.approx(maxima[-1])  # not the last value
    local_step = variables['conv1/act_quant/conv1/act_quant/max/local_step']
    assert session.run(local_step) == 2.0


@pytest.mark.parametrize('fold_mode', FOLD_MODES)
def test_freeze_bn_delay_switches_to_moving_statistics(fold_mode):
  """experimental_create_training_graph(freeze_bn_delay=1): run 0 uses batch statistics, run 1
  the moving ones (the float net in inference mode), and the moving averages stop updating."""
  images = np.random.RandomState(6).rand(4, 8, 8, 1).astype(np.float32)
  with tf.Graph().as_default() as graph:
    logits = _small_net(tf.constant(images), True)
    quantize.experimental_create_training_graph(quant_delay=100, freeze_bn_delay=1,
                                                fold_mode=fold_mode)
    moving = [v for v in tf.global_variables() if 'moving_' in v.op.name]
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    session = _new_session(graph)
    session.run([logits, updates])
    values = {v.op.name: session.run(v) for v in tf.global_variables()}
    after_first = session.run(moving)
    assert not np.allclose(after_first[0], 0.0)  # run 0 did update the moving mean
    frozen_logits = session.run([logits, updates])[0]
    for before, after in zip(after_first, session.run(moving)):
      np.testing.assert_array_equal(before, after)
  with tf.Graph().as_default() as graph:  # the float net, inference mode, same values
    float_logits = _small_net(tf.constant(images), False)
    session = tf.Session(graph=graph)
    for v in tf.global_variables():
      v.load(values[v.op.name], session)
    expected = session.run(float_logits)
  np.testing.assert_allclose(frozen_logits, expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

def test_errors_name_what_cannot_be_rewritten():
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [2, 8, 8, 1])
    logits = _small_net(images, True)
    loss = tf.reduce_mean(logits)
    tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with pytest.raises(ValueError, match='before the optimizer'):
      quantize.create_training_graph()
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [2, 8, 8, 3])
    tf.nn.relu(slim.batch_norm(images, is_training=False, scope='input_norm'))
    with pytest.raises(ValueError, match='input_norm/FusedBatchNormV3'):
      quantize.create_eval_graph()
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='weight_bits'):
      quantize.experimental_create_eval_graph(weight_bits=1)
  with pytest.raises(TypeError):
    quantize.create_eval_graph(input_graph='not a graph')


def test_scope_limits_the_rewrite():
  with tf.Graph().as_default() as graph:
    _small_net(tf.placeholder(tf.float32, [2, 8, 8, 1]), False)
    quantize.experimental_create_eval_graph(scope='fc4')
    assert ranges.fake_quant_scopes(graph) == ['fc4/weights_quant', 'fc4/act_quant']
    assert graph.get_operation_by_name('conv1/BatchNorm/FusedBatchNormV3').outputs[0].consumers()


# ---------------------------------------------------------------------------------------------
# Learning on real data, and integer TFLite from the learned ranges
# ---------------------------------------------------------------------------------------------

def _load_digits():
  from PIL import Image
  root = shared_path('digits')
  images, labels = [], []
  for label in range(10):
    folder = os.path.join(root, str(label))
    for name in sorted(os.listdir(folder)):
      with Image.open(os.path.join(folder, name)) as image:
        images.append(np.asarray(image.convert('L'), dtype=np.float32) / 255.0)
      labels.append(label)
  images = np.stack(images)[..., None]
  labels = np.array(labels, dtype=np.int64)
  held_out = np.arange(len(labels)) % 5 == 0  # deterministic 80 / 20 split
  return (images[~held_out], labels[~held_out]), (images[held_out], labels[held_out])


def _train(train_set, steps, checkpoint_in, checkpoint_out, quantized, learning_rate):
  images_np, labels_np = train_set
  rng = np.random.RandomState(0)
  with tf.Graph().as_default() as graph:
    tf.set_random_seed(0)
    images = tf.placeholder(tf.float32, [64, 8, 8, 1])
    labels = tf.placeholder(tf.int64, [64])
    logits = _small_net(images, True)
    float_vars = tf.global_variables()
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    if quantized:
      quantize.create_training_graph(quant_delay=0)
    step = tf.train.get_or_create_global_step()
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
      train = tf.train.AdamOptimizer(learning_rate).minimize(loss, global_step=step)
    session = _new_session(graph)
    if checkpoint_in:
      tf.train.Saver(float_vars).restore(session, checkpoint_in)
    for _ in range(steps):
      index = rng.randint(0, len(labels_np), 64)
      session.run(train, {images: images_np[index], labels: labels_np[index]})
    tf.train.Saver().save(session, checkpoint_out)


def _eval_graph(checkpoint, quantized, batch):
  """The eval net restored from `checkpoint`; its softmax is built before the rewrite, so that it
  reads the fake-quantised logits (the rewrite reroutes only the consumers that exist)."""
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [batch, 8, 8, 1], name='input')
    logits = _small_net(images, False)
    output = tf.nn.softmax(logits, name='output')
    if quantized:
      quantize.create_eval_graph()
    session = tf.Session(graph=graph)
    tf.train.Saver().restore(session, checkpoint)
  return session, images, output


def _tflite_accuracy(session, images, output, dtype, test_images, test_labels):
  """Converts the restored eval graph to an integer TFLite model; returns (accuracy, #float
  tensors). Input 0..1 images: real = (q - mean) / std with std 255 (mean 0 for uint8, -128
  for int8). No representative data set: the ranges are the learned ones. Only the ops of the
  graph that read the fake-quant outputs are integer: the softmax is built before the rewrite."""
  converter = tf.lite.TFLiteConverter.from_session(session, [images], [output])
  if dtype == tf.int8:  # with Optimize.DEFAULT the new quantizer needs int8 (or int16) input;
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # uint8 takes the legacy path
  converter.inference_type = dtype
  converter.inference_input_type = dtype
  converter.inference_output_type = dtype
  mean = 0.0 if dtype == tf.uint8 else -128.0
  converter.quantized_input_stats = {'input': (mean, 255.0)}
  interpreter = tf.lite.Interpreter(
      model_content=converter.convert(),
      experimental_op_resolver_type=tf.lite.experimental.OpResolverType.
      BUILTIN_WITHOUT_DEFAULT_DELEGATES)
  interpreter.allocate_tensors()
  floats = [d['name'] for d in interpreter.get_tensor_details() if d['dtype'] == np.float32]
  input_detail = interpreter.get_input_details()[0]
  output_detail = interpreter.get_output_details()[0]
  assert input_detail['dtype'] == output_detail['dtype'] == dtype.as_numpy_dtype
  info = np.iinfo(dtype.as_numpy_dtype)
  correct = 0
  for image, label in zip(test_images, test_labels):
    quantized = np.clip(np.round(image * 255.0 + mean), info.min, info.max)
    interpreter.set_tensor(input_detail['index'], quantized[None].astype(info.dtype))
    interpreter.invoke()
    correct += int(np.argmax(interpreter.get_tensor(output_detail['index'])) == label)
  return correct / len(test_labels), floats


def test_qat_on_digits_keeps_float_accuracy_and_converts_to_integer_tflite(tmp_path):
  """Float training, QAT fine-tuning from it, then the QAT eval graph and its integer TFLite
  models (uint8 with the learned ranges; int8 after widening the weight ranges to symmetric)
  keep the float accuracy on held-out digits."""
  train_set, (test_images, test_labels) = _load_digits()
  float_ckpt, qat_ckpt = str(tmp_path / 'float.ckpt'), str(tmp_path / 'qat.ckpt')
  _train(train_set, 500, None, float_ckpt, quantized=False, learning_rate=0.01)
  _train(train_set, 200, float_ckpt, qat_ckpt, quantized=True, learning_rate=0.001)

  def probabilities(checkpoint, quantized):
    session, images, output = _eval_graph(checkpoint, quantized, len(test_labels))
    return session.run(output, {images: test_images})

  float_accuracy = np.mean(probabilities(float_ckpt, False).argmax(1) == test_labels)
  qat_probabilities = probabilities(qat_ckpt, True)
  qat_accuracy = np.mean(qat_probabilities.argmax(1) == test_labels)
  assert float_accuracy > 0.93, float_accuracy
  assert qat_accuracy >= float_accuracy - 0.02, (qat_accuracy, float_accuracy)
  # The same QAT weights without fake quantisation (float graph): within quantisation error.
  unquantized = probabilities(qat_ckpt, False)
  assert np.abs(unquantized - qat_probabilities).mean() < 0.02
  assert np.mean(unquantized.argmax(1) == qat_probabilities.argmax(1)) > 0.97

  session, images, output = _eval_graph(qat_ckpt, True, 1)
  uint8_accuracy, floats = _tflite_accuracy(session, images, output, tf.uint8, test_images,
                                            test_labels)
  assert not floats, floats  # fully integer
  assert ranges.make_weight_ranges_symmetric(session) > 0
  int8_accuracy, floats = _tflite_accuracy(session, images, output, tf.int8, test_images,
                                           test_labels)
  assert not floats, floats
  print('held-out accuracy: float %.4f, QAT graph %.4f, uint8 TFLite %.4f, int8 TFLite %.4f'
        % (float_accuracy, qat_accuracy, uint8_accuracy, int8_accuracy))
  assert uint8_accuracy >= qat_accuracy - 0.01, (uint8_accuracy, qat_accuracy)
  assert int8_accuracy >= qat_accuracy - 0.01, (int8_accuracy, qat_accuracy)


def test_int8_tflite_from_symmetric_qat_graph(tmp_path):
  """experimental_create_training_graph(symmetric=True) learns int8-ready weight ranges."""
  with tf.Graph().as_default() as graph:
    images = tf.placeholder(tf.float32, [8, 8, 8, 1])
    logits = _small_net(images, True)
    quantize.experimental_create_training_graph(symmetric=True)
    session = _new_session(graph)
    for seed in range(3):
      session.run(logits, {images: np.random.RandomState(seed).rand(8, 8, 8, 1)})
    learned = ranges.ranges_from_session(session)
    tf.train.Saver().save(session, str(tmp_path / 'sym.ckpt'))
  for scope, (low, high) in learned.items():
    if scope.endswith('weights_quant'):
      assert low == -high and high > 0, (scope, low, high)
  session, images, output = _eval_graph(str(tmp_path / 'sym.ckpt'), True, 1)
  with session.graph.as_default():
    assert ranges.make_weight_ranges_symmetric(session) == 0
