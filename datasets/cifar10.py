"""The CIFAR-10 data set (32x32 colour photos of 10 classes), as TFRecords.

Create the files with:
    python download_and_convert_data.py --dataset_name=cifar10 --dataset_dir=DIR
"""
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
  file_pattern = dataset_utils.split_file_pattern(
      split_name, dataset_dir, file_pattern, _FILE_PATTERN, SPLITS_TO_SIZES, 'cifar10', require_files)
  return dataset_utils.image_classification_split(
      file_pattern, reader, SPLITS_TO_SIZES[split_name], _NUM_CLASSES, _ITEMS_TO_DESCRIPTIONS,
      dataset_utils.read_labels_if_present(dataset_dir) if dataset_dir else None, image_shape=[32, 32, 3])
