"""CIFAR-10 and MNIST converters fed over loopback HTTP with archives built here in the real
formats, and their descriptors reading the result back."""
import gzip
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from dataset_test_utils import decode, provide_all, read_examples
from datasets import cifar10
from datasets import dataset_factory
from datasets import dataset_utils
from datasets import download_and_convert_cifar10 as cifar_converter
from datasets import download_and_convert_mnist as mnist_converter
from http_server import serve_directory
from foundation.errors import UserError

_CIFAR_COUNTS = {'data_batch_1': 7, 'data_batch_2': 5, 'data_batch_3': 6, 'data_batch_4': 4,
                 'data_batch_5': 3, 'test_batch': 9}


def _cifar_batches(seed=0):
  rng = np.random.RandomState(seed)
  return {name: (rng.randint(0, 256, size=(n, 3072)).astype(np.uint8),
                 [int(v) for v in rng.randint(0, 10, size=n)])
          for name, n in _CIFAR_COUNTS.items()}


def _py2_string(value):
  """A Python 2 `str` in a protocol 2 pickle (SHORT_BINSTRING / BINSTRING)."""
  if len(value) < 256:
    return b'U' + bytes([len(value)]) + value
  return b'T' + struct.pack('<i', len(value)) + value


def _py2_batch(rows, labels):
  """The bytes of a batch pickled the way the real archive's were (Python 2, numpy 1):
  {'data': uint8 array [N, 3072], 'labels': [int]}, with str keys and numpy.core globals."""
  out = b'\x80\x02}(' + _py2_string(b'data')
  out += b'cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85' + _py2_string(b'b')
  out += b'\x87R(K\x01M' + struct.pack('<H', rows.shape[0]) + b'M' + struct.pack('<H', 3072)
  out += b'\x86cnumpy\ndtype\n' + _py2_string(b'u1') + b'K\x00K\x01\x87R(K\x03'
  out += _py2_string(b'|') + b'NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89'
  out += _py2_string(rows.tobytes()) + b'tb' + _py2_string(b'labels') + b']('
  out += b''.join(b'K' + bytes([label]) for label in labels) + b'eu.'
  return out


def _write_cifar_archive(path, batches, drop=None):
  """A cifar-10-python.tar.gz layout: cifar-10-batches-py/<batch> pickles with data and labels.

  data_batch_1 and test_batch are Python 2 pickles like the real archive's, the others Python 3
  ones (numpy 2 globals, bytes keys), so both kinds are read.
  """
  with tarfile.open(path, 'w:gz') as archive:
    def add(name, data):
      info = tarfile.TarInfo('cifar-10-batches-py/' + name)
      info.size = len(data)
      archive.addfile(info, io.BytesIO(data))
    for name, (rows, labels) in batches.items():
      if name == drop:
        continue
      if name in ('data_batch_1', 'test_batch'):
        add(name, _py2_batch(rows, labels))
      else:
        add(name, pickle.dumps({b'batch_label': name.encode(), b'data': rows, b'labels': labels,
                                b'filenames': [b'x.png'] * len(labels)}, protocol=2))
    add('batches.meta', pickle.dumps({b'label_names': [
        n.encode() for n in cifar_converter._CLASS_NAMES], b'num_vis': 3072}, protocol=2))


@pytest.fixture(scope='module')
def cifar_source(tmp_path_factory):
  folder = tmp_path_factory.mktemp('cifar_source')
  batches = _cifar_batches()
  _write_cifar_archive(str(folder / 'cifar-10-python.tar.gz'), batches)
  return str(folder), batches


@pytest.fixture(scope='module')
def cifar_converted(cifar_source, tmp_path_factory):
  folder, batches = cifar_source
  out = str(tmp_path_factory.mktemp('cifar_out'))
  chunk = cifar_converter._CHUNK
  cifar_converter._CHUNK = 4  # several chunks, so the two worker processes both get work
  try:
    with serve_directory(folder) as url:
      summary = cifar_converter.run(out, dataset_url=url + '/cifar-10-python.tar.gz', num_workers=2)
  finally:
    cifar_converter._CHUNK = chunk
  return out, batches, summary


def _cifar_expected(batches, names):
  rows = np.concatenate([batches[n][0] for n in names])
  labels = sum((batches[n][1] for n in names), [])
  return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def test_cifar10_records_match_the_batches_image_by_image(cifar_converted):
  out, batches, summary = cifar_converted
  assert summary.split_sizes == {'train': 25, 'test': 9}
  assert 'images/s' in str(summary)
  # The downloaded tarball is deleted; only the outputs remain.
  assert sorted(os.listdir(out)) == ['cifar10_test.tfrecord', 'cifar10_train.tfrecord',
                                     'labels.txt']
  for split, names in (('train', cifar_converter._TRAIN_BATCHES), ('test', ['test_batch'])):
    images, labels = _cifar_expected(batches, names)
    examples = read_examples(os.path.join(out, 'cifar10_%s.tfrecord' % split))
    assert len(examples) == len(labels)
    for example, image, label in zip(examples, images, labels):
      assert example['image/format'] == [b'png']
      assert example['image/class/label'] == [label]
      assert example['image/height'] == [32] and example['image/width'] == [32]
      np.testing.assert_array_equal(decode(example['image/encoded'][0]), image)
  assert dataset_utils.read_label_file(out) == dict(enumerate(cifar_converter._CLASS_NAMES))


def test_cifar10_descriptor_reads_the_converted_files(cifar_converted):
  out, batches, _ = cifar_converted
  dataset = dataset_factory.get_dataset('cifar10', 'test', out)
  assert dataset.num_samples == 10000 and dataset.num_classes == 10
  assert dataset.labels_to_names[0] == 'airplane'
  images, labels = _cifar_expected(batches, ['test_batch'])
  results = provide_all(lambda: cifar10.get_split('test', out), ['image', 'label'], 3)
  for (image, label), want_image, want_label in zip(results, images, labels):
    assert image.shape == (32, 32, 3)
    np.testing.assert_array_equal(image, want_image)
    assert label == want_label


def test_cifar10_is_a_no_op_on_a_complete_folder(cifar_converted):
  out, _, _ = cifar_converted
  before = {n: os.path.getmtime(os.path.join(out, n)) for n in os.listdir(out)}
  summary = cifar_converter.run(out, dataset_url='/nonexistent/never/read.tar.gz')
  assert summary.already_complete and 'nothing to do' in str(summary)
  assert before == {n: os.path.getmtime(os.path.join(out, n)) for n in os.listdir(out)}


def test_cifar10_truncated_download_is_an_error_and_leaves_nothing(cifar_source, tmp_path):
  folder, _ = cifar_source
  size = os.path.getsize(os.path.join(folder, 'cifar-10-python.tar.gz'))
  with serve_directory(folder, truncate={'cifar-10-python.tar.gz': size // 2}) as url:
    with pytest.raises(UserError, match='incomplete|broke off'):
      cifar_converter.run(str(tmp_path), dataset_url=url + '/cifar-10-python.tar.gz')
  assert os.listdir(str(tmp_path)) == []


def test_cifar10_truncated_local_archive_is_named(cifar_source, tmp_path):
  folder, _ = cifar_source
  with open(os.path.join(folder, 'cifar-10-python.tar.gz'), 'rb') as f:
    data = f.read()
  bad = tmp_path / 'cut.tar.gz'
  bad.write_bytes(data[:len(data) * 2 // 3])
  with pytest.raises(UserError, match='cut.tar.gz'):
    cifar_converter.run(str(tmp_path / 'out'), dataset_url=str(bad))
  assert bad.exists()  # a user's own file is never deleted
  assert not os.path.exists(str(tmp_path / 'out' / 'cifar10_train.tfrecord'))


def test_cifar10_checksum_mismatch_removes_the_download(cifar_source, tmp_path, monkeypatch):
  folder, _ = cifar_source
  with serve_directory(folder) as url:
    # The official URL always gets the official md5 check; this archive is not the official one.
    monkeypatch.setattr(cifar_converter, '_DATA_URL', url + '/cifar-10-python.tar.gz')
    with pytest.raises(UserError) as error:
      cifar_converter.run(str(tmp_path))
  message = str(error.value)
  assert 'cifar-10-python.tar.gz' in message and cifar_converter._DATA_MD5 in message
  assert 'deleted' in message
  assert os.listdir(str(tmp_path)) == []


def test_cifar10_counts_come_from_the_data_and_a_missing_batch_is_named(tmp_path):
  batches = _cifar_batches(seed=1)
  _write_cifar_archive(str(tmp_path / 'c.tar.gz'), batches, drop='data_batch_3')
  with pytest.raises(UserError, match='data_batch_3'):
    cifar_converter.run(str(tmp_path / 'out'), dataset_url=str(tmp_path / 'c.tar.gz'))


def test_cifar10_batch_with_a_code_running_pickle_is_refused(tmp_path):
  class Evil(object):
    def __reduce__(self):
      return (os.system, ('echo hacked',))
  with pytest.raises(UserError, match='not allowed'):
    cifar_converter.read_batch(pickle.dumps({b'data': Evil(), b'labels': []}), 'data_batch_1')


# --------------------------------------------------------------------------------------- MNIST

def _idx_images(images):
  n, rows, cols = images.shape
  return struct.pack('>IIII', 2051, n, rows, cols) + images.tobytes()


def _idx_labels(labels):
  return struct.pack('>II', 2049, len(labels)) + np.asarray(labels, np.uint8).tobytes()


def _write_mnist(folder, counts=(12, 7), seed=0, gz=True):
  rng = np.random.RandomState(seed)
  data = {}
  for split, prefix, n in (('train', 'train', counts[0]), ('test', 't10k', counts[1])):
    images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
    labels = rng.randint(0, 10, size=n)
    data[split] = (images, labels)
    for name, content in (('%s-images-idx3-ubyte' % prefix, _idx_images(images)),
                          ('%s-labels-idx1-ubyte' % prefix, _idx_labels(labels))):
      if gz:
        with open(os.path.join(folder, name + '.gz'), 'wb') as f:
          f.write(gzip.compress(content))
      else:
        with open(os.path.join(folder, name), 'wb') as f:
          f.write(content)
  return data


@pytest.fixture(scope='module')
def mnist_converted(tmp_path_factory):
  source = str(tmp_path_factory.mktemp('mnist_source'))
  data = _write_mnist(source)
  out = str(tmp_path_factory.mktemp('mnist_out'))
  with serve_directory(source) as url:
    summary = mnist_converter.run(out, dataset_url=url + '/', num_workers=1)
  return out, data, summary


def test_mnist_records_match_the_idx_files(mnist_converted):
  out, data, summary = mnist_converted
  assert summary.split_sizes == {'train': 12, 'test': 7}
  assert sorted(os.listdir(out)) == ['labels.txt', 'mnist_test.tfrecord', 'mnist_train.tfrecord']
  for split, (images, labels) in data.items():
    examples = read_examples(os.path.join(out, 'mnist_%s.tfrecord' % split))
    assert len(examples) == len(labels)
    for example, image, label in zip(examples, images, labels):
      assert example['image/format'] == [b'png']
      assert example['image/class/label'] == [label]
      assert (example['image/height'], example['image/width']) == ([28], [28])
      decoded = decode(example['image/encoded'][0])
      assert decoded.shape == (28, 28)  # a one-channel PNG: MNIST stays grey
      np.testing.assert_array_equal(decoded, image)
  names = dataset_utils.read_label_file(out)
  assert names[6] == 'six' and len(names) == 10


def test_mnist_descriptor_gives_one_channel_images_and_scalar_labels(mnist_converted):
  out, data, _ = mnist_converted
  dataset = dataset_factory.get_dataset('mnist', 'train', out)
  assert dataset.num_samples == 60000 and dataset.num_classes == 10
  images, labels = data['train']
  results = provide_all(lambda: dataset_factory.get_dataset('mnist', 'train', out),
                        ['image', 'label'], 2)
  for (image, label), want_image, want_label in zip(results, images, labels):
    assert image.shape == (28, 28, 1) and label.shape == ()
    np.testing.assert_array_equal(image[:, :, 0], want_image)
    assert label == want_label


def test_mnist_local_folder_of_unzipped_files(tmp_path):
  source = tmp_path / 'src'
  source.mkdir()
  data = _write_mnist(str(source), counts=(3, 2), seed=3, gz=False)
  summary = mnist_converter.run(str(tmp_path / 'out'), dataset_url=str(source), num_workers=1)
  assert summary.split_sizes == {'train': 3, 'test': 2}
  assert len(os.listdir(str(source))) == 4  # a user's own files are never deleted
  examples = read_examples(str(tmp_path / 'out' / 'mnist_test.tfrecord'))
  assert [e['image/class/label'][0] for e in examples] == list(data['test'][1])


@pytest.mark.parametrize('damage, match', [
    ('foreign', 'magic number is 0x'),
    ('truncated_body', 'truncated or damaged'),
    ('truncated_gzip', 'damaged or truncated gzip'),
    ('count_mismatch', 'holds 5 images but'),
])
def test_mnist_bad_idx_files_are_named(tmp_path, damage, match):
  source = tmp_path / 'src'
  source.mkdir()
  _write_mnist(str(source), counts=(5, 2), seed=4)
  target = source / 'train-images-idx3-ubyte.gz'
  content = gzip.decompress(target.read_bytes())
  if damage == 'foreign':
    target.write_bytes(gzip.compress(struct.pack('>I', 0x1f8b0808) + content[4:]))
  elif damage == 'truncated_body':
    target.write_bytes(gzip.compress(content[:-100]))
  elif damage == 'truncated_gzip':
    raw = target.read_bytes()
    target.write_bytes(raw[:len(raw) // 2])
  else:
    labels = source / 'train-labels-idx1-ubyte.gz'
    labels.write_bytes(gzip.compress(_idx_labels([1, 2, 3])))
    target = labels if damage == 'count_mismatch' else target
  with pytest.raises(UserError, match=match) as error:
    mnist_converter.run(str(tmp_path / 'out'), dataset_url=str(source), num_workers=1)
  assert 'train-' in str(error.value)
  assert not os.path.exists(str(tmp_path / 'out' / 'mnist_train.tfrecord'))


def test_mnist_checksum_of_an_official_sized_file_is_checked(tmp_path):
  source = tmp_path / 'src'
  source.mkdir()
  _write_mnist(str(source), counts=(2, 2), seed=5)
  # A labels file of the official size claims to be the official one; its md5 must then match.
  size = mnist_converter._OFFICIAL['t10k-labels-idx1-ubyte.gz'][0]
  (source / 't10k-labels-idx1-ubyte.gz').write_bytes(b'\0' * size)
  with serve_directory(str(source)) as url:
    with pytest.raises(UserError, match='t10k-labels-idx1-ubyte.gz.*md5') as error:
      mnist_converter.run(str(tmp_path / 'out'), dataset_url=url, num_workers=1)
  assert 'deleted' in str(error.value)
  assert not os.path.exists(str(tmp_path / 'out' / 't10k-labels-idx1-ubyte.gz'))


def test_cifar10_split_names_and_missing_files():
  with pytest.raises(ValueError, match='validation'):
    cifar10.get_split('validation', '/tmp')
  with pytest.raises(dataset_utils.DatasetError, match='download_and_convert_data.py'):
    cifar10.get_split('train', '/nonexistent/cifar')


@pytest.mark.parametrize('name, split, num_classes, num_samples', [
    ('cifar10', 'train', 10, 50000), ('mnist', 'test', 10, 10000),
    ('visualwakewords', 'validation', 2, 40504), ('imagenet', 'train', 1001, 1281167)])
def test_descriptors_without_files_give_their_facts(name, split, num_classes, num_samples):
  # export_inference_graph reads num_classes with no data set folder at all.
  import tensorflow.compat.v1 as tf
  with tf.Graph().as_default():
    for folder in (None, ''):
      dataset = dataset_factory.get_dataset(name, split, folder, require_files=False)
      assert (dataset.num_classes, dataset.num_samples) == (num_classes, num_samples)
      assert dataset.labels_to_names is None
    with pytest.raises(ValueError, match='split name nope was not recognized'):
      dataset_factory.get_dataset(name, 'nope', '/tmp', require_files=False)
    with pytest.raises(dataset_utils.DatasetError, match='--dataset_dir is empty'):
      dataset_factory.get_dataset(name, split, '')
