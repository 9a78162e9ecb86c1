"""ShuffleNet V1 and V2: end points, variables, cost against the papers, channel shuffle, head options.

Multiply-adds are counted by `image_classifier.model_stats.multiply_adds`: the sum over the graph's Conv2D,
DepthwiseConv2dNative and MatMul ops of (output elements x multiplications per element), from
static op shapes at batch 1 -- what both papers call FLOPs. Batch norm, relu, pooling and additions
are not counted. Parameters are the trainable variables (weights, batch-norm gamma/beta, logits
biases).
"""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import nets_factory
from nets import shufflenet_utils
from nets import shufflenet_v1
from nets import shufflenet_v2
from image_classifier import model_stats
from foundation.errors import UserError
from tests import zoo_helpers

# name -> (family, groups, width), as registered in nets_factory.
REGISTERED = {
    'shufflenet_v1': ('v1', 3, 1.0),
    'shufflenet_v1_g1': ('v1', 1, 1.0),
    'shufflenet_v1_g2': ('v1', 2, 1.0),
    'shufflenet_v1_g4': ('v1', 4, 1.0),
    'shufflenet_v1_g8': ('v1', 8, 1.0),
    'shufflenet_v1_050': ('v1', 3, 0.5),
    'shufflenet_v2': ('v2', None, 1.0),
    'shufflenet_v2_050': ('v2', None, 0.5),
    'shufflenet_v2_150': ('v2', None, 1.5),
    'shufflenet_v2_200': ('v2', None, 2.0),
}

# ShuffleNet V1 paper: Table 1 (Stage2 channels and MFLOPs at 1x, by groups) and Table 2 (0.5x, g=3).
V1_STAGE2 = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
V1_PAPER_MFLOPS = {'shufflenet_v1_g1': 143, 'shufflenet_v1_g2': 140, 'shufflenet_v1': 137,
                   'shufflenet_v1_g4': 133, 'shufflenet_v1_g8': 137, 'shufflenet_v1_050': 38}
# ShuffleNet V2 paper, Table 5: [Stage2, Stage3, Stage4, Conv5] channels, MFLOPs, million parameters.
V2_TABLE = {
    0.5: ([48, 96, 192, 1024], 41, 1.4),
    1.0: ([116, 232, 464, 1024], 146, 2.3),
    1.5: ([176, 352, 704, 1024], 299, 3.5),
    2.0: ([244, 488, 976, 2048], 591, 7.4),
}
NUM_CLASSES = 1000


def expected_end_point_shapes(name):
  family, groups, width = REGISTERED[name]
  if family == 'v1':
    stage2 = int(V1_STAGE2[groups] * width)
    stages = [stage2, 2 * stage2, 4 * stage2]
    conv1 = int(24 * width)
    final = stages[-1]
  else:
    channels = V2_TABLE[width][0]
    stages = channels[:3]
    conv1 = 24
    final = channels[3]
  shapes = {'Conv1': [1, 112, 112, conv1], 'MaxPool': [1, 56, 56, conv1]}
  for stage, units, size, depth in zip((2, 3, 4), (4, 8, 4), (28, 14, 7), stages):
    for unit in range(1, units + 1):
      shapes['Stage%d/Unit%d' % (stage, unit)] = [1, size, size, depth]
  if family == 'v2':
    shapes['Conv5'] = [1, 7, 7, final]
  shapes.update({'AvgPool': [1, 1, 1, final], 'Logits': [1, NUM_CLASSES],
                 'Predictions': [1, NUM_CLASSES]})
  return shapes


@pytest.fixture(scope='module')
def built():
  """Every registered ShuffleNet built once through the factory (training graph, batch 1)."""
  results = {}
  for name in REGISTERED:
    fn = nets_factory.get_network_fn(name, num_classes=NUM_CLASSES, is_training=True)
    with tf.Graph().as_default() as graph:
      # The papers' cost is the grouped convolutions' own: counted on the split formulation (the
      # default block-diagonal kernel runs `groups` times as many multiply-adds, zeros included).
      with slim.arg_scope([shufflenet_utils.grouped_conv2d], formulation='split'):
        logits, end_points = fn(tf.placeholder(tf.float32, [1, 224, 224, 3]))
      results[name] = {
          'logits': logits.shape.as_list(),
          'end_points': {k: v.shape.as_list() for k, v in end_points.items()},
          'variables': {v.op.name: v.shape.as_list() for v in tf.global_variables()},
          'params': model_stats.parameter_count(tf.trainable_variables()),
          'madds': model_stats.multiply_adds(graph),
      }
  return results


@pytest.mark.parametrize('name', sorted(REGISTERED))
def test_end_point_shapes(built, name):
  assert built[name]['end_points'] == expected_end_point_shapes(name)
  assert built[name]['logits'] == [1, NUM_CLASSES]


@pytest.mark.parametrize('name', sorted(REGISTERED))
def test_checkpoint_manifest(built, name):
  zoo_helpers.check_manifest(name, built[name]['variables'])


@pytest.mark.parametrize('name', sorted(REGISTERED))
def test_factory_registration(name):
  spec = nets_factory.network_spec(name)
  scope = 'ShufflenetV1' if REGISTERED[name][0] == 'v1' else 'ShufflenetV2'
  assert spec.logits_scopes == (scope + '/Logits',)
  assert spec.checkpoint_classes is None
  assert spec.preprocessing == 'inception'
  assert nets_factory.get_network_fn(name, 10).default_image_size == 224


@pytest.mark.parametrize('name', sorted(V1_PAPER_MFLOPS))
def test_v1_multiply_adds_match_paper(built, name):
  assert built[name]['madds'] / 1e6 == pytest.approx(V1_PAPER_MFLOPS[name], rel=0.02)


def test_v1_main_model_cost(built):
  # "ShuffleNet 1x (g = 3)": 140 MFLOPs in the paper's comparisons (137 in Table 1), ~1.9 M params.
  assert built['shufflenet_v1']['madds'] / 1e6 == pytest.approx(140, rel=0.03)
  assert built['shufflenet_v1']['params'] / 1e6 == pytest.approx(1.9, rel=0.03)


def test_v1_widths_scale_every_layer():
  """Width s scales every layer's filters by s (paper 4.1.1); rounding only where groups need it."""
  assert shufflenet_v1.stage_channels(3, 1.0) == [24, 240, 480, 960]
  assert shufflenet_v1.stage_channels(3, 0.5) == [12, 120, 240, 480]
  assert shufflenet_v1.stage_channels(3, 1.5) == [36, 360, 720, 1440]
  assert shufflenet_v1.stage_channels(3, 2.0) == [48, 480, 960, 1920]
  # 12 input channels cannot feed 8 groups: Conv1 rounds up to a multiple of the groups.
  assert shufflenet_v1.stage_channels(8, 0.5) == [16, 192, 384, 768]
  for groups in V1_STAGE2:
    for width in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0):
      conv1, stage2, _, _ = shufflenet_v1.stage_channels(groups, width)
      assert conv1 % groups == 0 and stage2 % (4 * groups) == 0


def test_v1_grouping_follows_paper(built):
  """1x1 kernels hold in/groups input channels; the first one of Stage2 is dense (24 inputs)."""
  variables = built['shufflenet_v1']['variables']
  unit = 'ShufflenetV1/Stage%d/Unit%d/%s/weights'
  assert variables[unit % (2, 1, 'Conv2d_0a_1x1')] == [1, 1, 24, 60]
  assert variables[unit % (2, 1, 'Conv2d_0c_1x1')] == [1, 1, 20, 240 - 24]
  assert variables[unit % (2, 2, 'Conv2d_0a_1x1')] == [1, 1, 80, 60]
  assert variables[unit % (3, 1, 'Conv2d_0c_1x1')] == [1, 1, 40, 480 - 240]
  assert variables[unit % (4, 4, 'Conv2d_0c_1x1')] == [1, 1, 80, 960]
  assert variables['ShufflenetV1/Stage2/Unit1/DepthwiseConv2d_0b_3x3/depthwise_weights'] == [
      3, 3, 60, 1]
  assert variables['ShufflenetV1/Logits/Conv2d_1c_1x1/weights'] == [1, 1, 960, NUM_CLASSES]


@pytest.mark.parametrize('width', sorted(V2_TABLE))
def test_v2_multiply_adds_and_parameters_match_paper(built, width):
  name = {0.5: 'shufflenet_v2_050', 1.0: 'shufflenet_v2', 1.5: 'shufflenet_v2_150',
          2.0: 'shufflenet_v2_200'}[width]
  _, mflops, mparams = V2_TABLE[width]
  assert built[name]['madds'] / 1e6 == pytest.approx(mflops, rel=0.03)
  # The paper rounds to 0.1 M.
  assert built[name]['params'] / 1e6 == pytest.approx(mparams, rel=0.03)


def test_channel_shuffle_permutes_channels_as_the_paper():
  """Channels (g, n) -> transpose -> flatten: output i * g + j is input j * n + i (section 3.1)."""
  with tf.Graph().as_default():
    values = np.arange(12, dtype=np.float32).reshape([1, 1, 1, 12]) + np.zeros([2, 2, 3, 1])
    static = tf.constant(values, tf.float32)
    dynamic = tf.placeholder(tf.float32, [None, None, None, 12])
    outputs = [shufflenet_utils.channel_shuffle(static, 3),
               shufflenet_utils.channel_shuffle(dynamic, 3),
               shufflenet_utils.channel_shuffle(static, 2)]
    with tf.Session() as sess:
      by3, by3_dynamic, by2 = sess.run(outputs, {dynamic: values})
  assert by3.shape == (2, 2, 3, 12)
  np.testing.assert_array_equal(by3[1, 1, 2], [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
  np.testing.assert_array_equal(by3_dynamic, by3)
  np.testing.assert_array_equal(by2[0, 0, 0], [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11])


def test_grouped_conv_is_block_diagonal_and_trainable():
  """Each group of outputs sees only its own group of inputs; gradients exist on CPU."""
  rng = np.random.RandomState(0)
  x_value = rng.randn(2, 5, 5, 6).astype(np.float32)
  with tf.Graph().as_default():
    x = tf.constant(x_value)
    y = shufflenet_utils.grouped_conv2d(x, 9, [3, 3], groups=3, activation_fn=None,
                                        scope='GConv')
    weights = slim.get_model_variables('GConv')[0]
    grads = tf.gradients(tf.reduce_sum(tf.square(y)), [weights, x])
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      y_value, w_value, grad_values = sess.run([y, weights, grads])
  assert w_value.shape == (3, 3, 2, 9)
  padded = np.pad(x_value, [(0, 0), (1, 1), (1, 1), (0, 0)])
  expected = np.zeros_like(y_value)
  for g in range(3):
    for i in range(5):
      for j in range(5):
        patch = padded[:, i:i + 3, j:j + 3, 2 * g:2 * g + 2]
        expected[:, i, j, 3 * g:3 * g + 3] = np.einsum('bhwc,hwco->bo', patch,
                                                      w_value[..., 3 * g:3 * g + 3])
  np.testing.assert_allclose(y_value, expected, rtol=1e-4, atol=1e-4)
  assert all(np.all(np.isfinite(g)) and np.any(g) for g in grad_values)


@pytest.mark.parametrize('fn, arg_scope, features, num_classes, spatial_squeeze', [
    (shufflenet_v1.shufflenet_v1_g2, shufflenet_v1.shufflenet_v1_arg_scope, 800, 0, False),
    (shufflenet_v2.shufflenet_v2_050, shufflenet_v2.shufflenet_v2_arg_scope, 1024, None, True),
])
def test_eval_graph_reuse_and_pooled_features(fn, arg_scope, features, num_classes,
                                              spatial_squeeze):
  """Eval graph with unknown batch; then reused with global pooling at another size, no classes."""
  with tf.Graph().as_default() as graph:
    with slim.arg_scope(arg_scope()):  # whose batch-norm default is is_training=True
      images = tf.placeholder(tf.float32, [None, 224, 224, 3])
      logits, end_points = fn(images, num_classes=10, is_training=False,
                              spatial_squeeze=spatial_squeeze)
      n_variables = len(tf.global_variables())
      any_size = tf.placeholder(tf.float32, [None, None, None, 3])
      pooled, pooled_end_points = fn(any_size, num_classes=num_classes, is_training=False,
                                     global_pool=True, reuse=True)
    logits_shape = [None, 10] if spatial_squeeze else [None, 1, 1, 10]
    assert logits.shape.as_list() == logits_shape
    assert end_points['Predictions'].shape.as_list() == logits_shape
    assert 'AvgPool' in end_points and 'global_pool' not in end_points
    # Op names as short as variable names (the export output node is .../Predictions/Reshape_1).
    scope = logits.op.name.split('/')[0]
    assert scope in ('ShufflenetV1', 'ShufflenetV2')
    assert end_points['Predictions'].op.name == scope + '/Predictions/Reshape_1'
    assert end_points['Conv1'].op.name == scope + '/Conv1/Relu'
    assert len(tf.global_variables()) == n_variables
    assert 'Logits' not in pooled_end_points and 'Predictions' not in pooled_end_points
    assert pooled_end_points['global_pool'] is pooled
    # The network's is_training wins over the arg scope's default: inference-mode batch norm.
    bn_modes = {op.get_attr('is_training') for op in graph.get_operations()
                if op.type.startswith('FusedBatchNorm')}
    assert bn_modes == {False}
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      value = sess.run(pooled, {any_size: np.ones([2, 40, 72, 3], np.float32)})
  assert value.shape == (2, 1, 1, features)


def test_base_stops_at_final_endpoint():
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [2, 224, 224, 3])
    net, end_points = shufflenet_v2.shufflenet_v2_base(images, final_endpoint='Stage3/Unit1')
    assert net.shape.as_list() == [2, 14, 14, 232]
    assert sorted(end_points) == ['Conv1', 'MaxPool', 'Stage2/Unit1', 'Stage2/Unit2',
                                  'Stage2/Unit3', 'Stage2/Unit4', 'Stage3/Unit1']
    net, end_points = shufflenet_v1.shufflenet_v1_base(images, final_endpoint='MaxPool',
                                                       groups=8, scope='Other')
    assert net.shape.as_list() == [2, 56, 56, 24]


@pytest.mark.parametrize('call', [
    lambda x: shufflenet_v1.shufflenet_v1(x, groups=5),
    lambda x: shufflenet_v1.shufflenet_v1(x, depth_multiplier=0),
    lambda x: shufflenet_v2.shufflenet_v2(x, depth_multiplier=0.75),
    lambda x: shufflenet_v1.shufflenet_v1_base(x, final_endpoint='Stage5/Unit1'),
    lambda x: shufflenet_v2.shufflenet_v2_base(x, final_endpoint='Conv6'),
])
def test_bad_configuration_is_a_value_error(call):
  with tf.Graph().as_default():
    with pytest.raises(ValueError) as info:
      call(tf.placeholder(tf.float32, [1, 224, 224, 3]))
    assert not isinstance(info.value, UserError)  # the library's plain error, as the original
    assert not tf.global_variables()  # rejected before building anything


def test_multiply_adds_counts_convolutions_and_matmuls_only():
  with tf.Graph().as_default() as graph:
    x = tf.placeholder(tf.float32, [1, 8, 8, 4])
    conv = tf.nn.conv2d(x, tf.zeros([3, 3, 4, 16]), [1, 2, 2, 1], 'SAME')  # 4x4x16 outputs
    grouped = tf.nn.conv2d(x, tf.zeros([1, 1, 2, 6]), [1, 1, 1, 1], 'SAME')  # 2 groups
    depthwise = tf.nn.depthwise_conv2d(x, tf.zeros([3, 3, 4, 2]), [1, 1, 1, 1], 'SAME')
    dense = tf.matmul(tf.reshape(conv, [1, 256]), tf.zeros([256, 10]))
    tf.nn.relu(dense + 1.0)
    assert model_stats.multiply_adds(graph) == (
        4 * 4 * 16 * 9 * 4 + 8 * 8 * 6 * 2 + 8 * 8 * 8 * 9 + 256 * 10)
    assert model_stats.op_multiply_adds(depthwise.op) == 8 * 8 * 8 * 9
    assert model_stats.op_multiply_adds(grouped.op) == 8 * 8 * 6 * 2


def _load_batch_norm_statistics_away_from_0_and_1(sess, rng):
  """Random moving statistics, gammas and betas, so that a batch norm changes what it sees."""
  for v in tf.global_variables():
    if 'moving_' in v.op.name or 'gamma' in v.op.name or 'beta' in v.op.name:
      low = 0.5 if ('variance' in v.op.name or 'gamma' in v.op.name) else -0.5
      v.load(rng.uniform(low, low + 1, v.shape.as_list()).astype(np.float32), sess)


@pytest.mark.parametrize('fn', [shufflenet_v1.shufflenet_v1, shufflenet_v1.shufflenet_v1_g8])
@pytest.mark.parametrize('is_training', [False, True])
def test_block_diagonal_grouped_convs_match_the_split_formulation(fn, is_training):
  """The block-diagonal kernel gives the split-and-concat formulation's logits and gradients.

  Both formulations are built in one graph on the same variables (the second with reuse=True), so
  they read the same values, as two graphs restored from one checkpoint would; batch norm trained
  and moving averages made non-trivial by random values.
  """
  rng = np.random.RandomState(1)
  images_value = rng.uniform(-1, 1, [2, 96, 96, 3]).astype(np.float32)
  with tf.Graph().as_default() as graph:
    images = tf.constant(images_value)
    with slim.arg_scope(shufflenet_v1.shufflenet_v1_arg_scope()):
      new_logits, _ = fn(images, num_classes=7, is_training=is_training)
      n_variables = len(tf.global_variables())
      with slim.arg_scope([shufflenet_utils.grouped_conv2d], formulation='split'):
        old_logits, _ = fn(images, num_classes=7, is_training=is_training, reuse=True)
    assert len(tf.global_variables()) == n_variables  # no new variable: same names and shapes
    assert any(op.name.endswith('BlockDiagonal') for op in graph.get_operations())
    variables = tf.trainable_variables()
    new_grads = tf.gradients(tf.reduce_sum(tf.square(new_logits)), variables)
    old_grads = tf.gradients(tf.reduce_sum(tf.square(old_logits)), variables)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      _load_batch_norm_statistics_away_from_0_and_1(sess, rng)
      new, old, new_g, old_g = sess.run([new_logits, old_logits, new_grads, old_grads])
  assert np.abs(new).max() > 1e-3
  np.testing.assert_allclose(new, old, rtol=1e-4, atol=1e-4 * np.abs(old).max())
  # In training mode the gradient of a batch-norm beta followed by another batch norm is zero up
  # to rounding, so the tolerance is relative to the largest gradient of the whole network.
  scale = max(np.abs(b).max() for b in old_g)
  assert scale > 0
  for v, a, b in zip(variables, new_g, old_g):
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * scale, err_msg=v.op.name)


def test_unknown_grouped_conv_formulation_is_a_value_error():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match='formulation'):
      shufflenet_utils.grouped_conv2d(tf.zeros([1, 4, 4, 6]), 6, [1, 1], groups=3,
                                      formulation='einsum')


def _random_inference_checkpoint(model_name, tmp_path, seed, batch_size, size=64, classes=5):
  """A random-init checkpoint of `model_name`'s inference graph (block-diagonal kernels), batch-norm
  statistics away from 0 and 1: (model info, input batch, its logits, checkpoint path, frozen
  GraphDef, input node name, logits node name)."""
  from image_classifier import model_info
  info = model_info.ModelInfo(model_name, classes, size, 'inception', 0, 'custom', None, {})
  rng = np.random.RandomState(seed)
  batch = rng.uniform(-1, 1, [batch_size, size, size, 3]).astype(np.float32)
  graph, inputs, logits, _ = model_info.inference_graph(info)
  with graph.as_default(), tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    _load_batch_norm_statistics_away_from_0_and_1(sess, rng)
    expected = sess.run(logits, {inputs: batch})
    checkpoint = tf.train.Saver().save(sess, str(tmp_path / 'model.ckpt'))
    frozen = tf.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(),
                                                          [logits.op.name])
  return info, batch, expected, checkpoint, frozen, inputs.op.name, logits.op.name


@pytest.mark.parametrize('model_name', ['shufflenet_v1', 'shufflenet_v1_g8', 'shufflenet_v2'])
def test_float_tflite_export_runs_grouped_convs_with_the_checkpoints_logits(model_name, tmp_path):
  """The float TFLite export (native grouped convolutions) computes the TF graph's logits.

  A random-init checkpoint with batch-norm statistics away from 0 and 1 is restored into the TF
  inference graph (block-diagonal kernels) and exported by `exporting.export_tflite`; the V1
  flatbuffer holds the grouped kernels only, so it is smaller than the block-diagonal one.
  """
  from image_classifier import exporting
  from image_classifier import model_info
  info, images, expected, checkpoint, _, _, _ = _random_inference_checkpoint(model_name, tmp_path,
                                                                             3, 2)
  grouped = str(tmp_path / 'grouped.tflite')
  exporting.export_tflite(info, checkpoint, grouped)
  interpreter = tf.lite.Interpreter(model_path=grouped)
  interpreter.resize_tensor_input(interpreter.get_input_details()[0]['index'], images.shape)
  interpreter.allocate_tensors()
  interpreter.set_tensor(interpreter.get_input_details()[0]['index'], images)
  interpreter.invoke()
  outputs = {d['name']: interpreter.get_tensor(d['index'])
             for d in interpreter.get_output_details()}
  actual = next(v for k, v in outputs.items() if 'logits' in k)
  assert np.abs(expected).max() > 1e-2
  np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
  if model_name.startswith('shufflenet_v1'):
    session, images_t, logits_t, probs_t = model_info.session_with_model(info, checkpoint)
    with session:
      dense = tf.lite.TFLiteConverter.from_session(session, [images_t], [logits_t]).convert()
    assert os.path.getsize(grouped) < 0.8 * len(dense)


def test_eval_graph_uses_grouped_convs_where_they_run_fused(tmp_path):
  """eval_image_classifier's graph (`evaluation.model_fetches`, batch norms folded) builds V1's
  grouped convolutions as grouped Conv2Ds when this process runs them fused (oneDNN on, CPU only),
  as block-diagonal kernels otherwise; either way it computes the inference graph's logits."""
  import types
  from image_classifier import evaluation
  from image_classifier import model_info
  classes = 5
  _, batch, expected, checkpoint, _, _, _ = _random_inference_checkpoint('shufflenet_v1', tmp_path,
                                                                         5, 3, classes=classes)

  network_fn = nets_factory.get_network_fn('shufflenet_v1', num_classes=classes,
                                           is_training=False)
  captured = []

  def capturing_fn(images):
    outputs = network_fn(images)
    captured.append(outputs[0])
    return outputs

  native = model_info.native_grouped_convs_run_here()
  with tf.Graph().as_default() as eval_graph:
    images = tf.placeholder(tf.float32, batch.shape)
    labels = tf.constant(np.argmax(expected, 1))
    fetches = evaluation.model_fetches(types.SimpleNamespace(quantize=False), capturing_fn,
                                       images, labels, classes)
    block_diagonal = [op.name for op in eval_graph.get_operations()
                      if op.name.endswith('BlockDiagonal')]
    grouped = [op.name for op in eval_graph.get_operations() if op.type == 'Conv2D'
               and op.inputs[1].shape[2] != op.inputs[0].shape[3]]
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, checkpoint)
      actual, (predictions, _, hits) = sess.run([captured[0], fetches], {images: batch})
  if native:
    assert grouped and not block_diagonal, (grouped, block_diagonal)
  else:
    assert block_diagonal and not grouped, (grouped, block_diagonal)
  assert np.abs(expected).max() > 1e-2
  np.testing.assert_allclose(actual.reshape(expected.shape), expected, rtol=1e-4,
                             atol=1e-4 * np.abs(expected).max())
  assert hits.all() and (predictions == np.argmax(expected, 1)).all()


def test_frozen_graph_runs_grouped_convs_where_they_run_fused(tmp_path):
  """A frozen ShuffleNet V1 (block-diagonal kernels, as export writes it) loaded by
  `serving.FrozenModel` runs its grouped convolutions as grouped Conv2Ds where this process runs
  them fused, as written elsewhere; same logits as the inference graph either way."""
  from image_classifier import model_info
  from image_classifier import serving
  info, batch, expected, _, frozen, input_node, logits_node = _random_inference_checkpoint(
      'shufflenet_v1', tmp_path, 7, 2)
  path = tmp_path / 'frozen.pb'
  path.write_bytes(frozen.SerializeToString())

  rewritten = tf.GraphDef()
  rewritten.CopyFrom(frozen)
  # 16 units of two grouped 1x1 convolutions, but the first of Stage2 (ungrouped input)
  assert shufflenet_utils.grouped_convs_from_block_diagonal(rewritten) == 31

  model = serving.FrozenModel(str(path), info=info, input_node=input_node,
                              output_node=logits_node)
  grouped = [op.name for op in model.session.graph.get_operations() if op.type == 'Conv2D'
             and op.inputs[1].shape[2] != op.inputs[0].shape[3]]
  assert bool(grouped) == model_info.native_grouped_convs_run_here(), grouped
  actual = model.logits(batch)
  model.close()
  assert np.abs(expected).max() > 1e-2
  np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
