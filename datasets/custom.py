"""Any folder of class sub-folders converted by `datasets/convert_image_folder.py`, as TFRecords.

Create the files with:
    python download_and_convert_data.py --dataset_name=custom --dataset_dir=DIR --images_dir=FOLDER

Unlike the fixed public data sets, the split sizes, class count and file pattern are read from the
`dataset_meta.json` that the converter writes next to the shards.
"""
import os

from datasets import dataset_utils

_FILE_PATTERN = 'custom_%s_*.tfrecord'

_ITEMS_TO_DESCRIPTIONS = {
    'image': 'A color image of varying size.',
    'label': 'A single integer between 0 and num_classes - 1 (see labels.txt)',
}


def read_meta(dataset_dir):
  """The converter's dataset_meta.json as a dict, or a DatasetError saying how to create it."""
  if not dataset_dir or not os.path.isfile(os.path.join(dataset_dir, dataset_utils.META_FILENAME)):
    raise dataset_utils.DatasetError(
        'no %s in %s (looked for the custom data set and its files %s); create them with: %s'
        % (dataset_utils.META_FILENAME, dataset_dir or '--dataset_dir (empty)',
           _FILE_PATTERN % '<split>', dataset_utils.converter_command('custom', dataset_dir)))
  return dataset_utils.read_meta_file(dataset_dir)


def get_split(split_name, dataset_dir, file_pattern=None, reader=None, require_files=True):
  """A slim Dataset reading the custom data set's `split_name` from `dataset_dir`.

  Args:
    split_name: a split the converter wrote ('train', and 'validation' unless the validation
      fraction was 0).
    dataset_dir: the converter's output folder.
    file_pattern: glob inside dataset_dir with `%s` for the split (default: the one in the meta file).
    reader: a TF reader class (default tf.TFRecordReader).
    require_files: when True, a pattern matching no file raises a DatasetError.

  Returns:
    A `slim.dataset.Dataset` with items 'image' and 'label'.
  """
  meta = read_meta(dataset_dir)
  splits = meta['splits']
  dataset_utils.check_split_name(split_name, splits, 'custom')
  pattern = file_pattern or meta.get('file_pattern') or _FILE_PATTERN
  file_pattern = os.path.join(dataset_dir, pattern % split_name)
  if require_files:
    dataset_utils.check_data_files(file_pattern, 'custom', dataset_dir)
  return dataset_utils.image_classification_split(
      file_pattern, reader, int(splits[split_name]), int(meta['num_classes']),
      _ITEMS_TO_DESCRIPTIONS, dataset_utils.read_labels_if_present(dataset_dir))
