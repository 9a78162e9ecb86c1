r"""Converts ImageNet (ILSVRC 2012) image folders into sharded TFRecords for `datasets/imagenet.py`.

    python datasets/build_imagenet_data.py \
        --train_directory=DATA/train --validation_directory=DATA/validation \
        --output_directory=DATA --labels_file=imagenet_lsvrc_2015_synsets.txt \
        --imagenet_metadata_file=imagenet_metadata.txt \
        --bounding_box_file=imagenet_2012_bounding_boxes.csv

Input: each directory holds one sub-folder per synset (`n01440764/n01440764_10026.JPEG`; run
`preprocess_imagenet_validation_data.py` once to sort the flat validation folder that way). The
labels file lists the synsets, label i (1-based, 0 = background) being line i. The metadata file
maps each synset to its human-readable name. The optional bounding-box CSV (rows
`<image file name>,xmin,ymin,xmax,ymax` in fractions of the image, from `process_bounding_boxes.py`)
adds boxes to the images it names; `--bounding_box_file=` (empty) builds without boxes.

Output in output_directory: `validation-%05d-of-00128` and `train-%05d-of-01024` (the shard counts
are flags), validation first, and `labels.txt` (`0:background`, then `<label>:<name>`). Within a
split the files are sorted per synset, shuffled with seed 12345 and cut into consecutive runs, one
per shard.

Each record keeps the image's JPEG bytes, except images that not every JPEG decoder reads: files in
another format under a .JPEG name (ImageNet has a PNG) and CMYK JPEGs (it has 22) are re-encoded as
RGB JPEGs at quality 100. Both are recognised by their content, not by a list of names. Grey JPEGs
are kept: the reader decodes them to 3 channels. Every image is decoded by TensorFlow
(`converter_lib.DecodeCheck`, the reader's own decoder) before it is written; an image that does not
decode is skipped, named in a warning and counted in the summary.

Work is spread over `--num_threads` processes (the original's flag name; here they are processes).
A shard is written under a temporary name and renamed when complete, and shards already present
are kept, so an interrupted run resumes where it stopped and a complete folder is left as is.

Record features: `image/height`, `image/width`, `image/colorspace` ('RGB'), `image/channels` (3),
`image/class/label`, `image/class/synset`, `image/class/text`, `image/object/bbox/xmin|ymin|xmax|
ymax`, `image/object/bbox/label` (the image label, once per box; also written as
`image/object/class/label`), `image/format` ('JPEG'), `image/filename`, `image/encoded`.

`ImageCoder` keeps the original's TensorFlow helper for code of its own: `png_to_jpeg`,
`cmyk_to_rgb` and `decode_jpeg` of image bytes, run in a private graph and session.
"""
import collections
import io
import os
import random
import sys
import time

from absl import flags
from absl import logging
import numpy as np
import tensorflow.compat.v1 as tf

if __name__ == '__main__':  # run as a script: make the project's packages importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from datasets import convert_image_folder  # noqa: E402
from datasets import converter_lib  # noqa: E402
from datasets import dataset_utils  # noqa: E402
from datasets import imagenet  # noqa: E402
from foundation import fileio  # noqa: E402
from foundation.errors import UserError  # noqa: E402

_RANDOM_SEED = 12345
_REENCODE_QUALITY = 100
_IMAGE_EXTENSIONS = ('.jpeg', '.jpg', '.png')

# Images handed to a worker process at a time.
_CHUNK = 32


class ImageCoder(object):
  """The original builder's TensorFlow image conversions, in a graph and session of their own.

  `png_to_jpeg(image_data)` and `cmyk_to_rgb(image_data)` return RGB JPEG bytes (quality 100) of a
  PNG or of a CMYK JPEG; `decode_jpeg(image_data)` returns the [height, width, 3] uint8 array of
  a JPEG. The builder itself converts with Pillow in its worker processes (`process_image`).
  """

  def __init__(self):
    self._graph = tf.Graph()
    with self._graph.as_default():
      self._png_data = tf.placeholder(dtype=tf.string)
      self._png_to_jpeg = tf.image.encode_jpeg(tf.image.decode_png(self._png_data, channels=3),
                                               format='rgb', quality=_REENCODE_QUALITY)
      self._cmyk_data = tf.placeholder(dtype=tf.string)
      # channels=0: the decoder turns the 4 CMYK channels into RGB itself.
      self._cmyk_to_rgb = tf.image.encode_jpeg(tf.image.decode_jpeg(self._cmyk_data, channels=0),
                                               format='rgb', quality=_REENCODE_QUALITY)
      self._reader = dataset_utils.ImageReader()
    self._sess = tf.Session(graph=self._graph)

  def png_to_jpeg(self, image_data):
    return self._sess.run(self._png_to_jpeg, feed_dict={self._png_data: image_data})

  def cmyk_to_rgb(self, image_data):
    return self._sess.run(self._cmyk_to_rgb, feed_dict={self._cmyk_data: image_data})

  def decode_jpeg(self, image_data):
    return self._reader.decode_jpeg(self._sess, image_data)


def find_image_files(data_dir, synsets):
  """Returns `(filenames, synsets, labels)` of the images below `data_dir`, shuffled.

  Label i (1-based) is the i-th synset of `synsets`; every synset must have a folder.
  """
  if not os.path.isdir(data_dir):
    raise UserError('image folder %s does not exist' % data_dir)
  filenames, file_synsets, labels, missing = [], [], [], []
  for label, synset in enumerate(synsets, 1):
    folder = os.path.join(data_dir, synset)
    if not os.path.isdir(folder):
      missing.append(synset)
      continue
    names = sorted(n for n in os.listdir(folder) if not n.startswith('.')
                   and os.path.splitext(n)[1].lower() in _IMAGE_EXTENSIONS)
    filenames += [os.path.join(folder, n) for n in names]
    file_synsets += [synset] * len(names)
    labels += [label] * len(names)
  if missing:
    raise UserError('%s has no folder for %d of the %d synsets (e.g. %s): incomplete extraction, '
                    'or the validation images not yet sorted by '
                    'preprocess_imagenet_validation_data.py?'
                    % (data_dir, len(missing), len(synsets), ', '.join(missing[:3])))
  # The same permutation as seeding the global generator with 12345 and shuffling, as before.
  order = list(range(len(filenames)))
  random.Random(_RANDOM_SEED).shuffle(order)
  logging.info('Found %d images across %d labels inside %s.', len(filenames), len(synsets),
               data_dir)
  return ([filenames[i] for i in order], [file_synsets[i] for i in order],
          [labels[i] for i in order])


def read_bounding_boxes(path):
  """{image file name: [[xmin, ymin, xmax, ymax], ...]} from the bounding-box CSV."""
  boxes = collections.defaultdict(list)
  with open(path) as f:
    for number, line in enumerate(f, 1):
      line = line.strip()
      if not line:
        continue
      parts = line.split(',')
      try:
        if len(parts) != 5:
          raise ValueError('expected 5 fields, found %d' % len(parts))
        boxes[parts[0]].append([float(v) for v in parts[1:]])
      except ValueError as e:
        raise UserError('%s line %d is not "<file>,xmin,ymin,xmax,ymax": %s'
                        % (path, number, e)) from None
  logging.info('Read %d bounding boxes of %d images from %s.',
               sum(len(b) for b in boxes.values()), len(boxes), path)
  return boxes


def process_image(data):
  """Returns `(jpeg bytes, height, width, fixed)` for an image file's content.

  `fixed` is None when the bytes are kept (an RGB or grey JPEG, whose structure is checked here and
  which the parent has TensorFlow decode), else what
  was re-encoded ('cmyk' for a CMYK/YCCK JPEG, the format's name, e.g. 'png', for a non-JPEG file).
  Raises convert_image_folder.CorruptImage when the content does not decode.
  """
  from PIL import Image
  try:
    with Image.open(io.BytesIO(data)) as img:
      kind, mode = img.format, img.mode
      width, height = img.size
      if kind == 'JPEG' and mode in ('RGB', 'L'):
        convert_image_folder.check_jpeg_structure(data)  # a cut file fails, without a decode
        return data, height, width, None
      img.load()
      if img.mode in ('RGBA', 'LA', 'PA') or (img.mode == 'P' and 'transparency' in img.info):
        rgb = img.convert('RGBA').convert('RGB')
      else:
        rgb = img.convert('RGB')
      out = io.BytesIO()
      # Full-resolution colour (4:4:4): at quality 100 halving the chroma would be the main loss.
      rgb.save(out, format='JPEG', quality=_REENCODE_QUALITY, subsampling=0)
      return out.getvalue(), height, width, ('cmyk' if kind == 'JPEG' else str(kind).lower())
  except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
    raise convert_image_folder.CorruptImage(str(e) or e.__class__.__name__) from None


def _process_chunk(task):
  """Worker: `(shard, [(index, bytes or None, height, width, fixed, error, clean_scan)])` for a
  chunk; `clean_scan` is `converter_lib.is_single_clean_scan` of the bytes, for the parent's
  `DecodeCheck`."""
  shard, items = task
  results = []
  for index, path in items:
    try:
      with open(path, 'rb') as f:
        data = f.read()
      encoded, height, width, fixed = process_image(data)
    except (convert_image_folder.CorruptImage, OSError) as e:
      results.append((index, None, 0, 0, None, str(e), False))
      continue
    results.append((index, encoded, height, width, fixed, None,
                    converter_lib.is_single_clean_scan(encoded)))
  return shard, results


def convert_to_example(filename, image_buffer, label, synset, human, bboxes, height, width):
  """The tf.train.Example of one image."""
  xmin, ymin, xmax, ymax = ([box[i] for box in bboxes] for i in range(4))
  box_labels = [label] * len(bboxes)
  feature = {
      'image/height': dataset_utils.int64_feature(height),
      'image/width': dataset_utils.int64_feature(width),
      'image/colorspace': dataset_utils.bytes_feature(b'RGB'),
      'image/channels': dataset_utils.int64_feature(3),
      'image/class/label': dataset_utils.int64_feature(label),
      'image/class/synset': dataset_utils.bytes_feature(synset.encode('utf8')),
      'image/class/text': dataset_utils.bytes_feature(human.encode('utf8')),
      'image/object/bbox/xmin': dataset_utils.float_list_feature(xmin),
      'image/object/bbox/xmax': dataset_utils.float_list_feature(xmax),
      'image/object/bbox/ymin': dataset_utils.float_list_feature(ymin),
      'image/object/bbox/ymax': dataset_utils.float_list_feature(ymax),
      'image/object/bbox/label': dataset_utils.int64_feature(box_labels),
      'image/object/class/label': dataset_utils.int64_feature(box_labels),
      'image/format': dataset_utils.bytes_feature(b'JPEG'),
      'image/filename': dataset_utils.bytes_feature(os.path.basename(filename).encode('utf8')),
      'image/encoded': dataset_utils.bytes_feature(image_buffer),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature))


def shard_ranges(num_images, num_shards):
  """`num_shards` consecutive `(start, end)` runs covering the images, sizes differing by <= 1."""
  bounds = np.linspace(0, num_images, num_shards + 1).astype(int)
  return [(int(bounds[i]), int(bounds[i + 1])) for i in range(num_shards)]


def shard_path(output_directory, name, shard, num_shards):
  return os.path.join(output_directory, '%s-%05d-of-%05d' % (name, shard, num_shards))


class BuildSummary(convert_image_folder.ConversionSummary):
  """The conversion summary plus the re-encoded images and the shards kept from an earlier run."""

  def __init__(self, output_directory):
    super().__init__('imagenet', output_directory)
    self.reencoded = []
    self.kept_shards = 0

  def __str__(self):
    lines = [super().__str__()]
    if not self.already_complete:
      lines.append('re-encoded as RGB JPEG: %d' % len(self.reencoded))
      lines += ['  %s (%s)' % (path, kind) for path, kind in self.reencoded]
      if self.kept_shards:
        lines.append('shards kept from an earlier run: %d' % self.kept_shards)
    return '\n'.join(lines)


def process_dataset(name, directory, num_shards, synsets, synset_to_human, image_to_bboxes,
                    output_directory, num_workers, summary):
  """Writes the `name` split of `directory` as `num_shards` TFRecord files; updates `summary`."""
  filenames, file_synsets, labels = find_image_files(directory, synsets)
  ranges = shard_ranges(len(filenames), num_shards)
  todo = [s for s in range(num_shards)
          if not os.path.isfile(shard_path(output_directory, name, s, num_shards))]
  summary.kept_shards += num_shards - len(todo)
  tasks = []
  for shard in todo:
    start, end = ranges[shard]
    if start == end:  # fewer images than shards: the shard is an empty file
      with fileio.AtomicTFRecordWriter(shard_path(output_directory, name, shard, num_shards)):
        pass
    for i in range(start, end, _CHUNK):
      tasks.append((shard, [(j, filenames[j]) for j in range(i, min(i + _CHUNK, end))]))
  total = sum(len(items) for _, items in tasks)
  summary.split_sizes[name] = 0
  if not total:
    return
  progress = converter_lib.ProgressLine('Converting imagenet %s' % name, total)
  written = 0
  writer, current = None, None
  checker = converter_lib.DecodeCheck()
  try:
    for shard, results in converter_lib.parallel_imap(_process_chunk, tasks, num_workers):
      if shard != current:
        if writer:
          writer.close()
        writer = fileio.AtomicTFRecordWriter(shard_path(output_directory, name, shard, num_shards))
        current = shard
      readable = [result for result in results if result[1] is not None]
      # Written only once TensorFlow's decoder has read them (the chunk's images in parallel).
      reasons = iter(checker.check([result[1] for result in readable],
                                   [result[6] for result in readable]))
      for index, encoded, height, width, fixed, error, _ in results:
        path = filenames[index]
        error = error or next(reasons)
        if error:
          summary.skipped.append((path, error))
          continue
        if fixed:
          summary.reencoded.append((path, fixed))
        example = convert_to_example(
            path, encoded, labels[index], file_synsets[index],
            synset_to_human[file_synsets[index]],
            image_to_bboxes.get(os.path.basename(path), []), height, width)
        writer.write(example.SerializeToString())
        written += 1
      progress.add(len(results))
    if writer:
      writer.close()
  except BaseException:
    if writer:
      writer.abort()
    raise
  finally:
    checker.close()
  progress.finish()
  summary.split_sizes[name] = written


def build(train_directory, validation_directory, output_directory, labels_file,
          imagenet_metadata_file, bounding_box_file=None, train_shards=1024,
          validation_shards=128, num_workers=None):
  """Builds the validation then the train TFRecords; returns a BuildSummary.

  A directory given as None or '' skips that split.
  """
  for flag, value in (('train_shards', train_shards), ('validation_shards', validation_shards)):
    if value < 1:
      raise UserError('--%s must be at least 1, got %d' % (flag, value))
  converter_lib.check_num_workers(num_workers)
  for flag, path in (('labels_file', labels_file), ('imagenet_metadata_file',
                                                     imagenet_metadata_file)):
    if not os.path.isfile(path):
      raise UserError('--%s=%s does not exist' % (flag, path))
  synsets = imagenet.read_synsets(labels_file)
  if len(set(synsets)) != len(synsets):
    raise UserError('%s lists a synset twice' % labels_file)
  synset_to_human = imagenet.read_metadata(imagenet_metadata_file)
  unnamed = [s for s in synsets if s not in synset_to_human]
  if unnamed:
    raise UserError('%s has no name for %d synsets of %s, e.g. %s'
                    % (imagenet_metadata_file, len(unnamed), labels_file, unnamed[0]))
  if bounding_box_file:
    if not os.path.isfile(bounding_box_file):
      raise UserError('--bounding_box_file=%s does not exist (build it with '
                      'process_bounding_boxes.py, or pass --bounding_box_file= to build without '
                      'boxes)' % bounding_box_file)
    image_to_bboxes = read_bounding_boxes(bounding_box_file)
  else:
    image_to_bboxes = {}

  summary = BuildSummary(output_directory)
  os.makedirs(output_directory, exist_ok=True)
  fileio.remove_stale_temps(output_directory)
  splits = [(n, d, s) for n, d, s in (('validation', validation_directory, validation_shards),
                                      ('train', train_directory, train_shards)) if d]
  if not splits:
    raise UserError('nothing to do: give --train_directory and/or --validation_directory')
  if dataset_utils.has_labels(output_directory) and all(
      os.path.isfile(shard_path(output_directory, n, i, s))
      for n, _, s in splits for i in range(s)):
    summary.already_complete = True
    return summary

  start = time.time()
  for name, directory, num_shards in splits:
    process_dataset(name, directory, num_shards, synsets, synset_to_human, image_to_bboxes,
                    output_directory, num_workers, summary)
  convert_image_folder.warn_skipped(summary.skipped)
  summary.num_classes = len(synsets) + 1
  labels_to_names = {0: 'background'}
  labels_to_names.update((i, synset_to_human[s]) for i, s in enumerate(synsets, 1))
  dataset_utils.write_label_file(labels_to_names, output_directory)
  summary.seconds = time.time() - start
  return summary


def _define_flags():
  flags.DEFINE_string('train_directory', '/tmp/', 'Training data directory')
  flags.DEFINE_string('validation_directory', '/tmp/', 'Validation data directory')
  flags.DEFINE_string('output_directory', '/tmp/', 'Output data directory')
  flags.DEFINE_integer('train_shards', 1024, 'Number of shards in training TFRecord files.')
  flags.DEFINE_integer('validation_shards', 128, 'Number of shards in validation TFRecord files.')
  flags.DEFINE_integer('num_threads', 8, 'Number of worker processes converting images.')
  flags.DEFINE_string(
      'labels_file', 'imagenet_lsvrc_2015_synsets.txt',
      'Labels file: one synset per line, e.g. n01440764; label i is line i (1-based, 0 is '
      'background).')
  flags.DEFINE_string(
      'imagenet_metadata_file', 'imagenet_metadata.txt',
      'ImageNet metadata file: one "<synset>\\t<human-readable name>" line per synset.')
  flags.DEFINE_string(
      'bounding_box_file', './imagenet_2012_bounding_boxes.csv',
      'Bounding box CSV from process_bounding_boxes.py (<file>,xmin,ymin,xmax,ymax per line); '
      'empty to build without boxes.')


def main(unused_argv):
  f = flags.FLAGS
  summary = build(f.train_directory, f.validation_directory, f.output_directory, f.labels_file,
                  f.imagenet_metadata_file, f.bounding_box_file, f.train_shards,
                  f.validation_shards, f.num_threads)
  print(summary)


if __name__ == '__main__':
  from image_classifier import cli
  _define_flags()
  cli.run(main)
