"""Visual Wake Words from COCO 2014: the person / not-person labelling and the tf.train.Example.

An image is labelled 1 when at least one of its annotations is of the foreground class (default
`person`) and covers more than `small_object_area_threshold` (default 0.005) of the image, where the
covered fraction is the annotation's `area` (its segmentation area, in pixels) divided by
height x width; otherwise 0. Only those annotations are kept as the image's objects.

The original's file-to-file steps, for code that runs them itself (the converter,
`download_and_convert_visualwakewords.run`, reads the zips directly instead):
  `download_coco_dataset(dataset_dir, dataset_url=None)`: downloads train2014.zip, val2014.zip and
    annotations_trainval2014.zip (from images.cocodataset.org, or from `dataset_url`, a base URL or
    folder holding them) into dataset_dir and extracts them there; a zip already in dataset_dir is
    not downloaded again, and files already extracted are kept (`coco_sources` says where each zip
    comes from, for this function and the converter alike);
  `create_labels_file(foreground_class_of_interest, visualwakewords_labels_file)`: writes the
    labels file (`0:background`, `1:<class>`) at that path;
  `create_visual_wakeword_annotations(annotations_file, visualwakewords_annotations_file,
    small_object_area_threshold, foreground_class_of_interest)`: reads a COCO instances JSON and
    writes the relabelled JSON (`relabel_annotations` of it);
  `create_tf_record_for_visualwakewords_dataset(annotations_file, image_dir, output_path,
    num_shards)`: writes the TFRecords `<output_path>-%05d-of-%05d` of a relabelled JSON and the
    COCO images in image_dir, image i to shard i mod num_shards.

Reference: Chowdhery et al., "Visual Wake Words Dataset", arXiv:1906.05721, 2019.
"""
import collections
import contextlib
import hashlib
import json
import os
import zipfile

import tensorflow.compat.v1 as tf

from datasets import converter_lib
from datasets import dataset_utils
from foundation import fileio
from foundation.errors import UserError

COCO_TRAIN_URL = 'http://images.cocodataset.org/zips/train2014.zip'
COCO_VALIDATION_URL = 'http://images.cocodataset.org/zips/val2014.zip'
COCO_ANNOTATIONS_URL = 'http://images.cocodataset.org/annotations/annotations_trainval2014.zip'


def coco_sources(dataset_url=None, coco_train_url=None, coco_validation_url=None,
                 coco_annotations_url=None):
  """{'train2014': ..., 'val2014': ..., 'annotations': ...} URLs or paths of the three COCO zips.

  A zip's own argument comes first; else its COCO file name under `dataset_url` (a base URL or a
  folder); else images.cocodataset.org.
  """
  defaults = {'train2014': COCO_TRAIN_URL, 'val2014': COCO_VALIDATION_URL,
              'annotations': COCO_ANNOTATIONS_URL}
  explicit = {'train2014': coco_train_url, 'val2014': coco_validation_url,
              'annotations': coco_annotations_url}
  sources = {}
  for key, default in defaults.items():
    if explicit[key]:
      sources[key] = explicit[key]
    elif dataset_url:
      sources[key] = converter_lib.join_source(dataset_url, os.path.basename(default))
    else:
      sources[key] = default
  return sources


def download_coco_dataset(dataset_dir, dataset_url=None):
  """Downloads the three COCO 2014 zips into dataset_dir and extracts them there.

  Args:
    dataset_dir: the folder receiving the zips and their contents (created if needed).
    dataset_url: base URL or local folder holding the zips under their COCO names (default:
      images.cocodataset.org); local zips are extracted where they are, not copied.
  """
  os.makedirs(dataset_dir, exist_ok=True)
  for source in coco_sources(dataset_url).values():
    dataset_utils.download_and_uncompress_zipfile(source, dataset_dir)


def create_labels_file(foreground_class_of_interest, visualwakewords_labels_file):
  """Writes `0:background` and `1:<foreground_class_of_interest>` to the file at that path."""
  folder, filename = os.path.split(visualwakewords_labels_file)
  dataset_utils.write_label_file({0: 'background', 1: foreground_class_of_interest}, folder,
                                 filename)


def find_zip_member(zip_path, basename):
  """The name of the member of `zip_path` whose base name is `basename` (e.g. the annotations JSON
  inside its `annotations/` folder), or a UserError."""
  with zipfile.ZipFile(zip_path) as archive:
    for name in archive.namelist():
      if os.path.basename(name) == basename:
        return name
  raise UserError('%s has no %s: is it the COCO 2014 annotations archive?' % (zip_path, basename))


def load_json_from_zip(zip_path, basename):
  """Parses the JSON member `basename` of a zip archive."""
  member = find_zip_member(zip_path, basename)
  try:
    with zipfile.ZipFile(zip_path) as archive, archive.open(member) as f:
      return json.load(f)
  except (zipfile.BadZipFile, ValueError, OSError) as e:
    raise UserError('%s in %s is damaged: %s' % (member, zip_path, e)) from None


def foreground_category_id(groundtruth, foreground_class_of_interest):
  """The COCO category id named `foreground_class_of_interest`, or a UserError listing the names."""
  names = {}
  for category in groundtruth.get('categories', []):
    names[category['name']] = category['id']
  if foreground_class_of_interest not in names:
    raise UserError('--foreground_class_of_interest=%s is not a category of these annotations; '
                    'they have: %s' % (foreground_class_of_interest, ', '.join(sorted(names))))
  return names[foreground_class_of_interest]


def _filter_annotations(annotations, image, small_object_area_threshold, foreground_id):
  """Keeps the foreground annotations above the area threshold; labels the image by them."""
  image_area = float(image['height'] * image['width'])
  objects = [a for a in annotations
             if int(a['category_id']) == foreground_id and image_area > 0
             and a['area'] / image_area > small_object_area_threshold]
  return {'objects': objects, 'label': 1 if objects else 0}


def relabel_annotations(groundtruth, small_object_area_threshold, foreground_class_of_interest):
  """Relabels parsed COCO instances JSON for Visual Wake Words.

  Args:
    groundtruth: the parsed `instances_<split>2014.json` dict (images, annotations, categories).
    small_object_area_threshold: objects covering at most this fraction of the image are ignored.
    foreground_class_of_interest: the COCO category name whose presence makes label 1.

  Returns:
    {'images': the COCO image entries, 'annotations': {image id: {'objects': [...], 'label': 0|1}},
     'categories': {foreground id: its COCO category}}.
  """
  foreground_id = foreground_category_id(groundtruth, foreground_class_of_interest)
  by_image = collections.defaultdict(list)
  for annotation in groundtruth.get('annotations', []):
    by_image[annotation['image_id']].append(annotation)
  images = groundtruth['images']
  filtered = {image['id']: _filter_annotations(by_image[image['id']], image,
                                               small_object_area_threshold, foreground_id)
              for image in images}
  categories = {c['id']: c for c in groundtruth['categories'] if c['id'] == foreground_id}
  return {'images': images, 'annotations': filtered, 'categories': categories}


def create_visual_wakeword_annotations(annotations_file, visualwakewords_annotations_file,
                                       small_object_area_threshold, foreground_class_of_interest):
  """Reads the COCO instances JSON `annotations_file`, writes its relabelling as JSON.

  The output is `relabel_annotations` of the input, so its image ids become JSON object keys
  (strings), as in the original's files.

  Raises:
    UserError: `foreground_class_of_interest` is not a category of the file.
  """
  with tf.io.gfile.GFile(annotations_file, 'r') as f:
    groundtruth = json.load(f)
  relabelled = relabel_annotations(groundtruth, small_object_area_threshold,
                                   foreground_class_of_interest)
  fileio.write_text_atomically(visualwakewords_annotations_file, json.dumps(relabelled))


def create_tf_record_for_visualwakewords_dataset(annotations_file, image_dir, output_path,
                                                 num_shards):
  """Writes the Visual Wake Words TFRecords of a relabelled JSON and the images in image_dir.

  Args:
    annotations_file: a file written by `create_visual_wakeword_annotations`.
    image_dir: the folder of the COCO images the JSON names (`file_name`).
    output_path: shard path prefix; shards are `<output_path>-%05d-of-%05d`.
    num_shards: number of shards; image i of the JSON goes to shard i mod num_shards.

  Each record keeps the image file's bytes (see `create_tf_example`). The shards are complete
  files or, if an image cannot be read, none is left behind.
  """
  with tf.io.gfile.GFile(annotations_file, 'r') as f:
    relabelled = json.load(f)
  annotations = {int(image_id): value for image_id, value in relabelled['annotations'].items()}
  with contextlib.ExitStack() as stack:
    writers = dataset_utils.open_sharded_output_tfrecords(stack, output_path, num_shards)
    for index, image in enumerate(relabelled['images']):
      with tf.io.gfile.GFile(os.path.join(image_dir, image['file_name']), 'rb') as f:
        encoded_jpg = f.read()
      example = create_tf_example(image, annotations[image['id']], encoded_jpg)
      writers[index % num_shards].write(example.SerializeToString())


def normalized_boxes(objects, height, width):
  """`(xmin, xmax, ymin, ymax, area)` lists of the objects' COCO [x, y, w, h] pixel boxes as
  fractions of the image, clipped to it; boxes with no size inside the image are dropped."""
  xmin, xmax, ymin, ymax, area = [], [], [], [], []
  for obj in objects:
    x, y, w, h = (float(v) for v in obj['bbox'])
    left, right = max(x, 0.0) / width, min(x + w, width) / width
    top, bottom = max(y, 0.0) / height, min(y + h, height) / height
    if right <= left or bottom <= top:
      continue
    xmin.append(left)
    xmax.append(right)
    ymin.append(top)
    ymax.append(bottom)
    area.append(float(obj['area']))
  return xmin, xmax, ymin, ymax, area


def create_tf_example(image, annotations, encoded_jpg):
  """The tf.train.Example of one COCO image and its filtered annotations.

  The image is stored as the original JPEG bytes. Besides the features of the original converter,
  every box carries `image/object/class/label` (1, the foreground class), which the reader expects.
  """
  height, width = int(image['height']), int(image['width'])
  xmin, xmax, ymin, ymax, area = normalized_boxes(annotations['objects'], height, width)
  feature = {
      'image/height': dataset_utils.int64_feature(height),
      'image/width': dataset_utils.int64_feature(width),
      'image/filename': dataset_utils.bytes_feature(image['file_name'].encode('utf8')),
      'image/source_id': dataset_utils.bytes_feature(str(image['id']).encode('utf8')),
      'image/key/sha256': dataset_utils.bytes_feature(
          hashlib.sha256(encoded_jpg).hexdigest().encode('utf8')),
      'image/encoded': dataset_utils.bytes_feature(encoded_jpg),
      'image/format': dataset_utils.bytes_feature(b'jpeg'),
      'image/class/label': dataset_utils.int64_feature(int(annotations['label'])),
      'image/object/bbox/xmin': dataset_utils.float_list_feature(xmin),
      'image/object/bbox/xmax': dataset_utils.float_list_feature(xmax),
      'image/object/bbox/ymin': dataset_utils.float_list_feature(ymin),
      'image/object/bbox/ymax': dataset_utils.float_list_feature(ymax),
      'image/object/area': dataset_utils.float_list_feature(area),
      'image/object/class/label': dataset_utils.int64_feature([1] * len(xmin)),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature))
