"""The MNIST data set (28x28 grey hand-written digits), as TFRecords.

Create the files with:
    python download_and_convert_data.py --dataset_name=mnist --dataset_dir=DIR
"""
import os

import tensorflow.compat.v1 as tf
import tf_slim as slim

from datasets import dataset_utils

_FILE_PATTERN = 'mnist_%s.tfrecord'

SPLITS_TO_SIZES = {'train': 60000, 'test': 10000}

_NUM_CLASSES = 10

_ITEMS_TO_DESCRIPTIONS = {
    'image': 'A [28 x 28 x 1] grayscale image.',
    'label': 'A single integer between 0 and 9',
}


def get_split(split_name, dataset_dir, file_pattern=None, reader=None, require_files=True):
  """A slim Dataset reading the MNIST `split_name` ('train' or 'test') from `dataset_dir`.

  Args:
    split_name: 'train' or 'test'.
    dataset_dir: the folder holding the TFRecords and labels.txt.
    file_pattern: file name (or glob) inside dataset_dir, `%s` standing for the split (default
      `mnist_%s.tfrecord`).
    reader: a TF reader class (default tf.TFRecordReader).
    require_files: when True (the default), a pattern matching no file raises a DatasetError naming
      it and the command that creates it; False describes the data set without its files.

  Returns:
    A `slim.dataset.Dataset` with items 'image' (uint8 [28, 28, 1]) and 'label' (a scalar).

  Raises:
    DatasetError (a ValueError): unknown split, or no files.
  """
  dataset_utils.check_split_name(split_name, SPLITS_TO_SIZES, 'mnist')
  dataset_dir = dataset_dir or ''
  file_pattern = os.path.join(dataset_dir, (file_pattern or _FILE_PATTERN) % split_name)
  if require_files:
    dataset_utils.check_data_files(file_pattern, 'mnist', dataset_dir)

  keys_to_features = {
      'image/encoded': tf.FixedLenFeature((), tf.string, default_value=''),
      'image/format': tf.FixedLenFeature((), tf.string, default_value='raw'),
      'image/class/label': tf.FixedLenFeature(
          [1], tf.int64, default_value=tf.zeros([1], dtype=tf.int64)),
  }
  items_to_handlers = {
      'image': slim.tfexample_decoder.Image(shape=[28, 28, 1], channels=1),
      'label': slim.tfexample_decoder.Tensor('image/class/label', shape=[]),
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
