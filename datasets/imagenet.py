"""The ImageNet (ILSVRC-2012-CLS) data set, as the TFRecords of `datasets/build_imagenet_data.py`.

Create the files with (needs an image-net.org account):
    bash datasets/download_and_convert_imagenet.sh DATA_DIR

1001 classes: 0 is 'background' (unused by the data, kept for the checkpoints trained with it) and
1..1000 are the synsets of `imagenet_lsvrc_2015_synsets.txt`, in its order.

Class names (`labels_to_names`) come from `labels.txt` in the data set folder (the builder writes
it), else from `imagenet_lsvrc_2015_synsets.txt` + `imagenet_metadata.txt` in that folder; nothing
is ever downloaded here. With neither, `labels_to_names` is None.

`LOAD_READABLE_NAMES` (default True), as in the original, says whether `get_split` looks for class
names at all: set `imagenet.LOAD_READABLE_NAMES = False` and `labels_to_names` is None without a
file being read (for code that only wants `num_classes` or the decoder). It is read at each call.

Reference: Russakovsky et al., "ImageNet Large Scale Visual Recognition Challenge", IJCV 2015.
"""
import os

import tensorflow.compat.v1 as tf
import tf_slim as slim

from datasets import dataset_utils

# The builder names its shards `<split>-%05d-of-%05d`.
_FILE_PATTERN = '%s-*'

SPLITS_TO_SIZES = {
    'train': 1281167,
    'validation': 50000,
}

_ITEMS_TO_DESCRIPTIONS = {
    'image': 'A color image of varying height and width.',
    'label': 'The label id of the image, integer between 0 and 1000',
    'label_text': 'The text of the label.',
    'object/bbox': 'A list of bounding boxes.',
    'object/label': 'A list of labels, one per each object.',
}

_NUM_CLASSES = 1001

# Whether get_split fills labels_to_names (from local files only; see the module docstring).
LOAD_READABLE_NAMES = True

SYNSETS_FILENAME = 'imagenet_lsvrc_2015_synsets.txt'
METADATA_FILENAME = 'imagenet_metadata.txt'

# Where the two files can be found (for error messages; nothing here downloads them).
_SOURCE_HINT = ('https://raw.githubusercontent.com/tensorflow/models/master/research/slim/datasets/'
                'imagenet_lsvrc_2015_synsets.txt and '
                'https://raw.githubusercontent.com/tensorflow/models/master/research/slim/datasets/'
                'imagenet_metadata.txt')


class MissingMetadata(dataset_utils.DatasetError):
  """The synsets list or the synset -> name file is not available locally."""


def read_synsets(path):
  """The synset ids of a synsets file, one per non-empty line, in order."""
  with tf.io.gfile.GFile(path, 'r') as f:
    return [line.strip() for line in f if line.strip()]


def read_metadata(path):
  """{synset: human-readable text} from the tab-separated `imagenet_metadata.txt`."""
  synset_to_human = {}
  with tf.io.gfile.GFile(path, 'r') as f:
    for number, line in enumerate(f, 1):
      line = line.rstrip('\r\n')
      if not line.strip():
        continue
      parts = line.split('\t', 1)
      if len(parts) != 2:
        raise dataset_utils.DatasetError('%s line %d is not "<synset>\\t<name>": %r'
                                         % (path, number, line))
      synset_to_human[parts[0].strip()] = parts[1].strip()
  return synset_to_human


def create_readable_names_for_imagenet_labels(dataset_dir=None, synsets_file=None,
                                              metadata_file=None):
  """{0: 'background', 1..1000: name of each synset} from local files.

  Args:
    dataset_dir: folder in which to look for `imagenet_lsvrc_2015_synsets.txt` and
      `imagenet_metadata.txt` when the paths are not given (default: the current folder).
    synsets_file: path of the synsets list (one id per line; 1000 lines for ILSVRC 2012).
    metadata_file: path of the tab-separated synset -> name file.

  Returns:
    A dict from label id to class name.

  Raises:
    MissingMetadata (a DatasetError/ValueError): a file is missing (the message says where to get
      it) or a synset has no name.
  """
  folder = dataset_dir or '.'
  synsets_file = synsets_file or os.path.join(folder, SYNSETS_FILENAME)
  metadata_file = metadata_file or os.path.join(folder, METADATA_FILENAME)
  for path in (synsets_file, metadata_file):
    if not tf.io.gfile.exists(path):
      raise MissingMetadata('ImageNet class names need %s, which does not exist; get the files '
                            'from %s' % (path, _SOURCE_HINT))
  synsets = read_synsets(synsets_file)
  synset_to_human = read_metadata(metadata_file)
  missing = [s for s in synsets if s not in synset_to_human]
  if missing:
    raise MissingMetadata('%s has no name for %d synsets of %s, e.g. %s'
                          % (metadata_file, len(missing), synsets_file, missing[0]))
  labels_to_names = {0: 'background'}
  for label, synset in enumerate(synsets, 1):
    labels_to_names[label] = synset_to_human[synset]
  return labels_to_names


def _labels_to_names(dataset_dir):
  if dataset_utils.has_labels(dataset_dir):
    return dataset_utils.read_label_file(dataset_dir)
  if all(tf.io.gfile.exists(os.path.join(dataset_dir, name))
         for name in (SYNSETS_FILENAME, METADATA_FILENAME)):
    return create_readable_names_for_imagenet_labels(dataset_dir)
  return None


def get_split(split_name, dataset_dir, file_pattern=None, reader=None, require_files=True):
  """A slim Dataset reading the ImageNet `split_name` ('train' or 'validation') from `dataset_dir`.

  Args:
    split_name: 'train' or 'validation'.
    dataset_dir: the folder holding the TFRecords (and optionally labels.txt).
    file_pattern: glob inside dataset_dir, `%s` standing for the split (default `%s-*`).
    reader: a TF reader class (default tf.TFRecordReader).
    require_files: when True (the default), a pattern matching no file raises a DatasetError naming
      it and the command that creates it; False describes the data set without its files (e.g. to
      read num_classes, as export_inference_graph does).

  Returns:
    A `slim.dataset.Dataset` with items 'image', 'label', 'label_text', 'object/bbox' and
    'object/label'; its `labels_to_names` is None when LOAD_READABLE_NAMES is False.

  Raises:
    DatasetError (a ValueError): unknown split, or no files.
  """
  dataset_utils.check_split_name(split_name, SPLITS_TO_SIZES, 'imagenet')
  dataset_dir = dataset_dir or ''
  file_pattern = os.path.join(dataset_dir, (file_pattern or _FILE_PATTERN) % split_name)
  if require_files:
    dataset_utils.check_data_files(file_pattern, 'imagenet', dataset_dir)

  keys_to_features = {
      'image/encoded': tf.FixedLenFeature((), tf.string, default_value=''),
      'image/format': tf.FixedLenFeature((), tf.string, default_value='jpeg'),
      'image/class/label': tf.FixedLenFeature([], dtype=tf.int64, default_value=-1),
      'image/class/text': tf.FixedLenFeature([], dtype=tf.string, default_value=''),
      'image/object/bbox/xmin': tf.VarLenFeature(dtype=tf.float32),
      'image/object/bbox/ymin': tf.VarLenFeature(dtype=tf.float32),
      'image/object/bbox/xmax': tf.VarLenFeature(dtype=tf.float32),
      'image/object/bbox/ymax': tf.VarLenFeature(dtype=tf.float32),
      # The builder (this one and the original) stores the box labels under this key.
      'image/object/bbox/label': tf.VarLenFeature(dtype=tf.int64),
  }
  items_to_handlers = {
      'image': slim.tfexample_decoder.Image('image/encoded', 'image/format'),
      'label': slim.tfexample_decoder.Tensor('image/class/label'),
      'label_text': slim.tfexample_decoder.Tensor('image/class/text'),
      'object/bbox': slim.tfexample_decoder.BoundingBox(
          ['ymin', 'xmin', 'ymax', 'xmax'], 'image/object/bbox/'),
      'object/label': slim.tfexample_decoder.Tensor('image/object/bbox/label'),
  }
  decoder = slim.tfexample_decoder.TFExampleDecoder(keys_to_features, items_to_handlers)
  return slim.dataset.Dataset(
      data_sources=file_pattern,
      reader=reader or tf.TFRecordReader,
      decoder=decoder,
      num_samples=SPLITS_TO_SIZES[split_name],
      items_to_descriptions=_ITEMS_TO_DESCRIPTIONS,
      num_classes=_NUM_CLASSES,
      labels_to_names=_labels_to_names(dataset_dir) if dataset_dir and LOAD_READABLE_NAMES
      else None)
