"""Downloads the CIFAR-10 python archive and converts it to two TFRecord files.

    python download_and_convert_data.py --dataset_name=cifar10 --dataset_dir=/tmp/cifar10

Writes `cifar10_train.tfrecord` (the five `data_batch_*` pickles, 50,000 images),
`cifar10_test.tfrecord` (`test_batch`, 10,000 images) and `labels.txt` into dataset_dir. Each record
is a 32x32 RGB PNG (format `png`) with its label, in the order of the batches.

The archive (from the Toronto URL, `--dataset_url` or a local copy) is checked before use: its md5
when it is the official archive (always for the default URL; for another source when the file has
the official archive's exact size, i.e. claims to be it), and in any case every gzip block, and the
record count of each batch is read from the batch itself, so a truncated or foreign archive is
reported instead of converted. The batches are read straight out of the tarball: nothing is
extracted to disk. They are pickles, loaded with an unpickler that accepts nothing but numpy arrays,
so a hostile archive cannot run code.
"""
import io
import os
import pickle
import tarfile
import time

import numpy as np

from datasets import convert_image_folder
from datasets import converter_lib
from datasets import dataset_utils
from foundation import fileio
from foundation.errors import UserError

# The URL where the CIFAR data can be downloaded.
_DATA_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz'

# Published by the data set's page; the archive has not changed since.
_DATA_MD5 = 'c58f30108f718f92721af3b95e74349a'
_DATA_SIZE = 170498071

_IMAGE_SIZE = 32
_NUM_CHANNELS = 3

# The names of the classes, in label order (the same as the archive's batches.meta).
_CLASS_NAMES = [
    'airplane',
    'automobile',
    'bird',
    'cat',
    'deer',
    'dog',
    'frog',
    'horse',
    'ship',
    'truck',
]

_TRAIN_BATCHES = ['data_batch_%d' % i for i in range(1, 6)]
_TEST_BATCHES = ['test_batch']
_SPLITS = (('train', _TRAIN_BATCHES), ('test', _TEST_BATCHES))

# Images handed to a worker process at a time.
_CHUNK = 2000


class _NumpyOnlyUnpickler(pickle.Unpickler):
  """Loads the batch dicts (bytes, lists, ints, numpy arrays) and refuses every other global."""

  _ALLOWED = {
      ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
      ('numpy', 'ndarray'), ('numpy', 'dtype'), ('numpy.core.multiarray', 'scalar'),
      ('numpy._core.multiarray', 'scalar'),
      # Python 3 pickles (protocol 2) spell byte strings as _codecs.encode(text, 'latin1').
      ('_codecs', 'encode'),
  }

  def find_class(self, module, name):
    if (module, name) not in self._ALLOWED:
      raise pickle.UnpicklingError('global %s.%s is not allowed in a CIFAR-10 batch'
                                   % (module, name))
    if module == 'numpy.core.multiarray':  # the archive was pickled by numpy 1
      module = 'numpy._core.multiarray' if hasattr(np, '_core') else module
    return super().find_class(module, name)


def _get_output_filename(dataset_dir, split_name):
  """`<dataset_dir>/cifar10_<split_name>.tfrecord`."""
  return os.path.join(dataset_dir, 'cifar10_%s.tfrecord' % split_name)


def _dataset_exists(dataset_dir):
  return all(os.path.isfile(_get_output_filename(dataset_dir, split)) for split, _ in _SPLITS
             ) and dataset_utils.has_labels(dataset_dir)


def read_batch(data, name):
  """Returns `(images uint8 [N, 32, 32, 3], labels int64 [N])` from the pickled batch bytes.

  N is the batch's own row count; a batch whose rows, labels or values do not fit raises UserError.
  """
  try:
    batch = _NumpyOnlyUnpickler(io.BytesIO(data), encoding='bytes').load()
  except Exception as e:  # any unpickling failure is a damaged or foreign file
    raise UserError('%s is not a CIFAR-10 python batch: %s' % (name, e)) from None
  if isinstance(batch, dict):  # keys are bytes (Python 2 str); accept text keys too
    batch = {k.decode('latin1') if isinstance(k, bytes) else k: v for k, v in batch.items()}
  if not isinstance(batch, dict) or 'data' not in batch or 'labels' not in batch:
    raise UserError('%s is not a CIFAR-10 python batch (no data/labels entries)' % name)
  rows = np.asarray(batch['data'])
  labels = np.asarray(batch['labels'], dtype=np.int64)
  row_size = _NUM_CHANNELS * _IMAGE_SIZE * _IMAGE_SIZE
  if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != row_size:
    raise UserError('%s: data is %s %s, expected uint8 rows of %d values'
                    % (name, rows.dtype, rows.shape, row_size))
  if labels.shape != (rows.shape[0],):
    raise UserError('%s: %d images but %d labels' % (name, rows.shape[0], labels.size))
  if labels.size and (labels.min() < 0 or labels.max() >= len(_CLASS_NAMES)):
    raise UserError('%s: labels outside 0..%d' % (name, len(_CLASS_NAMES) - 1))
  # Rows are channel-major (1024 red, then green, then blue values); PNG wants height x width x RGB.
  images = rows.reshape(-1, _NUM_CHANNELS, _IMAGE_SIZE, _IMAGE_SIZE).transpose(0, 2, 3, 1)
  return images, labels


def _encode_pngs(images):
  """Worker: PNG bytes of each HxWx3 uint8 image."""
  from PIL import Image
  encoded = []
  for image in images:
    out = io.BytesIO()
    Image.fromarray(image, 'RGB').save(out, format='PNG')
    encoded.append(out.getvalue())
  return encoded


def _read_batches(archive_path):
  """{batch name: (images, labels)} for every batch of the archive, read without extracting."""
  wanted = set(_TRAIN_BATCHES + _TEST_BATCHES + ['batches.meta'])
  found = {}
  try:
    with tarfile.open(archive_path, 'r:*') as archive:
      for member in archive:
        name = os.path.basename(member.name)
        if member.isfile() and name in wanted and name not in found:
          found[name] = archive.extractfile(member).read()
  except (tarfile.TarError, OSError, EOFError) as e:
    raise UserError('%s is corrupt or truncated: %s' % (archive_path, e)) from None
  missing = sorted(wanted - set(found) - {'batches.meta'})
  if missing:
    raise UserError('%s is not the CIFAR-10 python archive: it lacks %s'
                    % (archive_path, ', '.join(missing)))
  return found


def _class_names(meta_bytes):
  """The archive's own label names when its batches.meta has them, else the known list."""
  if meta_bytes is None:
    return list(_CLASS_NAMES)
  try:
    meta = _NumpyOnlyUnpickler(io.BytesIO(meta_bytes), encoding='bytes').load()
    names = meta.get(b'label_names', meta.get('label_names'))
    names = [n.decode('utf-8') if isinstance(n, bytes) else str(n) for n in names]
  except Exception as e:  # a damaged meta file: say so rather than guess
    raise UserError('batches.meta of the CIFAR-10 archive is unreadable: %s' % e) from None
  if len(names) != len(_CLASS_NAMES):
    raise UserError('batches.meta lists %d classes, CIFAR-10 has %d' % (len(names),
                                                                       len(_CLASS_NAMES)))
  return names


def _write_split(split_name, batches, output_path, num_workers):
  images = np.concatenate([batch[0] for batch in batches])
  labels = np.concatenate([batch[1] for batch in batches])
  chunks = [images[i:i + _CHUNK] for i in range(0, len(images), _CHUNK)]
  progress = converter_lib.ProgressLine('Converting cifar10 %s' % split_name, len(images))
  index = 0
  with fileio.AtomicTFRecordWriter(output_path) as writer:
    for encoded in converter_lib.parallel_imap(_encode_pngs, chunks, num_workers):
      for png in encoded:
        example = dataset_utils.image_to_tfexample(
            png, b'png', _IMAGE_SIZE, _IMAGE_SIZE, int(labels[index]))
        writer.write(example.SerializeToString())
        index += 1
      progress.add(len(encoded))
  progress.finish()
  return index


def run(dataset_dir, dataset_url=None, num_workers=None):
  """Downloads (or takes a local copy of) the CIFAR-10 python archive and converts it.

  Args:
    dataset_dir: output folder (created if needed).
    dataset_url: URL or local path of `cifar-10-python.tar.gz` (default: the Toronto URL).
    num_workers: processes PNG-encoding images (default: one per CPU).

  Returns:
    A `convert_image_folder.ConversionSummary`.
  """
  summary = convert_image_folder.ConversionSummary('cifar10', dataset_dir)
  os.makedirs(dataset_dir, exist_ok=True)
  fileio.remove_stale_temps(dataset_dir)
  if _dataset_exists(dataset_dir):
    summary.already_complete = True
    return summary
  converter_lib.check_num_workers(num_workers)

  start = time.time()
  source = dataset_url or _DATA_URL
  # The official URL always gets the md5 check; another source when it has the official size.
  archive_path, downloaded = converter_lib.fetch_checked(
      source, dataset_dir, md5=_DATA_MD5, official_size=None if source == _DATA_URL else _DATA_SIZE)
  try:
    fileio.verify_archive(archive_path)
    members = _read_batches(archive_path)
    class_names = _class_names(members.get('batches.meta'))
    for split_name, batch_names in _SPLITS:
      batches = [read_batch(members.pop(name), name) for name in batch_names]
      summary.split_sizes[split_name] = _write_split(
          split_name, batches, _get_output_filename(dataset_dir, split_name), num_workers)
    summary.num_classes = len(class_names)
    dataset_utils.write_label_file(dict(enumerate(class_names)), dataset_dir)
  finally:
    if downloaded and os.path.exists(archive_path):
      fileio.remove_quietly(archive_path)
  summary.seconds = time.time() - start
  return summary
