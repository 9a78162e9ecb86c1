"""Builds the Visual Wake Words data set (person / not person) from COCO 2014 as TFRecord shards.

    python download_and_convert_data.py --dataset_name=visualwakewords --dataset_dir=/tmp/vww

Sources (each a URL or a local path): `--coco_train_url` (train2014.zip), `--coco_validation_url`
(val2014.zip) and `--coco_annotations_url` (annotations_trainval2014.zip); or `--dataset_url`, a
base URL or folder holding those three files under their COCO names. Downloads go to
`<dataset_dir>/coco_dataset/` and are kept there (about 19 GB that would otherwise be downloaded
again); a file already there is reused, since a download only gets its final name once complete.

Nothing is extracted: the annotations JSON and the images are read straight out of the zips, each
image checked against its zip CRC, its header read by Pillow, and decoded by TensorFlow (the
reader's own decoder, `converter_lib.DecodeCheck`) before it is written; an image that is missing
or does not decode is skipped, named in a warning and counted in the summary.

Output in dataset_dir: `labels.txt` (`0:background`, `1:<foreground class>`),
`instances_visualwakewords_train2014.json` / `..._val2014.json` (the relabelled annotations),
`train.record-%05d-of-00100` and `val.record-%05d-of-00010`; image i of a split goes to shard
i mod num_shards. `datasets/visualwakewords.py` reads these names for splits `train` and
`validation`.
"""
import contextlib
import io
import json
import os
import time
import zipfile

from absl import logging

from datasets import convert_image_folder
from datasets import converter_lib
from datasets import dataset_utils
from datasets import download_and_convert_visualwakewords_lib as vww_lib
from foundation import fileio
from foundation.errors import UserError

_COCO_DIRNAME = 'coco_dataset'
_TRAIN_SHARDS = 100
_VALIDATION_SHARDS = 10

# (split as the reader names it, COCO split, record file prefix).
_SPLITS = (('train', 'train2014', 'train'), ('validation', 'val2014', 'val'))

# Images handed to a worker at a time.
_CHUNK = 64

# basename -> member name of each images zip, built before the pool forks so workers inherit it.
_MEMBER_INDEX = {}

# (process id, zip path) -> open ZipFile: each worker reads the zip's directory (80,000 entries for
# train2014.zip) once, not once per chunk, and never shares a file offset with another process.
_OPEN_ZIPS = {}


def _open_zip(zip_path):
  key = (os.getpid(), zip_path)
  if key not in _OPEN_ZIPS:
    _OPEN_ZIPS[key] = zipfile.ZipFile(zip_path)
  return _OPEN_ZIPS[key]


def _record_base(dataset_dir, prefix):
  return os.path.join(dataset_dir, '%s.record' % prefix)


def _output_files(dataset_dir, train_shards, validation_shards):
  files = []
  for (_, _, prefix), num_shards in zip(_SPLITS, (train_shards, validation_shards)):
    files += ['%s-%05d-of-%05d' % (_record_base(dataset_dir, prefix), i, num_shards)
              for i in range(num_shards)]
  return files


def _dataset_exists(dataset_dir, train_shards, validation_shards):
  return all(os.path.isfile(f) for f in _output_files(dataset_dir, train_shards, validation_shards)
             ) and dataset_utils.has_labels(dataset_dir)


def _fetch(source, coco_dir):
  """Local path of a COCO zip: a local file in place, else a complete earlier download, else a new
  download into coco_dir."""
  if fileio.is_url(source) and not source.startswith('file:'):
    kept = os.path.join(coco_dir, os.path.basename(source.split('?')[0]))
    if os.path.isfile(kept):
      return kept
  path, _ = fileio.fetch(source, coco_dir)
  if not zipfile.is_zipfile(path):
    raise UserError('%s (from %s) is not a zip archive: incomplete download or wrong file?%s'
                    % (path, source, ' Delete it to download it again.'
                       if os.path.dirname(path) == coco_dir else ''))
  return path


def _index_members(zip_path):
  try:
    with zipfile.ZipFile(zip_path) as archive:
      return {os.path.basename(name): name for name in archive.namelist()
              if not name.endswith('/')}
  except (zipfile.BadZipFile, OSError) as e:
    raise UserError('%s is corrupt or truncated: %s' % (zip_path, e)) from None


def _read_images(task):
  """Worker: `[(index, bytes or None, reason, clean_scan)]` for a chunk of `(index, file_name)` of
  one zip.

  Each image is read (the zip checks its CRC, which catches bytes damaged in the archive) and its
  header parsed; a JPEG's structure is checked (`convert_image_folder.check_jpeg_structure`: a cut
  file is caught), any other format is decoded. `clean_scan` is
  `converter_lib.is_single_clean_scan` of the bytes, for the parent's `DecodeCheck`.
  """
  from PIL import Image
  zip_path, items = task
  index = _MEMBER_INDEX.get(zip_path) or _index_members(zip_path)
  results = []
  archive = _open_zip(zip_path)
  for i, file_name in items:
    member = index.get(os.path.basename(file_name))
    if member is None:
      results.append((i, None, 'not in %s' % os.path.basename(zip_path), False))
      continue
    try:
      data = archive.read(member)
      with Image.open(io.BytesIO(data)) as img:
        if img.format == 'JPEG':
          convert_image_folder.check_jpeg_structure(data)  # a cut file fails, without a decode
        else:
          img.load()
    except Exception as e:  # zip CRC errors, Pillow decode errors of every kind
      results.append((i, None, '%s: %s' % (e.__class__.__name__, e), False))
      continue
    results.append((i, data, None, converter_lib.is_single_clean_scan(data)))
  return results


def _write_split(split_name, relabelled, images_zip, output_base, num_shards, num_workers):
  """Writes one split's shards; returns `(written, skipped[(file, reason)])`."""
  images = relabelled['images']
  annotations = relabelled['annotations']
  _MEMBER_INDEX[images_zip] = _index_members(images_zip)
  items = [(i, image['file_name']) for i, image in enumerate(images)]
  chunks = [(images_zip, items[i:i + _CHUNK]) for i in range(0, len(items), _CHUNK)]
  progress = converter_lib.ProgressLine('Converting visualwakewords %s' % split_name, len(images))
  skipped = []
  written = 0
  with contextlib.ExitStack() as stack:
    writers = dataset_utils.open_sharded_output_tfrecords(stack, output_base, num_shards)
    checker = stack.enter_context(converter_lib.DecodeCheck())
    for results in converter_lib.parallel_imap(_read_images, chunks, num_workers):
      readable = [result for result in results if result[1] is not None]
      # Written only once TensorFlow's decoder has read them (the chunk's images in parallel).
      reasons = iter(checker.check([result[1] for result in readable],
                                   [result[3] for result in readable]))
      for i, data, reason, _ in results:
        image = images[i]
        reason = reason or next(reasons)
        if reason:
          skipped.append((image['file_name'], reason))
          continue
        example = vww_lib.create_tf_example(image, annotations[image['id']], data)
        writers[i % num_shards].write(example.SerializeToString())
        written += 1
      progress.add(len(results))
  progress.finish()
  return written, skipped


def run(dataset_dir, dataset_url=None, coco_train_url=None, coco_validation_url=None,
        coco_annotations_url=None, coco_dirname=_COCO_DIRNAME, small_object_area_threshold=0.005,
        foreground_class_of_interest='person', num_workers=None, train_shards=_TRAIN_SHARDS,
        validation_shards=_VALIDATION_SHARDS):
  """Downloads (or takes local copies of) COCO 2014 and writes the Visual Wake Words TFRecords.

  Args:
    dataset_dir: output folder (created if needed).
    dataset_url: base URL or folder holding train2014.zip, val2014.zip and
      annotations_trainval2014.zip (default: images.cocodataset.org).
    coco_train_url, coco_validation_url, coco_annotations_url: URL or path of one zip each,
      overriding dataset_url.
    coco_dirname: sub-folder of dataset_dir receiving the downloads.
    small_object_area_threshold: foreground objects covering at most this fraction of the image do
      not count.
    foreground_class_of_interest: the COCO category whose presence makes label 1.
    num_workers: processes reading and checking images (default: one per CPU).
    train_shards, validation_shards: output files per split (the original's 100 and 10).

  Returns:
    A `convert_image_folder.ConversionSummary`.
  """
  if not 0.0 <= small_object_area_threshold < 1.0:
    raise UserError('--small_object_area_threshold must be in [0, 1), got %g'
                    % small_object_area_threshold)
  summary = convert_image_folder.ConversionSummary('visualwakewords', dataset_dir)
  os.makedirs(dataset_dir, exist_ok=True)
  fileio.remove_stale_temps(dataset_dir)
  if _dataset_exists(dataset_dir, train_shards, validation_shards):
    summary.already_complete = True
    return summary
  converter_lib.check_num_workers(num_workers)

  start = time.time()
  coco_dir = os.path.join(dataset_dir, coco_dirname)
  os.makedirs(coco_dir, exist_ok=True)
  fileio.remove_stale_temps(coco_dir)
  sources = vww_lib.coco_sources(dataset_url, coco_train_url, coco_validation_url,
                                 coco_annotations_url)
  paths = {key: _fetch(source, coco_dir) for key, source in sources.items()}

  relabelled = {}
  for _, coco_split, _ in _SPLITS:
    groundtruth = vww_lib.load_json_from_zip(paths['annotations'],
                                             'instances_%s.json' % coco_split)
    relabelled[coco_split] = vww_lib.relabel_annotations(
        groundtruth, small_object_area_threshold, foreground_class_of_interest)
    del groundtruth
    fileio.write_text_atomically(
        os.path.join(dataset_dir, 'instances_visualwakewords_%s.json' % coco_split),
        json.dumps(relabelled[coco_split]))

  for (split_name, coco_split, prefix), num_shards in zip(_SPLITS,
                                                          (train_shards, validation_shards)):
    written, skipped = _write_split(split_name, relabelled[coco_split], paths[coco_split],
                                    _record_base(dataset_dir, prefix), num_shards, num_workers)
    summary.split_sizes[split_name] = written
    summary.skipped += skipped
    archive = _OPEN_ZIPS.pop((os.getpid(), paths[coco_split]), None)  # the in-process reader's
    if archive:
      archive.close()
  convert_image_folder.warn_skipped(summary.skipped)
  summary.num_classes = 2
  vww_lib.create_labels_file(foreground_class_of_interest,
                             os.path.join(dataset_dir, dataset_utils.LABELS_FILENAME))
  summary.seconds = time.time() - start
  if os.listdir(coco_dir):
    logging.info('COCO archives kept in %s (delete them to reclaim the space)', coco_dir)
  else:  # every source was a local file
    os.rmdir(coco_dir)
  return summary
