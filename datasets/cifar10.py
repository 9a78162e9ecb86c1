"""The CIFAR-10 data set (32x32 colour photos of 10 classes), as TFRecords.

Create the files with:
    python download_and_convert_data.py --dataset_name=cifar10 --dataset_dir=DIR
"""
import os

import tensorflow.compat.v1 as tf
import tf_slim as slim

from datasets import dataset_utils

_FILE_PATTERN = 'cifar10_%s.tfrecord'

SPLITS_TO_SIZES = {'train': 50000, 'test': 10000}

_NUM_CLASSES = 10

_ITEMS_TO_DESCRIPTIONS = {
    'image': 'A [32 x 32 x 3] color image.',
    'label': 'A single integer between 0 and 9',
}


def get_split(split_name, dataset_dir, file_pattern=None, reader=None, require_files=True):
  """A slim Dataset reading the CIFAR-10 `split_name` ('train' or 'test') from `dataset_dir`.

  Args:
    split_name: 'train' or 'test'.
    dataset_dir: the folder holding the TFRecords and labels.txt.
    file_pattern: file name (or glob) inside dataset_dir, `%s` standing for the split (default
      `cifar10_%s.tfrecord`).
    reader: a TF reader class (default tf.TFRecordReader).
    require_files: when True (the default), a pattern matching no file raises a DatasetError naming
      it and the command that creates it; False describes the data set without its files.

  Returns:
    A `slim.dataset.Dataset` with items 'image' (uint8 [32, 32, 3]) and 'label'.

  Raises:
    DatasetError (a ValueError): unknown split, or no files.
  """
  dataset_utils.check_split_name(split_name, SPLITS_TO_SIZES, 'cifar10')
  dataset_dir = dataset_dir or ''
  file_pattern = os.path.join(dataset_dir, (file_pattern or _FILE_PATTERN) % split_name)
  if require_files:
    dataset_utils.check_data_files(file_pattern, 'cifar10', dataset_dir)

  keys_to_features = {
      'image/encoded': tf.FixedLenFeature((), tf.string, default_value=''),
      'image/format': tf.FixedLenFeature((), tf.string, default_value='png'),
      'image/class/label': tf.FixedLenFeature(
          [], tf.int64, default_value=tf.zeros([], dtype=tf.int64)),
  }
  items_to_handlers = {
      'image': slim.tfexample_decoder.Image(shape=[32, 32, 3]),
      'label': slim.tfexample_decoder.Tensor('image/class/label'),
  }
  decoder = slim.tfexample_decoder.TFExampleDecoder(keys_to_features, items_to_handlers)
  return slim.dataset.Dataset(
      data_sources=file_pattern,
      reader=reader or tf.TFRecordReader,
      decoder=decoder,
      num_samples=SPLITS_TO_SIZES[split_name],
      items_to_descriptions=_ITEMS_TO_DESCRIPTIONS,
      num_classes=_NUM_CLASSES,
      labels_to_names=dataset_utils.read_labels_if_present(dataset_dir) if dataset_dir else None)
