"""The fast paths give the same results as the compatibility path, and bfloat16 training learns.

* tf_data and queue input pipelines yield the same (image, label) pairs for a split, and the same
  loss for the same weights;
* `--mixed_precision=bfloat16` really rewrites the convolutions and products to bfloat16 (float32
  variables kept), and lenet trained with it on the digits reaches the float32 run's held-out
  accuracy.

Speed itself is measured by benchmarks/, outside the test suite.
"""
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim

from conftest import ROOT, run_script
from foundation import internals
from image_classifier import process
from image_classifier import training_hooks

DIGITS = os.path.join(ROOT, 'sample_data', 'digits')


@pytest.fixture(scope='module')
def digits_dir(tmp_path_factory):
  from datasets import convert_image_folder
  out = str(tmp_path_factory.mktemp('digits_speed') / 'data')
  convert_image_folder.run(out, images_dir=DIGITS, validation_fraction=0.2, num_shards=2)
  return out


def _read_all(session, next_batch):
  images, labels = [], []
  while True:
    try:
      image, label = session.run(next_batch)
    except tf.errors.OutOfRangeError:
      break
    images.append(image)
    labels.append(label)
  return np.concatenate(images), np.concatenate(labels)


def _keyed(images, labels, losses):
  """{(label, image bytes): per-example loss}: the multiset of examples, order-free."""
  out = {}
  for image, label, loss in zip(images, labels, losses):
    out.setdefault((int(label), np.round(image, 5).tobytes()), []).append(float(loss))
  return out


def test_tf_data_and_queue_yield_the_same_examples_and_losses(digits_dir):
  from datasets import dataset_factory
  from nets import nets_factory
  from preprocessing import preprocessing_factory
  from image_classifier import inputs
  with tf.Graph().as_default():
    dataset = dataset_factory.get_dataset('custom', 'validation', digits_dir)
    preprocess = preprocessing_factory.get_preprocessing('lenet', is_training=False)
    network_fn = nets_factory.get_network_fn('lenet', dataset.num_classes, is_training=False)
    pipelines = {}
    for name in ('tf_data', 'queue'):
      next_batch = inputs.batches(dataset, preprocess, 8, 50, is_training=False, pipeline=name,
                                  num_threads=2, num_epochs=1)
      images, labels = next_batch()
      with tf.variable_scope(tf.get_variable_scope(), reuse=tf.AUTO_REUSE):
        logits, _ = network_fn(images)
      losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
      pipelines[name] = (images, labels, losses)
    # One set of weights (the first network's) serves both pipelines.
    assert len(slim.get_model_variables()) == 8
    with tf.Session() as session:
      session.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
      coordinator = tf.train.Coordinator()
      threads = tf.train.start_queue_runners(session, coordinator)
      results = {}
      for name, tensors in pipelines.items():
        images, labels, losses = [], [], []
        while True:
          try:
            image, label, loss = session.run(tensors)
          except tf.errors.OutOfRangeError:
            break
          images.append(image)
          labels.append(label)
          losses.append(loss)
        results[name] = (np.concatenate(images), np.concatenate(labels), np.concatenate(losses))
      coordinator.request_stop()
      coordinator.join(threads)
  fast, original = results['tf_data'], results['queue']
  assert len(fast[1]) == len(original[1]) == dataset.num_samples
  assert sorted(fast[1].tolist()) == sorted(original[1].tolist())
  fast_keyed, original_keyed = _keyed(*fast), _keyed(*original)
  assert fast_keyed.keys() == original_keyed.keys()
  for key, losses in fast_keyed.items():
    np.testing.assert_allclose(sorted(losses), sorted(original_keyed[key]), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(fast[2].mean(), original[2].mean(), rtol=1e-6)


@pytest.mark.skipif(not internals.SPEEDUPS, reason='tests the JPEG-window speed-up, off with '
                    'SLIM_TF_SPEEDUPS=0')
def test_tf_data_training_decodes_only_the_crop_of_jpegs_and_still_reads_pngs(tmp_path):
  # Inception training on tf_data takes the JPEG-window path; PNG records of the same split go
  # through the descriptor's decoder. Both classes must arrive, as the ordinary transform's output.
  from PIL import Image
  from datasets import convert_image_folder
  from datasets import dataset_factory
  from preprocessing import preprocessing_factory
  from image_classifier import inputs
  rng = np.random.RandomState(0)
  for class_name, fmt in (('jpegs', 'JPEG'), ('pngs', 'PNG')):
    os.makedirs(str(tmp_path / 'src' / class_name))
    for i in range(6):
      pixels = rng.randint(0, 256, (40 + i, 50 - i, 3)).astype(np.uint8)
      Image.fromarray(pixels).save(
          str(tmp_path / 'src' / class_name / ('%d.%s' % (i, fmt.lower()))), format=fmt)
  out = str(tmp_path / 'data')
  convert_image_folder.run(out, images_dir=str(tmp_path / 'src'), validation_fraction=0.0,
                           num_shards=2, num_workers=1)
  with tf.Graph().as_default() as graph:
    dataset = dataset_factory.get_dataset('custom', 'train', out)
    preprocess = preprocessing_factory.get_preprocessing('inception', is_training=True)
    images, labels = inputs.batches(dataset, preprocess, 24, 12, is_training=True,
                                    pipeline='tf_data', seed=1)()
    function_ops = {node.op for function in graph.as_graph_def().library.function
                    for node in function.node_def}
    assert 'DecodeAndCropJpeg' in function_ops
    with tf.Session() as sess:
      batches = [sess.run([images, labels]) for _ in range(4)]
  seen = np.concatenate([label for _, label in batches])
  assert sorted(set(seen.tolist())) == [0, 1] and len(seen) == 48
  for image, _ in batches:
    assert image.shape == (12, 24, 24, 3)
    assert image.min() >= -1.0 and image.max() <= 1.0


@pytest.mark.skipif(not internals.SPEEDUPS, reason='tests the JPEG-window speed-up, off with '
                    'SLIM_TF_SPEEDUPS=0')
def test_tf_data_evaluation_decodes_only_the_central_crop_and_gives_the_same_tensors(tmp_path):
  # Odd and even sides, portrait and landscape, colour and grey: the central window computed from
  # the header must be exactly tf.image.central_crop's, and the pixels exactly a full decode's.
  from PIL import Image
  from datasets import convert_image_folder
  from datasets import dataset_factory
  from preprocessing import preprocessing_factory
  from image_classifier import inputs
  rng = np.random.RandomState(3)
  sizes = [(57, 91), (91, 57), (64, 64), (33, 120), (200, 151), (17, 19)]
  for k in range(2):
    os.makedirs(str(tmp_path / 'src' / ('c%d' % k)))
  for i, (height, width) in enumerate(sizes * 2):
    pixels = rng.randint(0, 256, (height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
    image = Image.fromarray(pixels).resize((width, height), Image.BICUBIC)
    if i % 5 == 4:
      image = image.convert('L').convert('RGB')
    image.save(str(tmp_path / 'src' / ('c%d' % (i % 2)) / ('%d.jpg' % i)), quality=85)
  out = str(tmp_path / 'data')
  convert_image_folder.run(out, images_dir=str(tmp_path / 'src'), validation_fraction=0.0,
                           num_shards=2, num_workers=1)
  results = {}
  for pipeline in ('tf_data', 'queue'):
    with tf.Graph().as_default() as graph:
      dataset = dataset_factory.get_dataset('custom', 'train', out)
      preprocess = preprocessing_factory.get_preprocessing('inception', is_training=False)
      next_batch = inputs.batches(dataset, preprocess, 29, 5, is_training=False,
                                  pipeline=pipeline, num_epochs=1)
      if pipeline == 'tf_data':
        function_ops = {node.op for function in graph.as_graph_def().library.function
                        for node in function.node_def}
        assert 'DecodeAndCropJpeg' in function_ops
      tensors = next_batch()
      with tf.train.MonitoredSession() as session:
        results[pipeline] = _read_all(session, tensors)
  (fast_images, fast_labels), (images, labels) = results['tf_data'], results['queue']
  assert len(labels) == len(sizes) * 2
  by_example = {(int(label), image.tobytes()) for image, label in zip(images, labels)}
  assert {(int(label), image.tobytes())
          for image, label in zip(fast_images, fast_labels)} == by_example


def test_session_config_for_bfloat16_needs_onednn():
  from image_classifier import precision
  from foundation.errors import UserError
  assert process.requested_precision(['x', '--mixed_precision=bfloat16']) == 'bfloat16'
  assert process.requested_precision(['x', '--mixed_precision', 'none']) == 'none'
  assert not precision.session_config('none').graph_options.rewrite_options \
      .auto_mixed_precision_onednn_bfloat16
  with pytest.raises(UserError, match='float16'):
    precision.session_config('float16')
  if internals.onednn_enabled():
    config = precision.session_config('bfloat16')
    assert config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 == 1
  else:
    with pytest.raises(UserError, match='TF_ENABLE_ONEDNN_OPTS=1'):
      precision.session_config('bfloat16')


def _executed_graph(config, model_name, size):
  """The optimised graph a training step of `model_name` executes under `config`, as a multiset of
  (op, inputs, fused ops) - names aside."""
  from nets import nets_factory
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    images = tf.random.uniform([2, size, size, 3])
    labels = tf.one_hot(tf.constant([1, 2]), 10)
    logits, _ = nets_factory.get_network_fn(model_name, 10, is_training=True)(images)
    tf.losses.softmax_cross_entropy(labels, logits)
    train_op = slim.learning.create_train_op(tf.losses.get_total_loss(),
                                             tf.train.RMSPropOptimizer(0.01))
    return _executed_ops(config, train_op)


def _executed_ops(config, fetches):
  """Runs `fetches` once (variables initialised) under `config`; the optimised graph it executed
  as a multiset of (op, inputs, fused ops)."""
  import collections
  with tf.Session(config=config) as session:
    session.run(tf.global_variables_initializer())
    metadata = tf.RunMetadata()
    session.run(fetches, options=tf.RunOptions(output_partition_graphs=True),
                run_metadata=metadata)
  return collections.Counter(
      (node.op, len(node.input), tuple(node.attr['fused_ops'].list.s))
      for graph in metadata.partition_graphs for node in graph.node)


@pytest.mark.parametrize('model_name,size', [('mobilenet_v1', 64), ('inception_v1', 224)])
def test_grappler_optimizers_left_out_on_cpu_change_nothing_in_the_step(model_name, size):
  # training_hooks.session_config turns these off on CPU-only machines to save start-up
  # time; with them on, the executed training step must be the very same graph.
  from tensorflow.core.protobuf import rewriter_config_pb2
  everything = tf.ConfigProto()
  everything.graph_options.rewrite_options.meta_optimizer_iterations = \
      rewriter_config_pb2.RewriterConfig.ONE
  trimmed = tf.ConfigProto()
  trimmed.CopyFrom(everything)
  training_hooks.skip_idle_cpu_optimizers(trimmed.graph_options.rewrite_options)
  if not tf.config.list_physical_devices('GPU'):
    assert training_hooks.session_config(
        types.SimpleNamespace(mixed_precision='none'), tf.ConfigProto()) == trimmed
  reference = _executed_graph(everything, model_name, size)
  assert sum(reference.values()) > 100
  assert _executed_graph(trimmed, model_name, size) == reference


def test_scripts_run_onednn_kernels_on_x86_unless_the_user_says_otherwise(monkeypatch):
  monkeypatch.delenv('TF_ENABLE_ONEDNN_OPTS', raising=False)
  monkeypatch.setattr(process.platform, 'machine', lambda: 'x86_64')
  process.prepare_environment(['train_image_classifier.py'])
  assert os.environ['TF_ENABLE_ONEDNN_OPTS'] == '1'
  monkeypatch.setenv('TF_ENABLE_ONEDNN_OPTS', '0')
  process.prepare_environment(['train_image_classifier.py', '--mixed_precision=bfloat16'])
  assert os.environ['TF_ENABLE_ONEDNN_OPTS'] == '0'
  monkeypatch.delenv('TF_ENABLE_ONEDNN_OPTS')
  monkeypatch.setattr(process.platform, 'machine', lambda: 'aarch64')
  process.prepare_environment(['train_image_classifier.py'])
  assert 'TF_ENABLE_ONEDNN_OPTS' not in os.environ
  process.prepare_environment(['train_image_classifier.py', '--mixed_precision=bfloat16'])
  assert os.environ['TF_ENABLE_ONEDNN_OPTS'] == '1'


_ONEDNN_PROBE = (
    'import sys; sys.path.insert(0, %r)\n'
    'from image_classifier import process\n'
    'process.prepare_environment(sys.argv)\n'
    'from foundation import internals\n'
    'print(int(internals.onednn_enabled()))' % ROOT)


def test_a_script_process_gets_onednn_and_the_variable_still_turns_it_off():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  env.pop('TF_ENABLE_ONEDNN_OPTS', None)
  default = subprocess.run([sys.executable, '-c', _ONEDNN_PROBE], env=env, capture_output=True,
                           text=True, timeout=300)
  env['TF_ENABLE_ONEDNN_OPTS'] = '0'
  off = subprocess.run([sys.executable, '-c', _ONEDNN_PROBE], env=env, capture_output=True,
                       text=True, timeout=300)
  assert off.stdout.split()[-1:] == ['0'], off.stderr[-2000:]
  assert default.returncode == 0, default.stderr[-2000:]
  # The default is forced on x86 only; elsewhere it is TensorFlow's own choice.
  if process.platform.machine().lower() in process._ONEDNN_MACHINES:
    assert default.stdout.split()[-1:] == ['1'], default.stderr[-2000:]


_REWRITE_PROBE = r'''
import sys
sys.path.insert(0, %(root)r)
from image_classifier import process
process.configure(sys.argv)
from foundation import internals
from image_classifier import precision
import tensorflow.compat.v1 as tf
from nets import nets_factory
assert internals.onednn_enabled()
import tf_slim as slim
images = tf.random.uniform([4, 8, 8, 3])
labels = tf.constant([0, 1, 2, 3])
images = slim.conv2d(images, 3, [3, 3], scope='before_depthwise')  # so both gradients run
images = slim.separable_conv2d(images, None, [3, 3], depth_multiplier=1, scope='depthwise')
logits, _ = nets_factory.get_network_fn('lenet', 10, is_training=True)(images)
loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
for mode in ('none', 'bfloat16'):
  with tf.Session(config=precision.session_config(mode)) as session:
    session.run(tf.global_variables_initializer())
    metadata = tf.RunMetadata()
    session.run(train_op, options=tf.RunOptions(output_partition_graphs=True),
                run_metadata=metadata)
    kinds = set()
    for graph in metadata.partition_graphs:
      for node in graph.node:
        if 'Conv2D' in node.op or 'MatMul' in node.op or 'Depthwise' in node.op:
          kinds.add('%%s:%%s' %% (node.op, tf.as_dtype(node.attr['T'].type).name))
        if node.op in ('VarHandleOp', 'VariableV2'):
          kinds.add('variable:%%s' %% tf.as_dtype(node.attr['dtype'].type).name)
    print(mode, ' '.join(sorted(kinds)))
'''


def test_bfloat16_rewrite_runs_products_in_bfloat16_with_float32_variables():
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS='1', TF_CPP_MIN_LOG_LEVEL='2')
  result = subprocess.run([sys.executable, '-c', _REWRITE_PROBE % {'root': ROOT}], env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-4000:]
  lines = dict(line.split(' ', 1) for line in result.stdout.splitlines() if ' ' in line)
  float32, bfloat16 = lines['none'].split(), lines['bfloat16'].split()
  assert not [k for k in float32 if 'bfloat16' in k], float32
  products = [k for k in bfloat16 if not k.startswith('variable:')]
  assert products and all(k.endswith(':bfloat16') for k in products
                          if 'Conv2D' in k or 'MatMul' in k), bfloat16
  # Depthwise convolutions (forward and both gradients) stay float32: faster on oneDNN.
  depthwise = [k for k in bfloat16 if 'Depthwise' in k]
  assert len(depthwise) == 3 and all(k.endswith(':float32') for k in depthwise), bfloat16
  assert 'variable:float32' in bfloat16 and 'variable:bfloat16' not in bfloat16, bfloat16


def _common(digits_dir, mode):
  return ['--dataset_name=custom', '--dataset_dir=%s' % digits_dir, '--model_name=lenet',
          '--mixed_precision=%s' % mode, '--num_preprocessing_threads=2']


def _train(digits_dir, train_dir, mode):
  run_script('train_image_classifier.py', '--train_dir=%s' % train_dir,
             '--dataset_split_name=train', '--train_image_size=8', '--batch_size=32',
             '--optimizer=adam', '--learning_rate=0.005', '--learning_rate_decay_type=fixed',
             '--weight_decay=0', '--max_number_of_steps=200', '--log_every_n_steps=100',
             *_common(digits_dir, mode))
  return train_dir


def _eval(digits_dir, train_dir, mode):
  result = run_script('eval_image_classifier.py', '--checkpoint_path=%s' % train_dir,
                      '--eval_dir=%s' % (str(train_dir) + '_eval_' + mode),
                      '--dataset_split_name=validation', '--eval_image_size=8',
                      '--batch_size=100', *_common(digits_dir, mode))
  return float(re.search(r'eval/Accuracy\[([0-9.]+)\]', result.stdout).group(1))


def _train_and_eval(digits_dir, train_dir, mode):
  return _eval(digits_dir, _train(digits_dir, train_dir, mode), mode)


@pytest.fixture(scope='module')
def float32_lenet(digits_dir, tmp_path_factory):
  return _train(digits_dir, tmp_path_factory.mktemp('lenet') / 'float32', 'none')


def test_bfloat16_evaluation_of_a_float32_checkpoint_is_near_float32(digits_dir, float32_lenet):
  float32 = _eval(digits_dir, float32_lenet, 'none')
  bfloat16 = _eval(digits_dir, float32_lenet, 'bfloat16')
  assert float32 >= 0.7, float32
  # 359 held-out images: bfloat16's 8-bit mantissa may flip a near-tie or two, not more.
  assert abs(bfloat16 - float32) <= 0.02, (float32, bfloat16)


def test_bfloat16_training_learns_the_digits_like_float32(digits_dir, float32_lenet, tmp_path):
  float32 = _eval(digits_dir, float32_lenet, 'none')
  bfloat16 = _train_and_eval(digits_dir, tmp_path / 'bfloat16', 'bfloat16')
  # 200 steps of batch 32 (kept short: without native bfloat16 instructions, as on the CI's AMD
  # CPUs, oneDNN emulates bfloat16 and this lenet trains about 15x slower than in float32).
  # Both learn (chance is 0.1) ...
  assert float32 >= 0.7 and bfloat16 >= 0.7, (float32, bfloat16)
  # ... and end up alike. 359 held-out images and 200 steps from different random starts: CI saw
  # two such runs 5 points apart (0.869 / 0.819), so the tolerance is 7 points here; the 1-point
  # comparison of issue #8 needs the benchmark's longer runs.
  assert bfloat16 >= float32 - 0.07, (float32, bfloat16)


def _executed_eval_graph(config, model_name, size):
  """The optimised graph an evaluation batch of `model_name` executes under `config` (the eval
  script's fetches: batch norms folded, native grouped convolutions where they run), as a
  multiset of (op, inputs, fused ops)."""
  from image_classifier import evaluation
  from nets import nets_factory
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    images = tf.random.uniform([2, size, size, 3])
    labels = tf.constant([1, 2])
    network_fn = nets_factory.get_network_fn(model_name, 10, is_training=False)
    fetches = evaluation.model_fetches(types.SimpleNamespace(quantize=False), network_fn, images,
                                       labels, 10)
    return _executed_ops(config, fetches)


@pytest.mark.parametrize('model_name,size', [('mobilenet_v1', 64), ('inception_v1', 224),
                                             ('shufflenet_v1', 64), ('resnet_v1_50', 64)])
def test_one_grappler_round_executes_the_same_evaluation_graph(model_name, size):
  # evaluation.session_config runs one round of Grappler instead of two: the executed evaluation
  # graph must be the very same.
  from image_classifier import evaluation
  from foundation import internals
  config = evaluation.session_config(types.SimpleNamespace(mixed_precision='none'))
  two_rounds = tf.ConfigProto()
  two_rounds.CopyFrom(config)
  two_rounds.graph_options.rewrite_options.ClearField('meta_optimizer_iterations')
  if internals.SPEEDUPS:
    assert config != two_rounds
  reference = _executed_eval_graph(two_rounds, model_name, size)
  assert sum(reference.values()) > 50
  assert _executed_eval_graph(config, model_name, size) == reference
