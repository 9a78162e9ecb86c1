"""Flowers end to end: a small archive in the real flower_photos layout, served over loopback HTTP,
converted, read back record by record and through the README's DatasetDataProvider snippet."""
import io
import os
import random
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest
from PIL import Image

from dataset_test_utils import damage_scan, tf_decodes
from datasets import convert_image_folder
from datasets import dataset_factory
from datasets import dataset_utils
from datasets import download_and_convert_flowers
from datasets import flowers
from foundation import fileio
from foundation.errors import UserError
from tests.http_server import serve_directory

import tensorflow.compat.v1 as tf
import tf_slim as slim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']
PER_CLASS = 4
NUM_VALIDATION = 5
CORRUPT = 'roses/broken 1.jpg'


def _photo(rng, height, width):
  """A small JPEG with varied content: gradient, noise and a coloured block."""
  y, x = np.mgrid[0:height, 0:width]
  image = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (height + width)], -1)
  image = image + rng.randint(0, 40, size=image.shape)
  top, left = rng.randint(0, height // 2), rng.randint(0, width // 2)
  image[top:top + height // 3, left:left + width // 3] = rng.randint(0, 256, size=3)
  out = io.BytesIO()
  Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(out, format='JPEG', quality=85)
  return out.getvalue()


def _build_archive(folder, extra=None):
  """Writes flower_photos.tgz (5 class folders + LICENSE.txt, and the `extra` {relative path:
  bytes}); returns {relative path: bytes}."""
  rng = np.random.RandomState(7)
  photos = {}
  for class_name in CLASSES:
    for i in range(PER_CLASS):
      photos['%s/%d_%s.jpg' % (class_name, 1000 + i, class_name)] = _photo(
          rng, rng.randint(24, 64), rng.randint(24, 64))
  good = photos['roses/1000_roses.jpg']
  photos[CORRUPT] = good[:len(good) // 2]  # a JPEG cut in the middle of its data
  photos.update(extra or {})
  archive = os.path.join(folder, 'flower_photos.tgz')
  with tarfile.open(archive, 'w:gz') as tar:
    entries = [('flower_photos/LICENSE.txt', b'All photos licensed under CC-BY 2.0\n')]
    entries += [('flower_photos/' + name, data) for name, data in photos.items()]
    for name, data in entries:
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return archive, photos


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  served = str(tmp_path_factory.mktemp('served'))
  _, photos = _build_archive(served)
  out = str(tmp_path_factory.mktemp('flowers'))
  with serve_directory(served) as url:
    summary = download_and_convert_flowers.run(
        out, dataset_url=url + '/flower_photos.tgz', num_workers=1, num_validation=NUM_VALIDATION)
  return out, photos, summary


def _records(dataset_dir, split):
  examples = []
  for shard in range(5):
    path = os.path.join(dataset_dir, 'flowers_%s_%05d-of-00005.tfrecord' % (split, shard))
    for record in tf.io.tf_record_iterator(path):
      examples.append(tf.train.Example.FromString(record).features.feature)
  return examples


def test_output_files_and_cleanup(converted):
  out, _, summary = converted
  expected = sorted(['flowers_%s_%05d-of-00005.tfrecord' % (split, shard)
                     for split in ('train', 'validation') for shard in range(5)] + ['labels.txt'])
  assert sorted(os.listdir(out)) == expected  # archive and extracted photos removed
  with open(os.path.join(out, 'labels.txt')) as f:
    assert f.read() == '0:daisy\n1:dandelion\n2:roses\n3:sunflowers\n4:tulips\n'
  assert dataset_utils.read_label_file(out) == dict(enumerate(CLASSES))


def test_records_hold_original_bytes_labels_and_sizes(converted):
  out, photos, summary = converted
  by_bytes = {data: name for name, data in photos.items() if name != CORRUPT}
  # The documented split: sorted paths, random.seed(0) shuffle, first NUM_VALIDATION -> validation.
  order = sorted(photos)
  random.seed(0)
  random.shuffle(order)
  expected = {'validation': [n for n in order[:NUM_VALIDATION] if n != CORRUPT],
              'train': [n for n in order[NUM_VALIDATION:] if n != CORRUPT]}
  for split in ('train', 'validation'):
    seen = []
    for feature in _records(out, split):
      data = feature['image/encoded'].bytes_list.value[0]
      name = by_bytes[data]  # byte-identical to a source photo
      seen.append(name)
      assert feature['image/format'].bytes_list.value == [b'jpg']
      assert feature['image/class/label'].int64_list.value == [CLASSES.index(name.split('/')[0])]
      width, height = Image.open(io.BytesIO(data)).size
      assert feature['image/height'].int64_list.value == [height]
      assert feature['image/width'].int64_list.value == [width]
    assert seen == expected[split]  # same photos, in shuffled order across shards 0..4
    assert summary.split_sizes[split] == len(expected[split])


def test_corrupt_jpeg_is_skipped_named_and_counted(converted):
  _, _, summary = converted
  assert [os.path.relpath(path, path.split('flower_photos')[0] + 'flower_photos')
          for path, _ in summary.skipped] == [CORRUPT]
  report = str(summary)
  assert 'skipped (unreadable) files: 1' in report and 'broken 1.jpg' in report
  assert 'images/s' in report and 'train %d' % summary.split_sizes['train'] in report


def test_photo_with_a_damaged_scan_is_skipped_and_every_record_decodes(tmp_path):
  """A photo whose scan holds a marker (header and end intact, so only a decode shows it) is not
  written; every stored image decodes with TensorFlow."""
  damaged = damage_scan(_photo(np.random.RandomState(3), 48, 64))
  assert tf_decodes([damaged]) == [False]
  archive_dir = tmp_path / 'archive'
  archive_dir.mkdir()
  _, photos = _build_archive(str(archive_dir), {'tulips/damaged scan.jpg': damaged})
  out = str(tmp_path / 'out')
  summary = download_and_convert_flowers.run(
      out, dataset_url=str(archive_dir / 'flower_photos.tgz'), num_workers=2,
      num_validation=NUM_VALIDATION)
  names = sorted(path.split('flower_photos' + os.sep)[1] for path, _ in summary.skipped)
  assert names == [CORRUPT, 'tulips/damaged scan.jpg']
  reason = dict(summary.skipped)[[p for p, _ in summary.skipped if 'damaged' in p][0]]
  assert reason.startswith('TensorFlow cannot decode it: jpeg::Uncompress failed')
  assert 'damaged scan.jpg' in str(summary) and 'skipped (unreadable) files: 2' in str(summary)
  stored = [feature['image/encoded'].bytes_list.value[0]
            for split in ('train', 'validation') for feature in _records(out, split)]
  assert len(stored) == len(photos) - 2 == summary.num_images
  assert tf_decodes(stored) == [True] * len(stored)


def test_readme_snippet_with_dataset_data_provider(converted):
  out, photos, _ = converted
  with tf.Graph().as_default():
    dataset = dataset_factory.get_dataset('flowers', 'validation', out)
    provider = slim.dataset_data_provider.DatasetDataProvider(dataset)
    [image, label] = provider.get(['image', 'label'])
    assert dataset.num_samples == flowers.SPLITS_TO_SIZES['validation'] == 350
    assert dataset.num_classes == 5 and dataset.labels_to_names == dict(enumerate(CLASSES))
    with tf.Session() as sess:
      coord = tf.train.Coordinator()
      threads = tf.train.start_queue_runners(sess=sess, coord=coord)
      try:
        decoded = [sess.run([image, label]) for _ in range(3)]
      finally:
        coord.request_stop()
        coord.join(threads, stop_grace_period_secs=5)
  for pixels, class_id in decoded:
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    # The decoded image is one of the photos of its class, pixel for pixel (same JPEG decoder
    # family, so allow rounding differences).
    matches = [np.abs(np.asarray(Image.open(io.BytesIO(data)), np.int16) - pixels).mean()
               for name, data in photos.items()
               if name != CORRUPT and name.startswith(CLASSES[class_id] + '/')
               and Image.open(io.BytesIO(data)).size == (pixels.shape[1], pixels.shape[0])]
    assert matches and min(matches) < 2.0


def test_rerun_on_complete_folder_does_nothing(converted):
  out, _, _ = converted
  before = {name: os.stat(os.path.join(out, name)).st_mtime_ns for name in os.listdir(out)}
  # No archive is fetched at all: the source given does not even exist.
  summary = download_and_convert_flowers.run(out, dataset_url='/nonexistent/flower_photos.tgz')
  assert summary.already_complete and 'nothing to do' in str(summary)
  assert {name: os.stat(os.path.join(out, name)).st_mtime_ns for name in os.listdir(out)} == before


def test_failure_mid_conversion_leaves_no_partial_shard(converted, tmp_path):
  """A conversion that dies in its third shard: shards written before are whole, the broken one
  never gets its final name, nothing temporary remains, and the folder is not taken as complete."""
  _, photos, _ = converted
  src = tmp_path / 'src'
  src.mkdir()
  items = []
  for i, (name, data) in enumerate(sorted(photos.items())):
    path = src / ('%02d.jpg' % i)
    path.write_bytes(data)
    items.append((str(path), 0))
  items[11] = (items[11][0], 'not-a-label')  # 5 items per shard: the third shard fails
  out = tmp_path / 'out'
  out.mkdir()
  with pytest.raises(TypeError):
    convert_image_folder.write_splits([('train', items, 5)], str(out), 'flowers',
                                      convert_image_folder.KEEP_ORIGINAL, num_workers=1)
  names = sorted(os.listdir(str(out)))
  assert names == ['flowers_train_00000-of-00005.tfrecord', 'flowers_train_00001-of-00005.tfrecord']
  assert not download_and_convert_flowers._dataset_exists(str(out))


def test_get_split_errors_name_the_problem(tmp_path):
  with pytest.raises(UserError) as error:
    flowers.get_split('train', str(tmp_path))
  message = str(error.value)
  assert isinstance(error.value, ValueError)
  assert os.path.join(str(tmp_path), 'flowers_train_*.tfrecord') in message
  assert 'download_and_convert_data.py --dataset_name=flowers --dataset_dir=%s' % tmp_path in message
  with pytest.raises(ValueError, match='split name test was not recognized.*train, validation'):
    dataset_factory.get_dataset('flowers', 'test', str(tmp_path))
  with pytest.raises(UserError, match='unknown foo.*cifar10, custom, flowers, imagenet, mnist, '
                     'visualwakewords') as error:
    dataset_factory.get_dataset('foo', 'train', str(tmp_path))
  assert isinstance(error.value, ValueError)
  # Describing the split without its files (e.g. to read num_classes) is possible on request.
  assert flowers.get_split('train', str(tmp_path), require_files=False).num_classes == 5
  for empty in ('', None):
    with pytest.raises(UserError, match=r'--dataset_dir is empty.* flowers_train_\*\.tfrecord '
                       '.*--dataset_name=flowers'):
      flowers.get_split('train', empty)
    assert flowers.get_split('train', empty, require_files=False).labels_to_names is None


def test_missing_descriptor_module_fails_only_when_used():
  assert sorted(dataset_factory.datasets_map) == [
      'cifar10', 'custom', 'flowers', 'imagenet', 'mnist', 'visualwakewords']
  lazy = dataset_factory._LazyModule('nope', 'datasets.no_such_descriptor')
  with pytest.raises(UserError, match='data set nope is known but its module'):
    lazy.get_split('train', '/tmp')


def _start_script(*args):
  # SIGINT back to its default: a test run started in the background may inherit it ignored.
  return subprocess.Popen([sys.executable, os.path.join(ROOT, 'download_and_convert_data.py')]
                          + list(args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _ctrl_c_during_conversion(tmp_path):
  """Starts a custom conversion that blocks on a FIFO posing as an image; returns (process, out)."""
  images = tmp_path / 'images'
  (images / 'a').mkdir(parents=True)
  rng = np.random.RandomState(0)
  for i in range(4):
    (images / 'a' / ('%d.jpg' % i)).write_bytes(_photo(rng, 16, 16))
  os.mkfifo(str(images / 'a' / 'stuck.jpg'))  # reading it blocks until the process is interrupted
  out = tmp_path / 'interrupted'
  return _start_script('--dataset_name=custom', '--dataset_dir=%s' % out,
                       '--images_dir=%s' % images, '--validation_fraction=0', '--num_workers=1'), out


def test_script_ctrl_c_escaping_member_and_unknown_name(tmp_path):
  """Three runs of the script at once (each spends most of its time importing TensorFlow)."""
  interrupted, interrupted_out = _ctrl_c_during_conversion(tmp_path)
  evil = str(tmp_path / 'flower_photos.tgz')
  with tarfile.open(evil, 'w:gz') as tar:
    for name in ('flower_photos/daisy/1.jpg', 'flower_photos/../../escaped.txt'):
      info = tarfile.TarInfo(name)
      info.size = 3
      tar.addfile(info, io.BytesIO(b'abc'))
  out = tmp_path / 'out'
  hostile = _start_script('--dataset_name=flowers', '--dataset_dir=%s' % out,
                          '--dataset_url=%s' % evil, '--num_workers=1')
  unknown = _start_script('--dataset_name=flower', '--dataset_dir=%s' % (tmp_path / 'other'))
  try:
    deadline = time.time() + 180
    while not (interrupted_out.is_dir() and any(
        fileio.is_temp_name(n) for n in os.listdir(str(interrupted_out)))):
      assert interrupted.poll() is None and time.time() < deadline, interrupted.communicate()
      time.sleep(0.05)
    interrupted.send_signal(signal.SIGINT)  # Ctrl-C while a shard is being written
    _, interrupted_err = interrupted.communicate(timeout=60)
  finally:
    if interrupted.poll() is None:
      interrupted.kill()
  _, hostile_err = hostile.communicate(timeout=180)
  _, unknown_err = unknown.communicate(timeout=180)

  assert interrupted.returncode == 130 and 'error: interrupted' in interrupted_err
  assert 'Traceback' not in interrupted_err
  left = os.listdir(str(interrupted_out))
  # No temporary file, no meta file (the data set is not complete), and every file with a shard
  # name is a whole TFRecord file.
  assert all(n.startswith('custom_train_') and n.endswith('-of-00005.tfrecord') for n in left)
  assert len(left) < 5
  for name in left:
    assert len(list(tf.io.tf_record_iterator(str(interrupted_out / name)))) == 1

  assert hostile.returncode == 2, hostile_err
  assert 'Traceback' not in hostile_err
  error_lines = [l for l in hostile_err.splitlines() if l.startswith('error:')]
  assert len(error_lines) == 1 and "'flower_photos/../../escaped.txt'" in error_lines[0]
  assert not (tmp_path / 'escaped.txt').exists() and not os.path.exists(
      os.path.join(os.path.dirname(str(tmp_path)), 'escaped.txt'))
  assert os.path.exists(evil)  # a user's local archive is never deleted
  assert os.listdir(str(out)) == []  # nor is anything left behind

  assert unknown.returncode == 2 and 'Traceback' not in unknown_err
  assert ('error: flag --dataset_name=flower: value should be one of '
          '<flowers|cifar10|mnist|visualwakewords|custom>') in unknown_err


def test_dataset_utils_helpers(tmp_path):
  import contextlib
  labels = {0: 'background', 1: 'a: b', 7: 'ü x'}
  dataset_utils.write_label_file(labels, str(tmp_path))
  assert dataset_utils.has_labels(str(tmp_path))
  assert (tmp_path / 'labels.txt').read_text(encoding='utf-8') == '0:background\n1:a: b\n7:ü x\n'
  assert dataset_utils.read_label_file(str(tmp_path)) == labels
  assert dataset_utils.int64_feature(3).int64_list.value == [3]
  assert dataset_utils.float_feature([1.5, 2.0]).float_list.value == [1.5, 2.0]
  assert dataset_utils.bytes_list_feature([b'a', b'b']).bytes_list.value == [b'a', b'b']

  base = str(tmp_path / 'train')
  with contextlib.ExitStack() as stack:
    writers = dataset_utils.open_sharded_output_tfrecords(stack, base, 2)
    for index in range(5):
      writers[index % 2].write(b'record %d' % index)
  assert sorted(n for n in os.listdir(str(tmp_path)) if n.startswith('train')) == [
      'train-00000-of-00002', 'train-00001-of-00002']
  assert [r for r in tf.io.tf_record_iterator(base + '-00001-of-00002')] == [b'record 1',
                                                                            b'record 3']
  with pytest.raises(RuntimeError):
    with contextlib.ExitStack() as stack:
      writers = dataset_utils.open_sharded_output_tfrecords(stack, str(tmp_path / 'val'), 2)
      writers[0].write(b'x')
      raise RuntimeError('interrupted')
  assert not [n for n in os.listdir(str(tmp_path)) if 'val' in n]
