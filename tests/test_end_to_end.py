"""The slim user's first hour, end to end, through the real scripts.

flowers archive served on loopback -> convert -> train -> eval -> export -> freeze -> label_image,
LeNet learning the real digits, fine-tuning with excluded logits, and the user mistakes on the way.
"""
import glob
import io
import json
import os
import shutil
import tarfile

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image

from conftest import ROOT, assert_user_error, run_script
from http_server import serve_directory

DIGITS = os.path.join(ROOT, 'sample_data', 'digits')
FLOWER_CLASSES = ('daisy', 'dandelion', 'roses', 'sunflowers', 'tulips')


def _photo(rng, class_index, size=48):
  """A small JPEG whose colour depends on its class, with noise (so a net can learn it)."""
  base = np.zeros((size, size, 3), np.float32)
  base[..., class_index % 3] = 160 + 20 * (class_index // 3)
  pixels = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
  out = io.BytesIO()
  Image.fromarray(pixels).save(out, format='JPEG', quality=90)
  return out.getvalue()


def make_flower_archive(folder, per_class=8, seed=0):
  """flower_photos.tgz in the real layout: flower_photos/<class>/*.jpg and LICENSE.txt."""
  rng = np.random.RandomState(seed)
  path = os.path.join(folder, 'flower_photos.tgz')
  with tarfile.open(path, 'w:gz') as tar:
    def add(name, data):
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
    add('flower_photos/LICENSE.txt', b'test photos made for this test\n')
    for c, name in enumerate(FLOWER_CLASSES):
      for i in range(per_class):
        add('flower_photos/%s/%d_%s.jpg' % (name, i, name), _photo(rng, c))
  return path


def _scalar_tags(event_dir):
  tags = set()
  for path in glob.glob(os.path.join(event_dir, 'events.out.tfevents.*')):
    for event in tf.train.summary_iterator(path):
      for value in event.summary.value:
        tags.add(value.tag)
  return tags


@pytest.fixture(scope='module')
def flowers_dir(tmp_path_factory):
  from datasets import download_and_convert_flowers
  work = tmp_path_factory.mktemp('flowers')
  served = work / 'served'
  served.mkdir()
  make_flower_archive(str(served))
  out = str(work / 'flowers')
  with serve_directory(str(served)) as url:
    summary = download_and_convert_flowers.run(out, dataset_url=url + '/flower_photos.tgz',
                                               num_validation=10)
  assert summary.split_sizes == {'train': 30, 'validation': 10}
  return out


def test_flowers_convert_train_eval_export_freeze_label(flowers_dir, tmp_path):
  train_dir, eval_dir = tmp_path / 'train', tmp_path / 'eval'
  common = ['--dataset_name=flowers', '--dataset_dir=%s' % flowers_dir,
            '--model_name=mobilenet_v1_025']
  result = run_script('train_image_classifier.py', '--train_dir=%s' % train_dir,
                      '--dataset_split_name=train', '--train_image_size=64', '--batch_size=8',
                      '--max_number_of_steps=4', '--log_every_n_steps=1',
                      '--save_summaries_secs=1', *common)
  assert 'global step 4: loss = ' in result.stderr
  assert 'images/sec' in result.stderr
  assert tf.train.latest_checkpoint(str(train_dir)).endswith('model.ckpt-4')
  tags = _scalar_tags(str(train_dir))
  for tag in ('total_loss', 'learning_rate', 'sparsity/Conv2d_0', 'activations/Logits',
              'MobilenetV1/Conv2d_0/weights', 'losses/softmax_cross_entropy_loss/value'):
    assert tag in tags, (tag, sorted(tags)[:30])
  assert 'Losses/clone_loss' in tags and 'Losses/regularization_loss' in tags  # model_deploy's
  # TensorBoard's graph is in the events file; import_meta_graph users get the .meta.
  assert any(event.graph_def for path in glob.glob(str(train_dir / 'events.out.tfevents.*'))
             for event in tf.train.summary_iterator(path))
  assert os.path.exists(str(train_dir / 'model.ckpt-4.meta'))
  with open(train_dir / 'flags.json') as f:
    assert json.load(f)['model_name'] == 'mobilenet_v1_025'

  result = run_script('eval_image_classifier.py', '--checkpoint_path=%s' % train_dir,
                      '--eval_dir=%s' % eval_dir, '--dataset_split_name=validation',
                      '--eval_image_size=64', '--batch_size=4', *common)
  assert 'eval/Accuracy[' in result.stdout and 'eval/Recall_5[' in result.stdout
  with open(eval_dir / 'per_class_accuracy.json') as f:
    report = json.load(f)
  assert report['num_examples'] == 10 and report['global_step'] == 4
  assert set(report['per_class']) <= set(FLOWER_CLASSES)
  assert {'eval/Accuracy', 'eval/Recall_5'} <= _scalar_tags(str(eval_dir))

  graph = str(tmp_path / 'graph.pb')
  result = run_script('export_inference_graph.py', '--model_name=mobilenet_v1_025',
                      '--dataset_name=flowers', '--dataset_dir=%s' % flowers_dir,
                      '--image_size=64', '--output_file=%s' % graph)
  assert 'MobilenetV1/Predictions/Reshape_1' in result.stdout
  frozen = str(tmp_path / 'frozen.pb')
  result = run_script('freeze_graph.py', '--input_graph=%s' % graph, '--input_binary=true',
                      '--input_checkpoint=%s' % train_dir, '--output_graph=%s' % frozen)
  assert 'Froze' in result.stdout
  photo = os.path.join(str(tmp_path), 'rose.jpg')
  with open(photo, 'wb') as f:
    f.write(_photo(np.random.RandomState(1), 2))
  result = run_script('label_image.py', '--graph=%s' % frozen, '--image=%s' % photo,
                      '--input_mean=127.5', '--input_std=127.5')
  lines = result.stdout.strip().splitlines()
  assert len(lines) == 5
  names = [line.split(' (')[0] for line in lines]
  assert sorted(names) == sorted(FLOWER_CLASSES)  # labels.txt of the data set found by default
  scores = [float(line.rsplit(': ', 1)[1]) for line in lines]
  assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-3

  # The frozen graph computes what the checkpoint computes.
  from image_classifier import exporting
  from image_classifier import serving
  batch = serving.load_image(photo, 64, 64, 127.5, 127.5)
  frozen_out = serving.run_graph(exporting.load_graph_def(frozen), 'input',
                                   'MobilenetV1/Predictions/Reshape_1', batch)
  from nets import nets_factory
  with tf.Graph().as_default():
    fn = nets_factory.get_network_fn('mobilenet_v1_025', num_classes=5)
    probs = fn(tf.constant(batch))[1]['Predictions']
    with tf.Session() as session:
      tf.train.Saver().restore(session, tf.train.latest_checkpoint(str(train_dir)))
      np.testing.assert_allclose(session.run(probs), frozen_out, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope='module')
def digits_dir(tmp_path_factory):
  from datasets import convert_image_folder
  out = str(tmp_path_factory.mktemp('digits') / 'data')
  convert_image_folder.run(out, images_dir=DIGITS, validation_fraction=0.2, num_shards=2)
  return out


def _train_lenet(dataset_dir, train_dir, steps, *extra):
  return run_script(
      'train_image_classifier.py', '--train_dir=%s' % train_dir, '--dataset_name=custom',
      '--dataset_dir=%s' % dataset_dir, '--dataset_split_name=train', '--model_name=lenet',
      '--train_image_size=8', '--batch_size=64', '--optimizer=adam', '--learning_rate=0.002',
      '--learning_rate_decay_type=fixed', '--weight_decay=0', '--max_number_of_steps=%d' % steps,
      '--log_every_n_steps=100', *extra)


def test_lenet_learns_the_digits(digits_dir, tmp_path):
  _train_lenet(digits_dir, tmp_path / 'train', 600)
  result = run_script('eval_image_classifier.py', '--checkpoint_path=%s' % (tmp_path / 'train'),
                      '--eval_dir=%s' % (tmp_path / 'eval'), '--dataset_name=custom',
                      '--dataset_dir=%s' % digits_dir, '--dataset_split_name=validation',
                      '--model_name=lenet', '--eval_image_size=8')
  with open(tmp_path / 'eval' / 'per_class_accuracy.json') as f:
    report = json.load(f)
  assert report['num_examples'] == 359  # every held-out image exactly once
  assert report['Accuracy'] >= 0.90, report['Accuracy']


def _values(checkpoint):
  reader = tf.train.NewCheckpointReader(checkpoint)
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if name.startswith('LeNet/')}


def test_finetune_restores_all_but_excluded_and_trains_only_trainable(digits_dir, tmp_path):
  from datasets import convert_image_folder
  # A five-class data set: the 10-class logits of the source checkpoint cannot be restored.
  subset = tmp_path / 'five'
  for digit in '01234':
    shutil.copytree(os.path.join(DIGITS, digit), subset / digit)
  five = str(tmp_path / 'five_data')
  convert_image_folder.run(five, images_dir=str(subset), validation_fraction=0.2, num_shards=1)
  _train_lenet(digits_dir, tmp_path / 'source', 20)
  source = tf.train.latest_checkpoint(str(tmp_path / 'source'))

  result = run_script(
      'train_image_classifier.py', '--train_dir=%s' % (tmp_path / 'bad'), '--dataset_name=custom',
      '--dataset_dir=%s' % five, '--model_name=lenet', '--train_image_size=8',
      '--max_number_of_steps=5', '--checkpoint_path=%s' % source, check=False)
  assert_user_error(result, 'LeNet/fc4/weights', '[1024, 10]', '[1024, 5]',
                    '--checkpoint_exclude_scopes=LeNet/fc4')
  assert not glob.glob(str(tmp_path / 'bad' / 'model.ckpt*'))

  tuned = tmp_path / 'tuned'
  _train_lenet(five, tuned, 6, '--checkpoint_path=%s' % source,
               '--checkpoint_exclude_scopes=LeNet/fc4', '--trainable_scopes=LeNet/fc4',
               '--save_interval_steps=3')
  before = _values(source)
  at_3 = _values(str(tuned / 'model.ckpt-3'))
  at_6 = _values(str(tuned / 'model.ckpt-6'))
  for name, value in at_6.items():
    if name.startswith('LeNet/fc4'):
      assert not np.allclose(value, at_3[name]), name  # trained
    else:
      np.testing.assert_array_equal(value, before[name], err_msg=name)  # restored, frozen


@pytest.mark.parametrize('flag,fragment', [
    ('--model_name=resnet_v9', 'lenet'),
    ('--preprocessing_name=fancy', 'inception'),
    ('--dataset_name=flowerz', 'flowers'),
])
def test_unknown_names_are_one_line_errors(flag, fragment, digits_dir, tmp_path):
  args = ['--train_dir=%s' % tmp_path, '--dataset_name=custom', '--dataset_dir=%s' % digits_dir,
          '--model_name=lenet', '--max_number_of_steps=1', flag]
  assert_user_error(run_script('train_image_classifier.py', *args, check=False), fragment)


def test_missing_dataset_dir_names_the_files(tmp_path):
  result = run_script('eval_image_classifier.py', '--dataset_name=flowers',
                      '--dataset_dir=%s' % tmp_path, '--dataset_split_name=validation',
                      '--checkpoint_path=%s' % tmp_path, '--model_name=lenet', check=False)
  assert_user_error(result, 'flowers_validation_*.tfrecord')
