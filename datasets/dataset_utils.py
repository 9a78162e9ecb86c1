"""Helpers shared by the data set descriptors and converters: tf.train.Example features, labels.txt,
downloads/extraction (through foundation.fileio), sharded TFRecord output, and the checks that turn a
missing or empty data set folder into a message that says how to create it.

`ImageReader` decodes JPEG bytes to RGB arrays with TensorFlow in a session the caller owns (the
original converters' helper; `download_and_convert_flowers.ImageReader` is this class).
"""
import json
import os

import tensorflow.compat.v1 as tf

from foundation import fileio
from foundation.errors import UserError

LABELS_FILENAME = 'labels.txt'
META_FILENAME = 'dataset_meta.json'


class DatasetError(UserError, ValueError):
  """A data set name, split or folder the user asked for is not usable (a ValueError, as before)."""


def int64_feature(values):
  """An Int64List feature from an int or a list of ints."""
  if not isinstance(values, (tuple, list)):
    values = [values]
  return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def bytes_list_feature(values):
  """A BytesList feature from a list of byte strings."""
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def float_list_feature(values):
  """A FloatList feature from a list of floats."""
  return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def bytes_feature(values):
  """A BytesList feature holding one byte string."""
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[values]))


def float_feature(values):
  """A FloatList feature from a float or a list of floats."""
  if not isinstance(values, (tuple, list)):
    values = [values]
  return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _as_bytes(value):
  return value.encode('utf-8') if isinstance(value, str) else value


def image_to_tfexample(image_data, image_format, height, width, class_id):
  """A tf.train.Example with the five keys every slim classification data set uses.

  Filled in place (a third of the time of building five Feature messages and copying them in,
  which showed in the converters' profiles); the message is the same.
  """
  example = tf.train.Example()
  feature = example.features.feature
  feature['image/encoded'].bytes_list.value.append(_as_bytes(image_data))
  feature['image/format'].bytes_list.value.append(_as_bytes(image_format))
  feature['image/class/label'].int64_list.value.append(class_id)
  feature['image/height'].int64_list.value.append(height)
  feature['image/width'].int64_list.value.append(width)
  return example


def download_url(url, dataset_dir):
  """Downloads `url` into `dataset_dir` (progress on stderr, size checked); returns the file path."""
  return fileio.download(url, dataset_dir)


def download_and_uncompress_tarball(tarball_url, dataset_dir):
  """Downloads a tar archive (or takes a local path) and extracts it safely into `dataset_dir`.

  Returns the archive path (the caller deletes it when it was downloaded).
  """
  path, _ = fileio.fetch(tarball_url, dataset_dir)
  fileio.safe_extract(path, dataset_dir)
  return path


def download_and_uncompress_zipfile(zip_url, dataset_dir):
  """Downloads a zip archive unless already present in `dataset_dir`, then extracts it safely."""
  if fileio.is_url(zip_url):
    local = os.path.join(dataset_dir, os.path.basename(zip_url.split('?')[0]))
    path = local if os.path.isfile(local) else fileio.download(zip_url, dataset_dir)
  else:
    path, _ = fileio.fetch(zip_url, dataset_dir)
  fileio.safe_extract(path, dataset_dir, skip_existing=True)
  return path


def write_label_file(labels_to_class_names, dataset_dir, filename=LABELS_FILENAME):
  """Writes `<id>:<class name>` lines, one per entry, in the dict's order."""
  lines = ''.join('%d:%s\n' % (label, name) for label, name in labels_to_class_names.items())
  fileio.write_text_atomically(os.path.join(dataset_dir, filename), lines)


def has_labels(dataset_dir, filename=LABELS_FILENAME):
  """True when `dataset_dir` holds the labels file."""
  return tf.io.gfile.exists(os.path.join(dataset_dir, filename))


def read_label_file(dataset_dir, filename=LABELS_FILENAME):
  """Reads labels.txt into {int id: class name}; a name may itself contain ':'."""
  with tf.io.gfile.GFile(os.path.join(dataset_dir, filename), 'rb') as f:
    text = f.read().decode('utf-8')
  labels_to_class_names = {}
  for line in text.split('\n'):
    line = line.rstrip('\r')
    if not line:
      continue
    index = line.index(':')
    labels_to_class_names[int(line[:index])] = line[index + 1:]
  return labels_to_class_names


def open_sharded_output_tfrecords(exit_stack, base_path, num_shards):
  """Opens `num_shards` writers named `<base_path>-%05d-of-%05d`, entered into `exit_stack`.

  Each shard is written under a temporary name and renamed when the stack exits cleanly; if it exits
  with an exception the partial files are deleted.
  """
  return [exit_stack.enter_context(
      fileio.AtomicTFRecordWriter('%s-%05d-of-%05d' % (base_path, index, num_shards)))
          for index in range(num_shards)]


def shard_filename(dataset_dir, prefix, split_name, shard_id, num_shards):
  """`<dataset_dir>/<prefix>_<split>_%05d-of-%05d.tfrecord`, the flowers/custom shard naming."""
  return os.path.join(dataset_dir, '%s_%s_%05d-of-%05d.tfrecord'
                      % (prefix, split_name, shard_id, num_shards))


def write_meta_file(meta, dataset_dir, filename=META_FILENAME):
  fileio.write_text_atomically(os.path.join(dataset_dir, filename),
                               json.dumps(meta, indent=2, sort_keys=True) + '\n')


def read_meta_file(dataset_dir, filename=META_FILENAME):
  with tf.io.gfile.GFile(os.path.join(dataset_dir, filename), 'r') as f:
    return json.load(f)


def converter_command(dataset_name, dataset_dir):
  """The command that creates a data set's files, for error messages."""
  if dataset_name == 'imagenet':
    return ('bash datasets/download_and_convert_imagenet.sh %s (needs an image-net.org account)'
            % (dataset_dir or 'DATA_DIR'))
  command = 'python download_and_convert_data.py --dataset_name=%s --dataset_dir=%s' % (
      dataset_name, dataset_dir or 'DATA_DIR')
  if dataset_name == 'custom':
    command += ' --images_dir=FOLDER_OF_CLASS_FOLDERS'
  return command


def check_split_name(split_name, splits, dataset_name):
  if split_name not in splits:
    raise DatasetError('split name %s was not recognized for data set %s; valid splits: %s'
                       % (split_name, dataset_name, ', '.join(sorted(splits))))


def check_data_files(file_pattern, dataset_name, dataset_dir):
  """Raises DatasetError unless `file_pattern` matches at least one file.

  The message names the pattern and the command that creates the files.
  """
  if not dataset_dir and not os.path.isabs(file_pattern):
    raise DatasetError('--dataset_dir is empty: data set %s needs the folder holding its files '
                       '%s (create them with: %s)'
                       % (dataset_name, file_pattern, converter_command(dataset_name, '')))
  try:
    matches = tf.io.gfile.glob(file_pattern)
  except tf.errors.NotFoundError:
    matches = []
  matches = [m for m in matches if not fileio.is_temp_name(m)]
  if not matches:
    raise DatasetError('no files match %s for data set %s; create them with: %s'
                       % (file_pattern, dataset_name, converter_command(dataset_name, dataset_dir)))
  return matches


class ImageReader(object):
  """JPEG decoding with TensorFlow ops that run in the caller's session.

  The constructor adds a string placeholder and a 3-channel `decode_jpeg` to the default graph, so
  build it inside the graph of the session later passed to its methods.
  """

  def __init__(self):
    self._jpeg_data = tf.placeholder(dtype=tf.string)
    self._decoded = tf.image.decode_jpeg(self._jpeg_data, channels=3)

  def read_image_dims(self, sess, image_data):
    """(height, width) of the JPEG bytes `image_data`, decoded in `sess`."""
    image = self.decode_jpeg(sess, image_data)
    return image.shape[0], image.shape[1]

  def decode_jpeg(self, sess, image_data):
    """The [height, width, 3] uint8 array of the JPEG bytes `image_data` (grey and CMYK become RGB).

    Raises tf.errors.InvalidArgumentError when the bytes do not decode.
    """
    return sess.run(self._decoded, feed_dict={self._jpeg_data: image_data})


def read_labels_if_present(dataset_dir, filename=LABELS_FILENAME):
  """labels.txt as {id: name} when the folder has one, else None (also for no folder at all: an
  empty dataset_dir must not pick up a labels.txt from the working directory)."""
  if dataset_dir and has_labels(dataset_dir, filename):
    return read_label_file(dataset_dir, filename)
  return None


def split_file_pattern(split_name, dataset_dir, file_pattern, default_pattern, splits,
                       dataset_name, require_files=True):
  """The checked glob of one split: the split must be known and (with require_files) have files."""
  check_split_name(split_name, splits, dataset_name)
  pattern = os.path.join(dataset_dir or '', (file_pattern or default_pattern) % split_name)
  if require_files:
    check_data_files(pattern, dataset_name, dataset_dir or '')
  return pattern


def image_classification_split(file_pattern, reader, num_samples, num_classes,
                               items_to_descriptions, labels_to_names, image_format_default='png',
                               image_shape=None, channels=3, label_length=None):
  """A slim Dataset of TFRecords with slim's image keys: items 'image' (uint8, `channels`
  channels, `image_shape` when the records' images all have it) and 'label' (int64 scalar).

  `label_length=1` reads labels stored as one-element lists (MNIST) and returns them as scalars.
  """
  import tf_slim as slim
  label_shape = [label_length] if label_length else []
  keys_to_features = {
      'image/encoded': tf.FixedLenFeature((), tf.string, default_value=''),
      'image/format': tf.FixedLenFeature((), tf.string, default_value=image_format_default),
      # Python zeros, not tensors: the Dataset then belongs to no graph and can be built before one.
      'image/class/label': tf.FixedLenFeature(label_shape, tf.int64,
                                              default_value=[0] * label_length if label_length
                                              else 0),
  }
  items_to_handlers = {
      'image': slim.tfexample_decoder.Image(shape=image_shape, channels=channels),
      'label': slim.tfexample_decoder.Tensor('image/class/label',
                                             shape=[] if label_length else None),
  }
  decoder = slim.tfexample_decoder.TFExampleDecoder(keys_to_features, items_to_handlers)
  return slim.dataset.Dataset(
      data_sources=file_pattern,
      reader=reader or tf.TFRecordReader,
      decoder=decoder,
      num_samples=num_samples,
      items_to_descriptions=items_to_descriptions,
      num_classes=num_classes,
      labels_to_names=labels_to_names)
