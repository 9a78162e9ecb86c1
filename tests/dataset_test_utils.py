"""Helpers for the data set converter tests: read TFRecords back, decode images, run a provider."""
import io

import numpy as np
from PIL import Image

import tensorflow.compat.v1 as tf
import tf_slim as slim


def read_examples(path_or_paths):
  """Every tf.train.Example in the TFRecord file(s), in order, as {key: list of values}."""
  paths = [path_or_paths] if isinstance(path_or_paths, str) else list(path_or_paths)
  examples = []
  for path in paths:
    for record in tf.io.tf_record_iterator(path):
      example = tf.train.Example.FromString(record)
      features = {}
      for key, feature in example.features.feature.items():
        kind = feature.WhichOneof('kind')
        features[key] = list(getattr(feature, kind).value) if kind else []
      examples.append(features)
  return examples


def decode(encoded, mode=None):
  """uint8 array of an encoded image (optionally converted to a Pillow mode)."""
  with Image.open(io.BytesIO(encoded)) as img:
    return np.asarray(img.convert(mode) if mode else img)


def provide_all(make_dataset, items, num):
  """Reads `num` examples through slim's DatasetDataProvider (one reader, no shuffling).

  `make_dataset()` builds the slim Dataset inside the reading graph (its default values are
  tensors).
  """
  with tf.Graph().as_default():
    dataset = make_dataset()
    provider = slim.dataset_data_provider.DatasetDataProvider(
        dataset, num_readers=1, shuffle=False, num_epochs=1)
    tensors = provider.get(items)
    results = []
    with tf.Session() as sess:
      sess.run(tf.local_variables_initializer())
      coord = tf.train.Coordinator()
      threads = tf.train.start_queue_runners(sess, coord)
      try:
        for _ in range(num):
          results.append(sess.run(tensors))
      finally:
        coord.request_stop()
        coord.join(threads, stop_grace_period_secs=5)
    return results


def scan_start(jpeg):
  """Offset of the first entropy-coded byte of a JPEG (just after its first SOS header)."""
  sos = jpeg.index(b'\xff\xda')
  return sos + 2 + int.from_bytes(jpeg[sos + 2:sos + 4], 'big')


def damage_scan(jpeg, replacement=b'\xff\xe1'):
  """The JPEG with bytes in the middle of its entropy-coded data overwritten: header, size and
  end-of-image marker intact. The default pair reads as an APP1 marker inside the scan, which
  TensorFlow's decoder rejects ("Input file read error") while Pillow decodes the image."""
  middle = (scan_start(jpeg) + len(jpeg) - 2) // 2
  return jpeg[:middle] + replacement + jpeg[middle + len(replacement):]


def break_png_crc(png):
  """The PNG with the CRC of its first IDAT chunk inverted (the pixel data itself intact)."""
  idat = png.index(b'IDAT')
  crc = idat + 4 + int.from_bytes(png[idat - 4:idat], 'big')
  return png[:crc] + bytes(b ^ 0xff for b in png[crc:crc + 4]) + png[crc + 4:]


def tf_decodes(encoded_images):
  """For each encoded image, whether TensorFlow decodes it as the readers do (`decode_jpeg` for
  JPEG bytes, `decode_image` otherwise), in full."""
  with tf.Graph().as_default():
    data = tf.placeholder(tf.string, [])
    image = tf.cond(tf.io.is_jpeg(data), lambda: tf.io.decode_jpeg(data, channels=3),
                    lambda: tf.io.decode_image(data, channels=3, expand_animations=False))
    results = []
    with tf.Session() as sess:
      for encoded in encoded_images:
        try:
          sess.run(image, {data: encoded})
          results.append(True)
        except tf.errors.InvalidArgumentError:
          results.append(False)
    return results
