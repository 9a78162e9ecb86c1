"""The Visual Wake Words data set (COCO 2014 images labelled person / not person), as TFRecords.

Create the files with:
    python download_and_convert_data.py --dataset_name=visualwakewords --dataset_dir=DIR

The converter writes `train.record-*` and `val.record-*`; split `validation` reads `val.record-*`,
or `validation.record-*` when only those exist (files named after the split, as an earlier reader
expected).

`LABELS_FILENAME` ('labels.txt') names the class-names file read from dataset_dir when present.

Reference: Chowdhery et al., "Visual Wake Words Dataset", arXiv:1906.05721, 2019.
"""
import os

import tensorflow.compat.v1 as tf
import tf_slim as slim

from datasets import dataset_utils

_FILE_PATTERN = '%s.record-*'

LABELS_FILENAME = dataset_utils.LABELS_FILENAME

SPLITS_TO_SIZES = {'train': 82783, 'validation': 40504}

# The record prefix the converter uses for each split.
_SPLIT_FILE_PREFIXES = {'train': 'train', 'validation': 'val'}

_NUM_CLASSES = 2

_ITEMS_TO_DESCRIPTIONS = {
    'image': 'A color image of varying height and width.',
    'label': 'The label id of the image, an integer in {0, 1}',
    'object/bbox': 'A list of bounding boxes.',
    'object/label': 'A list of labels, one per each object.',
}


def _default_file_pattern(dataset_dir, split_name):
  """What the converter wrote for this split; the split-named files when only those exist."""
  written = os.path.join(dataset_dir, _FILE_PATTERN % _SPLIT_FILE_PREFIXES[split_name])
  if split_name != _SPLIT_FILE_PREFIXES[split_name] and not _matches(written):
    by_split_name = os.path.join(dataset_dir, _FILE_PATTERN % split_name)
    if _matches(by_split_name):
      return by_split_name
  return written


def _matches(pattern):
  try:
    return bool(tf.io.gfile.glob(pattern))
  except tf.errors.NotFoundError:
    return False


def get_split(split_name, dataset_dir, file_pattern=None, reader=None, require_files=True):
  """A slim Dataset reading the Visual Wake Words `split_name` from `dataset_dir`.

  Args:
    split_name: 'train' or 'validation'.
    dataset_dir: the folder holding the TFRecords and labels.txt.
    file_pattern: glob inside dataset_dir with `%s` for the split name (default: the converter's
      `train.record-*` / `val.record-*`).
    reader: a TF reader class (default tf.TFRecordReader).
    require_files: when True (the default), a pattern matching no file raises a DatasetError naming
      it and the command that creates it.

  Returns:
    A `slim.dataset.Dataset` with items 'image', 'label', 'object/bbox' and 'object/label'.

  Raises:
    DatasetError (a ValueError): unknown split, or no files.
  """
  dataset_utils.check_split_name(split_name, SPLITS_TO_SIZES, 'visualwakewords')
  dataset_dir = dataset_dir or ''
  if file_pattern:
    file_pattern = os.path.join(dataset_dir, file_pattern % split_name)
  else:
    file_pattern = _default_file_pattern(dataset_dir, split_name)
  if require_files:
    dataset_utils.check_data_files(file_pattern, 'visualwakewords', dataset_dir)

  keys_to_features = {
      'image/encoded': tf.FixedLenFeature((), tf.string, default_value=''),
      'image/format': tf.FixedLenFeature((), tf.string, default_value='jpeg'),
      'image/class/label': tf.FixedLenFeature(
          [], dtype=tf.int64, default_value=-1),
      'image/object/bbox/xmin': tf.VarLenFeature(dtype=tf.float32),
      'image/object/bbox/ymin': tf.VarLenFeature(dtype=tf.float32),
      'image/object/bbox/xmax': tf.VarLenFeature(dtype=tf.float32),
      'image/object/bbox/ymax': tf.VarLenFeature(dtype=tf.float32),
      'image/object/class/label': tf.VarLenFeature(dtype=tf.int64),
  }
  items_to_handlers = {
      'image': slim.tfexample_decoder.Image('image/encoded', 'image/format'),
      'label': slim.tfexample_decoder.Tensor('image/class/label'),
      'object/bbox': slim.tfexample_decoder.BoundingBox(
          ['ymin', 'xmin', 'ymax', 'xmax'], 'image/object/bbox/'),
      'object/label': slim.tfexample_decoder.Tensor('image/object/class/label'),
  }
  decoder = slim.tfexample_decoder.TFExampleDecoder(keys_to_features, items_to_handlers)
  return slim.dataset.Dataset(
      data_sources=file_pattern,
      reader=reader or tf.TFRecordReader,
      decoder=decoder,
      num_samples=SPLITS_TO_SIZES[split_name],
      items_to_descriptions=_ITEMS_TO_DESCRIPTIONS,
      num_classes=_NUM_CLASSES,
      labels_to_names=dataset_utils.read_labels_if_present(dataset_dir, LABELS_FILENAME))
