"""Visual Wake Words from COCO 2014: the person / not-person labelling and the tf.train.Example.

An image is labelled 1 when at least one of its annotations is of the foreground class (default
`person`) and covers more than `small_object_area_threshold` (default 0.005) of the image, where the
covered fraction is the annotation's `area` (its segmentation area, in pixels) divided by
height x width; otherwise 0. Only those annotations are kept as the image's objects.

Reference: Chowdhery et al., "Visual Wake Words Dataset", arXiv:1906.05721, 2019.
"""
import collections
import hashlib
import json
import os
import zipfile

from datasets import dataset_utils
from foundation.errors import UserError


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


def create_visual_wakeword_annotations(groundtruth, small_object_area_threshold,
                                       foreground_class_of_interest):
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
  import tensorflow.compat.v1 as tf
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
