"""Downloads the four MNIST idx files and converts them to two TFRecord files.

    python download_and_convert_data.py --dataset_name=mnist --dataset_dir=/tmp/mnist

Writes `mnist_train.tfrecord` (60,000 images), `mnist_test.tfrecord` (10,000) and `labels.txt`
into dataset_dir. Each record is a 28x28 one-channel PNG (format `png`) with its label, in file
order.

`--dataset_url` is the base URL or local folder holding `train-images-idx3-ubyte.gz`,
`train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz` (in a
local folder the same names without `.gz` are accepted too). When yann.lecun.com does not answer, a
mirror of the same files works, e.g. `--dataset_url=https://ossci-datasets.s3.amazonaws.com/mnist/`
(its files have the official sizes, so their md5 is checked as well). Nothing about the files is assumed:
each idx header's magic number is checked (2051 for images, 2049 for labels), the image count and
size come from the header, the body must hold exactly that many bytes, and an images file must have
as many entries as its labels file. A file with the official size must also have the official md5.
So a truncated, foreign or mismatched file is reported, named, instead of converted.
"""
import gzip
import io
import os
import struct
import time
import zlib

import numpy as np

from datasets import convert_image_folder
from datasets import converter_lib
from datasets import dataset_utils
from foundation import fileio
from foundation.errors import UserError

# The URLs where the MNIST data can be downloaded.
_DATA_URL = 'http://yann.lecun.com/exdb/mnist/'
_TRAIN_DATA_FILENAME = 'train-images-idx3-ubyte.gz'
_TRAIN_LABELS_FILENAME = 'train-labels-idx1-ubyte.gz'
_TEST_DATA_FILENAME = 't10k-images-idx3-ubyte.gz'
_TEST_LABELS_FILENAME = 't10k-labels-idx1-ubyte.gz'

# (size in bytes, md5) of the published files, unchanged since 1998.
_OFFICIAL = {
    _TRAIN_DATA_FILENAME: (9912422, 'f68b3c2dcbeaaa9fbdd348bbdeb94873'),
    _TRAIN_LABELS_FILENAME: (28881, 'd53e105ee54ea40749a09fcbcd1e9432'),
    _TEST_DATA_FILENAME: (1648877, '9fb629c4189551a2d022fa330f9573f3'),
    _TEST_LABELS_FILENAME: (4542, 'ec29112dd5afa0611ce80d1b7f02629c'),
}

_SPLITS = (('train', _TRAIN_DATA_FILENAME, _TRAIN_LABELS_FILENAME),
           ('test', _TEST_DATA_FILENAME, _TEST_LABELS_FILENAME))

# idx magic numbers: two zero bytes, the element type (0x08 = unsigned byte), the number of
# dimensions.
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# The names of the classes. The original list spelt six as 'size'; labels.txt is what users see in
# predictions, so the typo is fixed here.
_CLASS_NAMES = [
    'zero',
    'one',
    'two',
    'three',
    'four',
    'five',
    'six',
    'seven',
    'eight',
    'nine',
]

_CHUNK = 2000


def _get_output_filename(dataset_dir, split_name):
  """`<dataset_dir>/mnist_<split_name>.tfrecord`."""
  return os.path.join(dataset_dir, 'mnist_%s.tfrecord' % split_name)


def _dataset_exists(dataset_dir):
  return all(os.path.isfile(_get_output_filename(dataset_dir, split)) for split, _, _ in _SPLITS
             ) and dataset_utils.has_labels(dataset_dir)


def _read_file(path):
  """The file's content, gunzipped when it is gzip; UserError naming the file when damaged."""
  with open(path, 'rb') as f:
    data = f.read()
  if data[:2] == b'\x1f\x8b':
    try:
      data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
      raise UserError('%s is a damaged or truncated gzip file: %s' % (path, e)) from None
  return data


def _parse_idx(data, path, magic, num_dims):
  """Checks an idx header; returns `(dims, body bytes)`."""
  header_size = 4 + 4 * num_dims
  if len(data) < header_size:
    raise UserError('%s is too short (%d bytes) to be an MNIST idx file' % (path, len(data)))
  found = struct.unpack('>I', data[:4])[0]
  if found != magic:
    raise UserError('%s is not an MNIST %s file: its magic number is 0x%08x, expected 0x%08x'
                    % (path, 'images' if magic == IMAGES_MAGIC else 'labels', found, magic))
  dims = struct.unpack('>%dI' % num_dims, data[4:header_size])
  expected = int(np.prod(dims, dtype=np.int64))
  body = data[header_size:]
  if len(body) != expected:
    raise UserError('%s is truncated or damaged: its header announces %s (%d bytes of data) but it '
                    'holds %d' % (path, ' x '.join(str(d) for d in dims), expected, len(body)))
  return dims, body


def read_images(path):
  """uint8 images [N, rows, cols, 1] from an idx3 images file (gzip or not)."""
  (count, rows, cols), body = _parse_idx(_read_file(path), path, IMAGES_MAGIC, 3)
  return np.frombuffer(body, dtype=np.uint8).reshape(count, rows, cols, 1)


def read_labels(path):
  """int64 labels [N] from an idx1 labels file (gzip or not), each checked to be a digit."""
  _, body = _parse_idx(_read_file(path), path, LABELS_MAGIC, 1)
  labels = np.frombuffer(body, dtype=np.uint8).astype(np.int64)
  if labels.size and labels.max() >= len(_CLASS_NAMES):
    raise UserError('%s has label %d, MNIST labels are 0..9' % (path, labels.max()))
  return labels


def _encode_pngs(images):
  """Worker: PNG bytes of each HxWx1 uint8 image (a one-channel grey PNG)."""
  from PIL import Image
  encoded = []
  for image in images:
    out = io.BytesIO()
    Image.fromarray(image[:, :, 0], 'L').save(out, format='PNG')
    encoded.append(out.getvalue())
  return encoded


def _fetch(base, filename, dataset_dir):
  """Downloads or locates one of the four files; returns `(path, downloaded)`."""
  size, md5 = _OFFICIAL[filename]
  official = base == _DATA_URL
  if not fileio.is_url(base):
    folder = os.path.expanduser(base)
    if not os.path.isdir(folder):
      raise UserError('MNIST source folder %s does not exist (pass the base URL or a folder '
                      'holding the four idx files to --dataset_url)' % base)
    unzipped = os.path.join(folder, filename[:-len('.gz')])
    if not os.path.isfile(os.path.join(folder, filename)) and os.path.isfile(unzipped):
      return unzipped, False
  return converter_lib.fetch_checked(converter_lib.join_source(base, filename), dataset_dir,
                                     filename, md5=md5, official_size=None if official else size)


def _write_split(split_name, images, labels, output_path, num_workers):
  chunks = [images[i:i + _CHUNK] for i in range(0, len(images), _CHUNK)]
  progress = converter_lib.ProgressLine('Converting mnist %s' % split_name, len(images))
  height, width = images.shape[1:3]
  index = 0
  with fileio.AtomicTFRecordWriter(output_path) as writer:
    for encoded in converter_lib.parallel_imap(_encode_pngs, chunks, num_workers):
      for png in encoded:
        example = dataset_utils.image_to_tfexample(png, b'png', height, width, int(labels[index]))
        writer.write(example.SerializeToString())
        index += 1
      progress.add(len(encoded))
  progress.finish()
  return index


def run(dataset_dir, dataset_url=None, num_workers=None):
  """Downloads (or takes local copies of) the MNIST idx files and converts them.

  Args:
    dataset_dir: output folder (created if needed).
    dataset_url: base URL or local folder of the four idx files (default: yann.lecun.com).
    num_workers: processes PNG-encoding images (default: one per CPU).

  Returns:
    A `convert_image_folder.ConversionSummary`.
  """
  summary = convert_image_folder.ConversionSummary('mnist', dataset_dir)
  os.makedirs(dataset_dir, exist_ok=True)
  fileio.remove_stale_temps(dataset_dir)
  if _dataset_exists(dataset_dir):
    summary.already_complete = True
    return summary
  converter_lib.check_num_workers(num_workers)

  start = time.time()
  base = dataset_url or _DATA_URL
  downloads = []
  try:
    # Everything is fetched and checked before the first record is written.
    loaded = []
    for split_name, images_name, labels_name in _SPLITS:
      images_path, downloaded = _fetch(base, images_name, dataset_dir)
      if downloaded:
        downloads.append(images_path)
      labels_path, downloaded = _fetch(base, labels_name, dataset_dir)
      if downloaded:
        downloads.append(labels_path)
      images, labels = read_images(images_path), read_labels(labels_path)
      if len(images) != len(labels):
        raise UserError('%s holds %d images but %s holds %d labels'
                        % (images_path, len(images), labels_path, len(labels)))
      loaded.append((split_name, images, labels))
    for split_name, images, labels in loaded:
      summary.split_sizes[split_name] = _write_split(
          split_name, images, labels, _get_output_filename(dataset_dir, split_name), num_workers)
    summary.num_classes = len(_CLASS_NAMES)
    dataset_utils.write_label_file(dict(enumerate(_CLASS_NAMES)), dataset_dir)
  finally:
    for path in downloads:
      fileio.remove_quietly(path)
  summary.seconds = time.time() - start
  return summary
