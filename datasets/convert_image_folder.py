"""Converts any folder of class sub-folders into sharded TFRecords readable by `datasets/custom.py`.

    python download_and_convert_data.py --dataset_name=custom \
        --dataset_dir=/tmp/my_data --images_dir=/path/to/photos

`images_dir` holds one sub-folder per class (its name is the class name; classes are numbered in sorted
order); images may sit anywhere below their class folder. A class folder without images is reported
with a warning and keeps its number (so adding images to it later does not renumber the others). Accepted: .jpg .jpeg .png .bmp .gif (any
case). What a record stores, with `image/format` always telling the truth:

* a JPEG in RGB or grey: its original bytes, format `jpg` (no re-compression);
* a PNG: its original bytes, format `png` (grey, palette and alpha PNGs decode fine to 3 channels);
* anything else (BMP, GIF's first frame, CMYK/YCCK JPEGs that not every decoder reads): decoded and
  re-encoded losslessly as PNG, format `png` (grey stays grey, everything else becomes RGB).

Height and width always come from the image header. A JPEG kept as it is is not decoded by the
worker processes; other files are decoded in full by Pillow. Then every image is decoded by
TensorFlow, the reader's own decoder, before it is written (`converter_lib.DecodeCheck`: a JPEG
whose scan was damaged but whose header and end are intact is caught there); a JPEG that fails is
named by its structural damage when it has one (`check_jpeg_structure`: a cut file says so). A file
that fails is skipped with a warning naming it, and counted in the summary.

The split is made like the flowers split: the file list sorted (so it does not depend on the file
system's listing order), shuffled with seed 0, the first `round(validation_fraction * N)` files (at
least one when the fraction is above 0 and there are two or more files) go to validation, the rest to
train. The default fraction is 0.1; 0 writes a train split only. Each split has `num_shards` files
(default 5; fewer when a split has fewer images than that).

Output in `dataset_dir`: `custom_train_%05d-of-%05d.tfrecord`, `custom_validation_...`, `labels.txt`,
and `dataset_meta.json` (split sizes, class count, file pattern, source) which `custom.get_split` reads.
The meta file is written last, so its presence means the conversion completed.

This module also holds the machinery the flowers converter shares: `list_class_folders`,
`encode_image`, `split_files`, `write_splits` (parallel reading, atomic shard writing) and
`ConversionSummary`.
"""
import io
import math
import os
import random
import sys
import time

from absl import logging

from datasets import converter_lib
from datasets import dataset_utils
from foundation import fileio
from foundation.errors import UserError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif')
DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_NUM_SHARDS = 5
_RANDOM_SEED = 0
_PREFIX = 'custom'
# Images decoded by TensorFlow per session call before they are written.
_CHECK_BATCH = 256
FILE_PATTERN = _PREFIX + '_%s_*.tfrecord'

# What a record keeps: 'original' = the source bytes when they are a JPEG or PNG (flowers: always the
# JPEG as downloaded); 'portable' = JPEG only for RGB/grey, PNG otherwise (custom folders).
KEEP_ORIGINAL = 'original'
PORTABLE = 'portable'

# `image/format` of a stored JPEG, as the original flowers converter wrote it.
JPEG_FORMAT = 'jpg'


class CorruptImage(Exception):
  """The file is not a decodable image."""


def check_jpeg_structure(data):
  """Raises CorruptImage unless `data` is a JPEG whose segments and first scan are complete.

  Walks the marker segments from SOI to the first start-of-scan (`converter_lib.jpeg_first_scan`),
  then requires an end-of-image marker after it. Inside entropy-coded data a 0xFF byte is always
  followed by 0x00 or a restart marker, so an FFD9 there can only be the real end: a file cut
  anywhere (the usual damage of an interrupted download or copy) has none and is caught, at the
  cost of a byte search instead of a decode. Damage that keeps the structure (bytes changed inside
  the scan) is not detected here: `converter_lib.DecodeCheck` runs TensorFlow's decoder on every
  image before it is written.
  """
  try:
    _, _, _, _, position = converter_lib.jpeg_first_scan(data)
  except ValueError as e:
    raise CorruptImage(str(e)) from None
  # Most files: the first marker after the scan is the EOI (one search finds both).
  if (not converter_lib.first_marker_is_eoi(data, position)
      and data.find(converter_lib.JPEG_EOI, min(position, len(data))) < 0):
    raise CorruptImage('JPEG data ends before its end-of-image marker (truncated file)')


def encode_image(data, policy=PORTABLE, check_structure=True):
  """Returns `(encoded_bytes, format, height, width)` for the image file content `data`.

  A JPEG or PNG kept as it is is returned as the very `data` object. Sizes come from the header. A
  kept JPEG is checked by `check_jpeg_structure` unless `check_structure` is False (no decode
  here: `write_splits` has TensorFlow decode it before writing it, and names the structural
  damage of a JPEG that fails); everything else is decoded in full. Raises CorruptImage for a
  file that fails these checks.
  """
  from PIL import Image
  if not check_structure and data[:3] == b'\xff\xd8\xff':
    # A JPEG is kept on what its frame header says (what Pillow's header parse would give, for a
    # fraction of its time): 1 component is Pillow's 'L', 3 its 'RGB'. Anything unusual (other
    # component counts, no size, a size Pillow refuses or warns about) goes the way below.
    try:
      _, height, width, components, _ = converter_lib.jpeg_first_scan(data)
    except ValueError:
      components = 0
    if ((policy == KEEP_ORIGINAL or components in (1, 3)) and components in (1, 3, 4)
        and 0 < height * width <= (Image.MAX_IMAGE_PIXELS or height * width)):
      return data, JPEG_FORMAT, height, width
  try:
    with Image.open(io.BytesIO(data)) as img:
      kind = img.format
      width, height = img.size
      mode = img.mode
      if kind == 'JPEG' and (policy == KEEP_ORIGINAL or mode in ('RGB', 'L')):
        if check_structure:
          check_jpeg_structure(data)
        return data, JPEG_FORMAT, height, width
      img.load()
      if kind == 'PNG':
        return data, 'png', height, width
    # Anything else is decoded at full size and stored as a lossless PNG.
    with Image.open(io.BytesIO(data)) as img:
      img.seek(0)
      if img.mode in ('L', '1'):
        pixels = img.convert('L')
      elif img.mode in ('LA',):
        pixels = img.convert('L')
      else:
        pixels = img.convert('RGB')
      out = io.BytesIO()
      pixels.save(out, format='PNG')
      return out.getvalue(), 'png', height, width
  except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
    raise CorruptImage(str(e) or e.__class__.__name__) from None


def list_class_folders(images_dir, extensions=IMAGE_EXTENSIONS):
  """Returns `(class_names, files, empty_classes, ignored)` for a folder of class sub-folders.

  `class_names` are the sorted sub-folder names; `files` is the sorted list of `(path, class_name)`
  for every image below them (hidden files and folders skipped); `ignored` lists the files that are
  not read: those beside the class folders and those whose extension is not an image one.
  """
  if not os.path.isdir(images_dir):
    raise UserError('images folder %s does not exist' % images_dir)
  class_names = sorted(
      name for name in os.listdir(images_dir)
      if not name.startswith('.') and os.path.isdir(os.path.join(images_dir, name)))
  files, empty = [], []
  # Files beside the class folders belong to no class (e.g. a LICENSE.txt): reported, not read.
  ignored = sorted(os.path.join(images_dir, name) for name in os.listdir(images_dir)
                   if not name.startswith('.') and os.path.isfile(os.path.join(images_dir, name)))
  for class_name in class_names:
    count = 0
    for root, dirs, names in os.walk(os.path.join(images_dir, class_name)):
      dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
      for name in sorted(names):
        if name.startswith('.'):
          continue
        path = os.path.join(root, name)
        if os.path.splitext(name)[1].lower() in extensions:
          files.append((path, class_name))
          count += 1
        else:
          ignored.append(path)
    if not count:
      empty.append(class_name)
  files.sort()
  return class_names, files, empty, ignored


def split_files(files, num_validation, seed=_RANDOM_SEED):
  """Sorts, shuffles with `seed` and splits: returns `(train, validation)`."""
  ordered = sorted(files)
  random.Random(seed).shuffle(ordered)  # same permutation as random.seed(seed); random.shuffle
  return ordered[num_validation:], ordered[:num_validation]


def shard_ranges(num_items, num_shards):
  """`num_shards` consecutive `(start, end)` slices of ceil(num_items / num_shards) items each."""
  per_shard = int(math.ceil(num_items / float(num_shards))) if num_items else 0
  return [(min(i * per_shard, num_items), min((i + 1) * per_shard, num_items))
          for i in range(num_shards)]


def _check_file(task):
  """Worker: reads and checks one image file.

  Returns `(format, height, width, size)` when the file's own `size` bytes are to be stored (the
  parent reads them again from the page cache, cheaper than sending them through a pipe),
  `(format, height, width, encoded)` for a re-encoded image, or `(None, reason)` for a file that
  cannot be read or decoded.
  """
  path, policy = task
  try:
    with open(path, 'rb') as f:
      data = f.read()
    # The parent checks the structure of what it writes (it searches the scan for markers anyway).
    encoded, image_format, height, width = encode_image(data, policy, check_structure=False)
  except (CorruptImage, OSError) as e:
    return None, str(e)
  return image_format, height, width, (len(data) if encoded is data else encoded)


class _ConversionProgress(object):
  """`>> Converting <prefix> <split> image i/n, shard j/k` rewritten in place on stderr."""

  def __init__(self, prefix, enabled, min_interval=0.5):
    self._prefix = prefix
    self._enabled = enabled
    self._min_interval = min_interval
    self._last = 0.0
    self._open_line = False

  def update(self, split_name, done, total, shard_id, num_shards, final=False):
    now = time.monotonic()
    if not self._enabled or (not final and now - self._last < self._min_interval):
      return
    self._last = now
    sys.stderr.write('\r>> Converting %s %s image %d/%d, shard %d/%d%s' % (
        self._prefix, split_name, done, total, shard_id + 1, num_shards, '\n' if final else ''))
    sys.stderr.flush()
    self._open_line = not final

  def close(self):
    """Ends a pending progress line, so that a message printed after an interrupt starts clean."""
    if self._open_line:
      sys.stderr.write('\n')
      sys.stderr.flush()
      self._open_line = False


def write_splits(splits, dataset_dir, prefix, policy=PORTABLE, num_workers=None, progress=True):
  """Writes every split as `<prefix>_<split>_%05d-of-%05d.tfrecord` shards.

  `splits` is a list of `(split_name, items, num_shards)` with items `(path, label)`; shard i holds
  the i-th run of ceil(len(items) / num_shards) items, in order. Images are read and checked by
  `num_workers` processes (default: one per CPU). Each shard is written under a temporary name and
  renamed when complete; on any failure or interrupt the shard being written is deleted, so no
  partial shard ever has a final name.

  Returns `(sizes, skipped, filenames)`: images written per split, `(path, reason)` for each
  unreadable file, and the shard file names.
  """
  shards = []  # (split_name, path, items, shard_id, num_shards)
  totals = {}
  for split_name, items, num_shards in splits:
    totals[split_name] = len(items)
    for shard_id, (start, end) in enumerate(shard_ranges(len(items), num_shards)):
      path = dataset_utils.shard_filename(dataset_dir, prefix, split_name, shard_id, num_shards)
      shards.append((split_name, path, items[start:end], shard_id, num_shards))
  tasks = [(path, policy) for _, _, items, _, _ in shards for path, _ in items]
  converter_lib.check_num_workers(num_workers)
  results = converter_lib.parallel_imap(_check_file, tasks, num_workers, chunksize=16)
  meter = _ConversionProgress(prefix, progress)
  sizes = {split_name: 0 for split_name, _, _ in splits}
  done = dict.fromkeys(totals, 0)
  skipped = []
  checker = converter_lib.DecodeCheck(_CHECK_BATCH)

  def write_checked(writer, pending):
    # Images are written only once TensorFlow's decoder has read them (in batches, in parallel;
    # the very bytes written: the parent read them). `pending` holds the files that failed before
    # too (with a reason), in order, so that `skipped` lists the files in the order they were read.
    readable = [item for item in pending if item[-1] is None]
    reasons = iter(checker.check([item[5] for item in readable]))
    for path, label, image_format, height, width, encoded, reason in pending:
      reason = reason or next(reasons)
      if reason and encoded is not None and image_format == JPEG_FORMAT:
        try:
          check_jpeg_structure(encoded)  # a cut file is named as such
        except CorruptImage as e:
          reason = str(e)
      if reason:
        skipped.append((path, reason))
        continue
      example = dataset_utils.image_to_tfexample(encoded, image_format, height, width, label)
      writer.write(example.SerializeToString())
    del pending[:]

  try:
    for split_name, output_path, items, shard_id, num_shards in shards:
      with fileio.AtomicTFRecordWriter(output_path) as writer:
        pending = []
        for path, label in items:
          result = next(results)
          done[split_name] += 1
          meter.update(split_name, done[split_name], totals[split_name], shard_id, num_shards,
                       final=done[split_name] == totals[split_name])
          if result[0] is None:
            pending.append((path, label, None, 0, 0, None, result[1]))
          else:
            image_format, height, width, encoded = result
            reason = None
            if isinstance(encoded, int):
              with open(path, 'rb') as f:
                data = f.read()
              if len(data) != encoded:
                reason = 'the file changed while it was being converted'
              encoded = data
            pending.append((path, label, image_format, height, width, encoded, reason))
          if len(pending) == _CHECK_BATCH:
            write_checked(writer, pending)
        write_checked(writer, pending)
        sizes[split_name] += writer.count
  finally:
    meter.close()
    results.close()  # stops the worker pool at once when a shard failed
    checker.close()
  return sizes, skipped, [os.path.basename(path) for _, path, _, _, _ in shards]


class ConversionSummary(object):
  """What a converter did; `str()` is the report the command line prints."""

  def __init__(self, dataset_name, dataset_dir):
    self.dataset_name = dataset_name
    self.dataset_dir = dataset_dir
    self.split_sizes = {}
    self.skipped = []
    self.ignored = []
    self.empty_classes = []
    self.num_classes = 0
    self.seconds = 0.0
    self.already_complete = False

  @property
  def num_images(self):
    return sum(self.split_sizes.values())

  def __str__(self):
    if self.already_complete:
      return ('%s: %s already holds a complete converted data set; nothing to do.'
              % (self.dataset_name, self.dataset_dir))
    sizes = ', '.join('%s %d' % (split, size) for split, size in self.split_sizes.items())
    rate = self.num_images / self.seconds if self.seconds > 0 else float('inf')
    lines = ['%s: wrote %d images (%s) of %d classes to %s in %.1f s (%.1f images/s).'
             % (self.dataset_name, self.num_images, sizes, self.num_classes, self.dataset_dir,
                self.seconds, rate),
             'skipped (unreadable) files: %d' % len(self.skipped)]
    lines += ['  %s: %s' % (path, reason) for path, reason in self.skipped]
    if self.empty_classes:
      lines.append('empty class folders: %s' % ', '.join(self.empty_classes))
    if self.ignored:
      lines.append('files not read (not an image, or beside the class folders): %d (%s%s)' % (
          len(self.ignored), ', '.join(os.path.basename(p) for p in self.ignored[:3]),
          ', ...' if len(self.ignored) > 3 else ''))
    return '\n'.join(lines)


def warn_skipped(skipped):
  for path, reason in skipped:
    logging.warning('skipped unreadable image %s: %s', path, reason)


def _existing_outputs(dataset_dir, prefix):
  import glob
  return sorted(glob.glob(os.path.join(glob.escape(dataset_dir), '%s_*_*-of-*.tfrecord' % prefix)))


def _meta_matches(meta, images_dir, validation_fraction, num_shards):
  return (meta.get('source') == os.path.abspath(images_dir)
          and meta.get('validation_fraction') == validation_fraction
          and meta.get('num_shards') == num_shards)


def run(dataset_dir, images_dir=None, validation_fraction=DEFAULT_VALIDATION_FRACTION,
        num_shards=DEFAULT_NUM_SHARDS, num_workers=None):
  """Converts `images_dir` into TFRecords in `dataset_dir`; returns a ConversionSummary."""
  if not images_dir:
    raise UserError('--images_dir is required for --dataset_name=custom: a folder with one '
                    'sub-folder of images per class')
  if not 0.0 <= validation_fraction < 1.0:
    raise UserError('--validation_fraction must be in [0, 1), got %g' % validation_fraction)
  if num_shards < 1:
    raise UserError('--num_shards must be at least 1, got %d' % num_shards)
  source, target = os.path.realpath(images_dir), os.path.realpath(dataset_dir)
  if target == source or target.startswith(source + os.sep):
    raise UserError('--dataset_dir %s is inside --images_dir %s: it would be read as a class '
                    'folder; write the TFRecords somewhere else' % (dataset_dir, images_dir))
  summary = ConversionSummary('custom', dataset_dir)
  meta_path = os.path.join(dataset_dir, dataset_utils.META_FILENAME)
  if os.path.isfile(meta_path):
    meta = dataset_utils.read_meta_file(dataset_dir)
    if _meta_matches(meta, images_dir, validation_fraction, num_shards) and all(
        os.path.isfile(os.path.join(dataset_dir, name)) for name in meta.get('files', [])):
      summary.already_complete = True
      return summary
    raise UserError('%s already holds a data set converted from %s with other settings; choose an '
                    'empty --dataset_dir or delete that one first' % (dataset_dir, meta.get('source')))

  start = time.time()
  class_names, files, summary.empty_classes, summary.ignored = list_class_folders(images_dir)
  for name in summary.empty_classes:
    logging.warning('class folder %s has no images (%s)', name, ', '.join(IMAGE_EXTENSIONS))
  if not class_names:
    raise UserError('%s has no class sub-folders: put the images of each class in a folder named '
                    'after the class' % images_dir)
  if not files:
    raise UserError('no images (%s) found under %s' % (', '.join(IMAGE_EXTENSIONS), images_dir))
  class_ids = {name: index for index, name in enumerate(class_names)}
  labelled = [(path, class_ids[name]) for path, name in files]
  num_validation = int(round(validation_fraction * len(labelled)))
  if validation_fraction > 0 and len(labelled) > 1:
    num_validation = min(max(num_validation, 1), len(labelled) - 1)
  train, validation = split_files(labelled, num_validation)

  os.makedirs(dataset_dir, exist_ok=True)
  fileio.remove_stale_temps(dataset_dir)
  # Shards of an earlier, unfinished run could mix with this one's under the same glob.
  for stale in _existing_outputs(dataset_dir, _PREFIX):
    os.remove(stale)
  splits = [('train', train)] + ([('validation', validation)] if validation else [])
  shards = {split: max(1, min(num_shards, len(items))) for split, items in splits}
  summary.split_sizes, summary.skipped, filenames = write_splits(
      [(split, items, shards[split]) for split, items in splits], dataset_dir, _PREFIX, PORTABLE,
      num_workers)
  warn_skipped(summary.skipped)
  summary.num_classes = len(class_names)

  dataset_utils.write_label_file(dict(enumerate(class_names)), dataset_dir)
  dataset_utils.write_meta_file({
      'name': 'custom',
      'splits': summary.split_sizes,
      'num_classes': len(class_names),
      'file_pattern': FILE_PATTERN,
      'num_shards': num_shards,
      'validation_fraction': validation_fraction,
      'source': os.path.abspath(images_dir),
      'skipped': [path for path, _ in summary.skipped],
      'files': sorted(filenames) + [dataset_utils.LABELS_FILENAME],
  }, dataset_dir)
  summary.seconds = time.time() - start
  return summary
