"""A fine-tuning pipeline of scripts/ end to end: the real MobileNet V1 0.25 checkpoint served as a
tarball on loopback, flowers in the real archive layout, both phases, both evaluations."""
import os
import re
import subprocess
import sys
import tarfile

import numpy as np
import tensorflow.compat.v1 as tf

from conftest import ROOT, shared_path
from http_server import serve_directory
from test_end_to_end import make_flower_archive


def test_finetune_mobilenet_v1_on_flowers_pipeline(tmp_path):
  source = shared_path('pretrained', 'mobilenet_v1_0.25_128')
  from datasets import download_and_convert_flowers
  served = tmp_path / 'served'
  served.mkdir()
  with tarfile.open(served / 'mobilenet_v1_0.25_128.tgz', 'w:gz') as tar:
    for name in os.listdir(source):
      if name.startswith('mobilenet_v1_0.25_128.ckpt'):
        tar.add(os.path.join(source, name), arcname='./' + name)
  archive = make_flower_archive(str(served), per_class=8)
  dataset_dir = str(tmp_path / 'flowers')
  # The real split holds out 350 photos; this small archive holds out 10 (already converted, so the
  # pipeline's own conversion step finds a complete folder and does nothing).
  download_and_convert_flowers.run(dataset_dir, dataset_url=archive, num_validation=10)
  train_dir = tmp_path / 'train'
  with serve_directory(str(served)) as url:
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=ROOT, MODEL_NAME='mobilenet_v1_025',
               IMAGE_SIZE='128', CHECKPOINT_URL=url + '/mobilenet_v1_0.25_128.tgz',
               CHECKPOINT_NAME='mobilenet_v1_0.25_128.ckpt', DATASET_URL=url + '/flower_photos.tgz',
               DATASET_DIR=dataset_dir, TRAIN_DIR=str(train_dir),
               PRETRAINED_CHECKPOINT_DIR=str(tmp_path / 'checkpoints'), LOGITS_STEPS='6',
               ALL_STEPS='3', BATCH_SIZE='8')
    result = subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'finetune_mobilenet_v1_on_flowers.sh')],
                            capture_output=True, text=True, env=env, timeout=900)
  output = result.stdout + result.stderr
  assert result.returncode == 0, output[-5000:]
  # Each phase is evaluated on the 10 held-out photos, at the step it ended on; the accuracy
  # printed is the count of right answers over those 10.
  evaluated = re.findall(r'Evaluated \S+ \(step (\d+)\): (\d+) images in [0-9.]+ s, '
                         r'Accuracy ([0-9.]+)', result.stdout)
  assert [(int(s), int(n)) for s, n, _ in evaluated] == [(6, 10), (3, 10)], result.stdout[-3000:]
  accuracies = [float(a) for a in re.findall(r'eval/Accuracy\[([0-9.]+)\]', result.stdout)]
  assert [round(a * 10, 6) for a in accuracies] == [round(a * 10) for a in accuracies]
  assert accuracies == [float(a) for _, _, a in evaluated]
  assert 'already' in output  # the converted folder was left alone
  # Phase 1 restored every layer but the logits from the real checkpoint and trained only the
  # logits. (Batch-norm moving statistics keep updating in training mode, as in the original.)
  original = tf.train.NewCheckpointReader(os.path.join(source, 'mobilenet_v1_0.25_128.ckpt'))
  phase1 = tf.train.NewCheckpointReader(tf.train.latest_checkpoint(str(train_dir)))
  names = [n for n in phase1.get_variable_to_shape_map() if n.startswith('MobilenetV1/')
           and 'RMSProp' not in n and 'moving_' not in n]
  for name in names:
    if name.startswith('MobilenetV1/Logits'):
      assert phase1.get_variable_to_shape_map()[name][-1] in (5, 1024)
    else:
      np.testing.assert_array_equal(phase1.get_tensor(name), original.get_tensor(name), err_msg=name)
  phase2 = tf.train.NewCheckpointReader(tf.train.latest_checkpoint(str(train_dir / 'all')))
  assert int(phase2.get_tensor('global_step')) == 3
  assert not np.array_equal(phase2.get_tensor('MobilenetV1/Conv2d_0/weights'),
                            original.get_tensor('MobilenetV1/Conv2d_0/weights'))
