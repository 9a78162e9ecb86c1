"""Downloads the flower_photos archive and converts it to sharded TFRecords.

    python download_and_convert_data.py --dataset_name=flowers --dataset_dir=/tmp/flowers

Writes `flowers_train_0000{0..4}-of-00005.tfrecord`, `flowers_validation_...` and `labels.txt` into
dataset_dir, then deletes the archive (when it downloaded it) and the extracted photos.

How the split is made: the list of photo paths is sorted, shuffled with seed 0 and its first 350
entries form the validation split, the rest the train split. The original shuffled the unsorted
`os.listdir` order, so its split depended on the file system; sorting first makes the split the same
everywhere (it is therefore not the same 350 photos as an original run on any given machine).
Each record keeps the photo's original JPEG bytes (format `jpg`, no re-compression) and its height
and width read from the JPEG header; every photo is decoded by TensorFlow before it is written, and
one that does not decode is skipped with a warning naming it.

`ImageReader` (`read_image_dims(sess, image_data)`, `decode_jpeg(sess, image_data)`) is the
original's TensorFlow JPEG decoder for code of its own; the conversion itself reads the sizes from
the headers and does not use it. It is `dataset_utils.ImageReader`.
"""
import os
import time

from datasets import convert_image_folder
from datasets import dataset_utils
from foundation import fileio
from foundation.errors import UserError

ImageReader = dataset_utils.ImageReader

_DATA_URL = 'http://download.tensorflow.org/example_images/flower_photos.tgz'

# The number of images in the validation set.
_NUM_VALIDATION = 350

# Seed for repeatability.
_RANDOM_SEED = 0

# The number of shards per dataset split.
_NUM_SHARDS = 5

_SPLITS = ('train', 'validation')


def _get_filenames_and_classes(dataset_dir):
  """Returns `(photo_paths, class_names)` for the extracted `flower_photos` folder in dataset_dir.

  Class names are the sorted sub-folder names; top-level files such as LICENSE.txt are not classes.
  """
  flower_root = os.path.join(dataset_dir, 'flower_photos')
  if not os.path.isdir(flower_root):
    raise UserError('the archive has no flower_photos folder: is it the flower_photos.tgz archive?')
  class_names, files, empty, _ = convert_image_folder.list_class_folders(flower_root)
  if empty:
    raise UserError('flower_photos has empty class folders: %s' % ', '.join(empty))
  return [path for path, _ in files], class_names


def _get_dataset_filename(dataset_dir, split_name, shard_id):
  return dataset_utils.shard_filename(dataset_dir, 'flowers', split_name, shard_id, _NUM_SHARDS)


def _dataset_exists(dataset_dir):
  for split_name in _SPLITS:
    for shard_id in range(_NUM_SHARDS):
      if not os.path.isfile(_get_dataset_filename(dataset_dir, split_name, shard_id)):
        return False
  return dataset_utils.has_labels(dataset_dir)


def run(dataset_dir, dataset_url=None, num_workers=None, num_validation=None):
  """Downloads (or takes a local copy of) flower_photos.tgz and converts it; returns a summary.

  Args:
    dataset_dir: output folder (created if needed).
    dataset_url: URL or local path of the archive (default: the tensorflow.org URL).
    num_workers: processes converting shards (default: one per CPU).
    num_validation: size of the validation split (default `_NUM_VALIDATION`, 350).

  Returns:
    A `convert_image_folder.ConversionSummary`.
  """
  num_validation = _NUM_VALIDATION if num_validation is None else num_validation
  summary = convert_image_folder.ConversionSummary('flowers', dataset_dir)
  os.makedirs(dataset_dir, exist_ok=True)
  fileio.remove_stale_temps(dataset_dir)
  if _dataset_exists(dataset_dir):
    summary.already_complete = True
    return summary

  start = time.time()
  archive_path, downloaded = fileio.fetch(dataset_url or _DATA_URL, dataset_dir)
  # Extract into a private folder so that a leftover of an interrupted run is never mistaken for
  # photos, and cleaning up is one rmtree.
  work_dir = os.path.join(dataset_dir, '.flowers_extract%s%d' % (fileio.TEMP_MARKER, os.getpid()))
  try:
    fileio.safe_extract(archive_path, work_dir)
    photo_paths, class_names = _get_filenames_and_classes(work_dir)
    if len(photo_paths) <= num_validation:
      raise UserError('the archive has %d photos, not more than the %d validation photos asked for'
                      % (len(photo_paths), num_validation))
    class_ids = dict(zip(class_names, range(len(class_names))))
    labelled = [(path, class_ids[os.path.basename(os.path.dirname(path))]) for path in photo_paths]
    train, validation = convert_image_folder.split_files(labelled, num_validation, _RANDOM_SEED)
    summary.split_sizes, summary.skipped, _ = convert_image_folder.write_splits(
        [('train', train, _NUM_SHARDS), ('validation', validation, _NUM_SHARDS)], dataset_dir,
        'flowers', convert_image_folder.KEEP_ORIGINAL, num_workers)
    convert_image_folder.warn_skipped(summary.skipped)
    summary.num_classes = len(class_names)
    dataset_utils.write_label_file(dict(zip(range(len(class_names)), class_names)), dataset_dir)
  finally:
    fileio.remove_quietly(work_dir)
    if downloaded:
      fileio.remove_quietly(archive_path)
  summary.seconds = time.time() - start
  return summary
