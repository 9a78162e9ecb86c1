"""TensorBoard in the box: a short training run's summaries, read back by the real TensorBoard.

The tags are the original script's: `Losses/clone_loss` (per clone with several clones), not
TensorFlow's uniquified `clone_loss_1`, and the `global_step/sec` speed scalar.
"""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import tensorflow.compat.v1 as tf

from conftest import ROOT, run_script

DIGITS = os.path.join(ROOT, 'sample_data', 'digits')
TENSORBOARD_TIMEOUT_SECS = 60

# LeNet's end points, each with a sparsity scalar and an activations histogram.
LENET_END_POINTS = ['conv1', 'pool1', 'conv2', 'pool2', 'Flatten', 'fc3', 'dropout3', 'Logits',
                    'Predictions']


@pytest.fixture(scope='module')
def digits_dir(tmp_path_factory):
  from datasets import convert_image_folder
  out = str(tmp_path_factory.mktemp('digits') / 'data')
  convert_image_folder.run(out, images_dir=DIGITS, validation_fraction=0.2, num_shards=2)
  return out


def _train_flags(digits_dir, train_dir, *extra):
  return ['--train_dir=%s' % train_dir, '--dataset_name=custom', '--dataset_dir=%s' % digits_dir,
          '--model_name=lenet', '--train_image_size=8', '--batch_size=16',
          '--learning_rate_decay_type=fixed', '--save_summaries_secs=1'] + list(extra)


def _train_until_speed_is_written(digits_dir, train_dir):
  """Trains until the step counter has written `global_step/sec` (it needs two timer ticks, so a
  fixed step count would depend on the machine's speed), then stops the run with Ctrl-C."""
  command = [sys.executable, os.path.join(ROOT, 'train_image_classifier.py')] + _train_flags(
      digits_dir, train_dir, '--max_number_of_steps=1000000', '--log_every_n_steps=1000')
  env = dict(os.environ, PYTHONPATH=ROOT)
  process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env, cwd=ROOT)
  lines = []
  try:
    deadline = time.time() + 120
    for line in process.stdout:
      lines.append(line)
      if line.startswith('INFO:tensorflow:global_step/sec: '):
        break
      assert time.time() < deadline, ''.join(lines[-30:])
    else:
      raise AssertionError('training ended early:\n%s' % ''.join(lines[-30:]))
    process.send_signal(signal.SIGINT)  # saves, closes the session and flushes the events file
    lines.append(process.communicate(timeout=120)[0])
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()
  return ''.join(lines)


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _get_json(url):
  with urllib.request.urlopen(url, timeout=10) as response:
    return json.loads(response.read().decode('utf-8'))


def _tensorboard_tags(logdir, log_path, expected_scalars):
  """{plugin: set of tags of the run at the logdir's root} from a real TensorBoard, polled until
  the scalars include `expected_scalars` (TensorBoard loads event files in the background)."""
  port = _free_port()
  with open(log_path, 'w') as log:
    server = subprocess.Popen(
        [sys.executable, '-m', 'tensorboard.main', '--logdir', logdir, '--host', '127.0.0.1',
         '--port', str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
  try:
    base = 'http://127.0.0.1:%d/data/plugin/' % port
    scalars = set()
    deadline = time.time() + TENSORBOARD_TIMEOUT_SECS
    while time.time() < deadline:
      assert server.poll() is None, open(log_path).read()[-3000:]
      try:
        scalars = set(_get_json(base + 'scalars/tags').get('.', {}))
      except (urllib.error.URLError, ConnectionError):
        scalars = set()  # not listening yet
      if expected_scalars <= scalars:
        break
      time.sleep(0.5)
    histograms = set(_get_json(base + 'histograms/tags').get('.', {})) if scalars else set()
    return {'scalars': scalars, 'histograms': histograms}
  finally:
    # TensorBoard and its data-server child, which were started in their own session.
    os.killpg(server.pid, signal.SIGTERM)
    try:
      server.wait(timeout=15)
    except subprocess.TimeoutExpired:
      os.killpg(server.pid, signal.SIGKILL)
      server.wait()


def test_tensorboard_shows_the_original_tags_of_a_training_run(digits_dir, tmp_path):
  train_dir = str(tmp_path / 'train')
  output = _train_until_speed_is_written(digits_dir, train_dir)
  assert glob.glob(os.path.join(train_dir, 'events.out.tfevents.*')), output[-3000:]
  expected = {'total_loss', 'learning_rate', 'global_step/sec', 'Losses/clone_loss',
              'Losses/regularization_loss', 'losses/softmax_cross_entropy_loss/value'}
  expected |= {'sparsity/' + name for name in LENET_END_POINTS}
  tags = _tensorboard_tags(train_dir, str(tmp_path / 'tensorboard.log'), expected)
  assert expected <= tags['scalars'], (sorted(expected - tags['scalars']), sorted(tags['scalars']))
  # Exactly these: no uniquified copies such as 'clone_loss_1' or 'total_loss_1'.
  assert tags['scalars'] == expected, sorted(tags['scalars'] - expected)
  weights = {'LeNet/%s/%s' % (layer, kind) for layer in ('conv1', 'conv2', 'fc3', 'fc4')
             for kind in ('weights', 'biases')}
  activations = {'activations/' + name for name in LENET_END_POINTS}
  assert weights | activations <= tags['histograms'], sorted(tags['histograms'])


def test_each_clone_has_its_loss_scalar(digits_dir, tmp_path):
  train_dir = tmp_path / 'train'
  run_script('train_image_classifier.py', *_train_flags(
      digits_dir, train_dir, '--num_clones=2', '--clone_on_cpu', '--max_number_of_steps=3'))
  scalars = set()
  for path in glob.glob(str(train_dir / 'events.out.tfevents.*')):
    for event in tf.train.summary_iterator(path):
      scalars |= {v.tag for v in event.summary.value if v.WhichOneof('value') == 'simple_value'}
  assert {'Losses/clone_0/clone_loss', 'Losses/clone_1/clone_loss', 'Losses/regularization_loss',
          'total_loss', 'learning_rate'} <= scalars, sorted(scalars)
  assert not any(tag.endswith('_1') or tag == 'Losses/clone_loss' for tag in scalars), sorted(
      scalars)
