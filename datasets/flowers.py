"""The Flowers data set (5 classes of photos from tensorflow.org's flower_photos archive), as TFRecords.

Create the files with:
    python download_and_convert_data.py --dataset_name=flowers --dataset_dir=DIR
"""

from datasets import dataset_utils

_FILE_PATTERN = 'flowers_%s_*.tfrecord'

SPLITS_TO_SIZES = {'train': 3320, 'validation': 350}

_NUM_CLASSES = 5

_ITEMS_TO_DESCRIPTIONS = {
    'image': 'A color image of varying size.',
    'label': 'A single integer between 0 and 4',
}


def get_split(split_name, dataset_dir, file_pattern=None, reader=None, require_files=True):
  """A slim Dataset reading the flowers `split_name` ('train' or 'validation') from `dataset_dir`.

  Args:
    split_name: 'train' or 'validation'.
    dataset_dir: the folder holding the TFRecords and labels.txt.
    file_pattern: glob matched inside dataset_dir, `%s` standing for the split (default
      `flowers_%s_*.tfrecord`).
    reader: a TF reader class (default tf.TFRecordReader).
    require_files: when True (the default), a pattern matching no file raises a DatasetError naming
      the pattern and the command that creates the files; pass False to describe the data set
      without its files (e.g. to read num_classes).

  Returns:
    A `slim.dataset.Dataset` with items 'image' and 'label'.

  Raises:
    DatasetError (a ValueError): unknown split, or no files.
  """
  file_pattern = dataset_utils.split_file_pattern(
      split_name, dataset_dir, file_pattern, _FILE_PATTERN, SPLITS_TO_SIZES, 'flowers', require_files)
  dataset_dir = dataset_dir or ''
  return dataset_utils.image_classification_split(
      file_pattern, reader, SPLITS_TO_SIZES[split_name], _NUM_CLASSES, _ITEMS_TO_DESCRIPTIONS,
      dataset_utils.read_labels_if_present(dataset_dir))
