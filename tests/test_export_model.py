"""From a real checkpoint to every served form, and each form labelling the real photos.

The MobileNet V2 1.0/224 checkpoint of ../shared is exported once (SavedModel, TFLite float32 /
float16 / int8, frozen graph); the tests compare each form with the checkpoint's own graph on the
photos whose top-1 the original slim computes (../shared/README.md). The int8 model is calibrated on
a small TFRecord set made of the same photos.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim
from PIL import Image

from conftest import ROOT, assert_user_error, run_script, shared_path
from datasets import dataset_utils
from image_classifier import exporting
from image_classifier import evaluation
from image_classifier import model_info
from image_classifier import serving
from foundation import fileio
from foundation.errors import UserError

# photo: (top-1 of mobilenet_v2_1.0_224 as the original slim computes it, starred = confident)
EXPECTED = {
    'coral_parrot.jpg': (89, True),
    'coral_bird.png': (20, True),
    'coral_hot_dog.jpg': (935, True),
    'coral_cat.png': (286, False),
    'coral_cat_720p.jpg': (286, True),
    'coral_dragonfly.png': (320, True),
    'coral_sunflower.png': (986, True),
    'coral_pets.jpg': (172, False),
}
PHOTOS = sorted(EXPECTED)


def _rel_error(out, ref):
  """Largest deviation relative to the logits' own scale (logits near 0 make per-element ratios
  meaningless)."""
  return float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))


def write_photo_dataset(folder, photos, labels_file):
  """A `custom` data set (train and validation = the photos, 1001 ImageNet classes) as the
  converter would write it."""
  os.makedirs(folder, exist_ok=True)
  with open(labels_file) as f:
    names = [line.rstrip('\n') for line in f]
  dataset_utils.write_label_file(dict(enumerate(names)), folder)
  for split in ('train', 'validation'):
    with tf.io.TFRecordWriter(os.path.join(folder, 'custom_%s_00000-of-00001.tfrecord' % split)) as w:
      for path, label in photos:
        with open(path, 'rb') as f:
          data = f.read()
        with Image.open(path) as image:
          width, height = image.size
        fmt = b'png' if path.endswith('.png') else b'jpeg'
        w.write(dataset_utils.image_to_tfexample(data, fmt, height, width, label)
                .SerializeToString())
  dataset_utils.write_meta_file({'num_classes': len(names), 'file_pattern': 'custom_%s_*.tfrecord',
                                 'splits': {'train': len(photos), 'validation': len(photos)}},
                                folder)
  return folder


@pytest.fixture(scope='module')
def photo_paths():
  return [shared_path('images', name) for name in PHOTOS]


@pytest.fixture(scope='module')
def photo_dataset(tmp_path_factory, photo_paths):
  return write_photo_dataset(
      str(tmp_path_factory.mktemp('photos')),
      [(p, EXPECTED[n][0]) for p, n in zip(photo_paths, PHOTOS)],
      shared_path('labels', 'imagenet_labels_1001.txt'))


@pytest.fixture(scope='module')
def mnv2(tmp_path_factory, photo_dataset):
  """mobilenet_v2 exported to every form: {form: path}, plus 'checkpoint' and 'info'."""
  checkpoint = os.path.join(shared_path('pretrained', 'mobilenet_v2_1.0_224'),
                            'mobilenet_v2_1.0_224.ckpt')
  out = tmp_path_factory.mktemp('mnv2')
  info = model_info.describe('mobilenet_v2', 'custom', photo_dataset)
  forms = {'checkpoint': checkpoint, 'info': info,
           'saved_model': str(out / 'saved_model'), 'frozen_graph': str(out / 'frozen.pb'),
           'float32': str(out / 'float32.tflite'), 'float16': str(out / 'float16.tflite'),
           'int8': str(out / 'int8.tflite')}
  exporting.export(info, checkpoint, forms['saved_model'], 'saved_model')
  exporting.export(info, checkpoint, forms['frozen_graph'], 'frozen_graph')
  for quantization in ('float32', 'float16', 'int8'):
    exporting.export(info, checkpoint, forms[quantization], 'tflite',
                   quantization='none' if quantization == 'float32' else quantization)
  return forms


@pytest.fixture(scope='module')
def reference(mnv2, photo_paths):
  """(preprocessed photos, the checkpoint graph's logits on them)."""
  images = serving.preprocess_files(mnv2['info'], photo_paths)
  model = serving.CheckpointModel(mnv2['info'], mnv2['checkpoint'])
  try:
    return images, model.logits(images)
  finally:
    model.close()


def test_checkpoint_labels_the_photos_like_the_original(reference):
  _, logits = reference
  assert [int(i) for i in logits.argmax(1)] == [EXPECTED[n][0] for n in PHOTOS]


@pytest.mark.parametrize('form,tolerance', [
    ('frozen_graph', 1e-4), ('saved_model', 1e-4), ('float32', 1e-4), ('float16', 2e-3)])
def test_float_forms_match_the_checkpoint(mnv2, reference, form, tolerance):
  images, ref = reference
  model = serving.load(mnv2[form])
  out = model.logits(images)
  model.close()
  assert out.shape == ref.shape
  assert [int(i) for i in out.argmax(1)] == [int(i) for i in ref.argmax(1)]
  assert _rel_error(out, ref) < tolerance, _rel_error(out, ref)
  if form == 'float16':
    # Rounding the weights to float16 moves the logits by ~1.5e-3 of their scale and the class
    # probabilities by up to ~1.5e-3 (measured on these photos), hence 2e-3 rather than 1e-3.
    probabilities = model_scores(mnv2[form], images)
    expected = np.exp(ref - ref.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert np.max(np.abs(probabilities - expected)) < 2e-3


def model_scores(path, images):
  model = serving.load(path)
  try:
    return model.scores(images)
  finally:
    model.close()


def test_int8_agrees_on_the_confident_photos(mnv2, reference):
  images, ref = reference
  model = serving.load(mnv2['int8'])
  detail = model.interpreter.get_input_details()[0]
  assert detail['dtype'] == np.int8  # full-integer: int8 in, int8 out
  assert model.interpreter.get_output_details()[0]['dtype'] == np.int8
  out = model.logits(images)
  for name, top1, ref_top1 in zip(PHOTOS, out.argmax(1), ref.argmax(1)):
    if EXPECTED[name][1]:
      assert top1 == ref_top1 == EXPECTED[name][0], name
  # Quantised weights (a quarter of the float size).
  assert os.path.getsize(mnv2['int8']) < 0.35 * os.path.getsize(mnv2['float32'])
  assert os.path.getsize(mnv2['float16']) < 0.55 * os.path.getsize(mnv2['float32'])


def test_saved_model_takes_photo_bytes_and_returns_labels(mnv2, photo_paths, reference):
  model = serving.SavedModel(mnv2['saved_model'])
  sig = model.signatures['serving_default']
  assert list(sig.inputs) == ['image_bytes'] and sig.inputs['image_bytes'].dtype == tf.string.as_datatype_enum
  assert set(sig.outputs) == {'classes', 'names', 'scores', 'logits'}
  photos = []
  for path in photo_paths:
    with open(path, 'rb') as f:
      photos.append(f.read())
  result = model.classify(photos)
  model.close()
  assert result['classes'].shape == (len(PHOTOS), 5)
  assert [int(c) for c in result['classes'][:, 0]] == [EXPECTED[n][0] for n in PHOTOS]
  names = [n.decode() for n in result['names'][:, 0]]
  assert names[PHOTOS.index('coral_parrot.jpg')] == 'macaw'
  assert names[PHOTOS.index('coral_bird.png')] == 'chickadee'
  scores = result['scores']
  assert np.all(np.diff(scores, axis=1) <= 0) and scores[PHOTOS.index('coral_parrot.jpg'), 0] > 0.99
  # Decoding + preprocessing inside the model is the evaluation transform: same logits.
  assert _rel_error(result['logits'], reference[1]) < 1e-4
  with open(os.path.join(mnv2['saved_model'], exporting.SAVED_MODEL_INFO)) as f:
    assert json.load(f)['preprocessing_name'] == 'inception'


def test_saved_model_serves_in_eager_tensorflow_2(mnv2, photo_paths):
  """TF Serving and TF 2 users load it with tf.saved_model.load (eager, not the scripts' graph mode)."""
  code = ('import sys, tensorflow as tf\n'
          'f = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]\n'
          'photos = [open(p, "rb").read() for p in sys.argv[2:]]\n'
          'out = f(image_bytes=tf.constant(photos))\n'
          'print(out["classes"].numpy()[:, 0].tolist(), out["names"].numpy()[0, 0].decode())\n')
  photos = [photo_paths[PHOTOS.index('coral_parrot.jpg')], photo_paths[PHOTOS.index('coral_bird.png')]]
  result = subprocess.run([sys.executable, '-c', code, mnv2['saved_model']] + photos,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().splitlines()[-1] == '[89, 20] macaw'


def test_label_image_reads_every_form(mnv2, photo_paths):
  parrot = photo_paths[PHOTOS.index('coral_parrot.jpg')]
  for form in ('saved_model',):  # a .tflite: test_export_model_script_small_net; a .pb: e2e
    result = run_script('label_image.py', '--graph=%s' % mnv2[form], '--image=%s' % parrot)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 5, (form, result.stdout)
    assert lines[0].startswith('macaw (89): 0.9'), (form, lines[0])  # labels.txt of the data set
    scores = [float(line.rsplit(': ', 1)[1]) for line in lines]
    assert scores == sorted(scores, reverse=True)


def test_eval_exported_models_reports_each_form(mnv2, photo_dataset):
  result = run_script(
      'eval_exported_model.py', '--model=%s,%s' % (mnv2['saved_model'], mnv2['int8']),
      '--checkpoint_path=%s' % mnv2['checkpoint'], '--dataset_name=custom',
      '--dataset_dir=%s' % photo_dataset, '--batch_size=4', '--max_num_batches=1')
  rows = [line for line in result.stdout.splitlines() if line.startswith('| ') and '---' not in line]
  assert len(rows) == 4, result.stdout  # header + checkpoint + 2 forms
  for row, form in zip(rows[1:], ('checkpoint', 'saved_model', 'tflite')):
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[0].startswith(form), row
    assert cells[1] == '4'  # --max_num_batches=1 of 4 photos
    assert float(cells[2]) == 1.0  # the first four photos (sorted) are labelled right by all


def test_evaluate_counts_every_photo(mnv2, photo_dataset):
  models = {'frozen': serving.load(mnv2['frozen_graph']), 'float16': serving.load(mnv2['float16'])}
  results = evaluation.evaluate_models(models, 'custom', photo_dataset, 'validation', batch_size=3)
  for r in results.values():
    assert r['n'] == len(PHOTOS) and r['accuracy'] == 1.0 and r['recall_5'] == 1.0


def test_export_model_script_small_net(tmp_path, photo_dataset):
  checkpoint = os.path.join(shared_path('pretrained', 'mobilenet_v1_0.25_128'),
                            'mobilenet_v1_0.25_128.ckpt')
  output = str(tmp_path / 'm.tflite')
  result = run_script('export_model.py', '--model_name=mobilenet_v1_025',
                      '--checkpoint_path=%s' % checkpoint, '--dataset_name=custom',
                      '--dataset_dir=%s' % photo_dataset, '--format=tflite',
                      '--tflite_quantization=int8', '--dataset_split_name=validation',
                      '--image_size=128', '--output_file=%s' % output)
  assert 'Wrote %s (tflite int8, mobilenet_v1_025' % output in result.stdout
  recorded = exporting.read_nodes(output)
  assert recorded['image_size'] == 128 and recorded['quantization'] == 'int8'
  assert recorded['preprocessing_name'] == 'inception'  # the factory's for mobilenet_v1_025
  result = run_script('label_image.py', '--graph=%s' % output,
                      '--image=%s' % shared_path('images', 'coral_parrot.jpg'))
  assert result.stdout.startswith('macaw (89): ')


def test_user_errors(tmp_path, photo_dataset):
  info = model_info.describe('lenet', 'custom', photo_dataset, num_classes=10)
  with pytest.raises(UserError, match='--format=tflite only'):
    exporting.export(info, str(tmp_path), str(tmp_path / 'x'), 'saved_model', quantization='int8')
  with pytest.raises(UserError, match='--format=onnx'):
    exporting.export(info, str(tmp_path), str(tmp_path / 'x'), 'onnx')
  with pytest.raises(UserError, match='no checkpoint found'):
    exporting.export(info, str(tmp_path), str(tmp_path / 'x'), 'saved_model')
  (tmp_path / 'full').mkdir()
  (tmp_path / 'full' / 'keep.txt').write_text('x')
  with pytest.raises(UserError, match='not empty'):
    exporting.export_saved_model(info, 'unused', str(tmp_path / 'full'))
  with pytest.raises(UserError, match='not a SavedModel'):
    serving.load(str(tmp_path))
  # A file with TFLite's identifier but not a model the interpreter can read.
  broken = tmp_path / 'broken.tflite'
  broken.write_bytes(b'\x1c\x00\x00\x00TFL3' + b'junk' * 4)
  with pytest.raises(UserError, match='cannot read TFLite model .*broken.tflite'):
    serving.load(str(broken))


# ---------------------------------------------------------------------------------------------
# Moving averages and training-only nodes (freeze_graph's and export_model's paths), on LeNet.

@pytest.fixture(scope='module')
def lenet_with_averages(tmp_path_factory):
  """A LeNet checkpoint whose moving averages differ from the weights, from a graph that also has a
  training op, a saver and the averaging ops; returns (graph_def with all that, checkpoint, output)."""
  from nets import nets_factory
  folder = tmp_path_factory.mktemp('lenet_ema')
  with tf.Graph().as_default() as graph:
    images = tf.placeholder(tf.float32, [None, 28, 28, 3], name='input')
    logits, end_points = nets_factory.get_network_fn('lenet', 10, is_training=False)(images)
    global_step = tf.train.get_or_create_global_step()
    loss = tf.reduce_mean(tf.square(logits))
    train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=global_step)
    averages = tf.train.ExponentialMovingAverage(0.9999, global_step)
    with tf.control_dependencies([train_op]):
      average_op = averages.apply(slim.get_model_variables())
    saver = tf.train.Saver()
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      # Shadows = half the weights (a value no training step produces), so the two paths differ.
      for var in slim.get_model_variables():
        session.run(averages.average(var).assign(0.5 * var))
      checkpoint = saver.save(session, str(folder / 'model.ckpt'))
    assert average_op.type == 'NoOp'
    output = end_points['Predictions'].op.name
    return graph.as_graph_def(), checkpoint, output, logits.op.name


def _lenet_logits(checkpoint, scale, image):
  """LeNet's logits with every weight read from `checkpoint` times `scale` (0.5 = the averages)."""
  from nets import nets_factory
  reader = tf.train.NewCheckpointReader(checkpoint)
  with tf.Graph().as_default():
    logits, _ = nets_factory.get_network_fn('lenet', 10, is_training=False)(tf.constant(image))
    with tf.Session() as session:
      for var in slim.get_model_variables():
        var.load(reader.get_tensor(var.op.name) * scale, session)
      return session.run(logits)


def test_freeze_uses_moving_averages_and_strips_training_nodes(lenet_with_averages):
  graph_def, checkpoint, output, logits_node = lenet_with_averages
  image = np.random.RandomState(0).uniform(-1, 1, [2, 28, 28, 3]).astype(np.float32)
  ops_before = {n.op for n in graph_def.node}
  assert {'ApplyGradientDescent', 'SaveV2', 'RestoreV2'} & ops_before
  for decay, scale in ((None, 1.0), (0.9999, 0.5)):
    frozen, count = exporting.freeze(graph_def, checkpoint, [logits_node],
                                     moving_average_decay=decay)
    assert count == 8  # 4 layers x (weights, biases)
    names = [n.name for n in frozen.node]
    ops = {n.op for n in frozen.node}
    assert not ops & {'VariableV2', 'VarHandleOp', 'ReadVariableOp', 'Assign', 'AssignVariableOp',
                      'ApplyGradientDescent', 'AssignAdd', 'SaveV2', 'RestoreV2', 'NoOp'}, ops
    assert not [n for n in names if 'gradients' in n or 'ExponentialMovingAverage' in n
                or n.startswith('save/') or 'global_step' in n], names
    out = serving.run_graph(frozen, 'input', logits_node, image)
    np.testing.assert_allclose(out, _lenet_logits(checkpoint, scale, image), rtol=1e-5, atol=1e-5)


def test_freeze_graph_script_moving_average(lenet_with_averages, tmp_path):
  graph_def, checkpoint, output, _ = lenet_with_averages
  graph = str(tmp_path / 'train_graph.pb')
  fileio.write_atomically(graph, graph_def.SerializeToString())
  frozen = str(tmp_path / 'frozen.pb')
  result = run_script('freeze_graph.py', '--input_graph=%s' % graph,
                      '--input_checkpoint=%s' % os.path.dirname(checkpoint),
                      '--output_node_names=%s' % output, '--moving_average_decay=0.9999',
                      '--output_graph=%s' % frozen)
  assert 'Froze 8 variables' in result.stdout
  image = np.random.RandomState(1).uniform(-1, 1, [1, 28, 28, 3]).astype(np.float32)
  probs = serving.run_graph(exporting.load_graph_def(frozen), 'input', output, image)
  expected = np.exp(_lenet_logits(checkpoint, 0.5, image))
  np.testing.assert_allclose(probs, expected / expected.sum(), rtol=1e-5, atol=1e-6)


def test_export_model_moving_average(lenet_with_averages, tmp_path):
  _, checkpoint, _, _ = lenet_with_averages
  info = model_info.ModelInfo('lenet', 10, 28, 'lenet', 0, 'custom', None, {})
  image = np.random.RandomState(2).uniform(-1, 1, [1, 28, 28, 3]).astype(np.float32)
  for decay, scale in ((None, 1.0), (0.9999, 0.5)):
    path = str(tmp_path / ('frozen_%s.pb' % decay))
    exporting.export_frozen_graph(info, checkpoint, path, moving_average_decay=decay)
    model = serving.FrozenModel(path)
    # Logits up to ~30: the frozen graph's folded weights round differently under oneDNN (one CI
    # run: 2.5e-5 apart at 1.3). The averaged weights (scale 0.5) would move them by far more.
    np.testing.assert_allclose(model.logits(image), _lenet_logits(checkpoint, scale, image),
                               rtol=1e-4, atol=1e-4)
    model.close()
