"""Data-set names of the original that user code reaches for (issue 16): the converters' image
helpers (`ImageReader`, `ImageCoder`), the bounding-box XML functions, the Visual Wake Words
library's file-to-file steps, `imagenet.LOAD_READABLE_NAMES` and `visualwakewords.LABELS_FILENAME`.

Every test works on real files made here (JPEG/PNG by Pillow, XML, COCO-style JSON, zips served over
loopback HTTP) and real TensorFlow sessions.
"""
import io
import json
import os
import socket
import zipfile

import numpy as np
import pytest
from PIL import Image
import tensorflow.compat.v1 as tf

from dataset_test_utils import decode, read_examples
from datasets import build_imagenet_data
from datasets import dataset_factory
from datasets import dataset_utils
from datasets import download_and_convert_flowers
from datasets import download_and_convert_visualwakewords_lib as vww_lib
from datasets import imagenet
from datasets import process_bounding_boxes
from datasets import visualwakewords
from http_server import serve_directory
from foundation.errors import UserError


def _gradient(height, width):
  """A smooth RGB image (JPEG keeps it within a few levels)."""
  y, x = np.mgrid[0:height, 0:width]
  return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                   np.full_like(x, 128)], axis=-1).astype(np.uint8)


def _encode(pixels, fmt='JPEG', mode='RGB', **options):
  out = io.BytesIO()
  Image.fromarray(pixels, 'RGB').convert(mode).save(out, format=fmt, quality=95, **options)
  return out.getvalue()


def _assert_close(image, expected, mean_diff, max_diff):
  """JPEG decoders and encoders differ by a few levels, most where colours change fast."""
  diff = np.abs(image.astype(int) - expected.astype(int))
  assert diff.mean() <= mean_diff and diff.max() <= max_diff, (diff.mean(), diff.max())


# ---------------------------------------------------------------------------------------------
# ImageReader / ImageCoder
# ---------------------------------------------------------------------------------------------

def test_flowers_image_reader_in_the_callers_session():
  pixels = _gradient(12, 20)
  with tf.Graph().as_default():
    reader = download_and_convert_flowers.ImageReader()
    with tf.Session() as sess:
      assert reader.read_image_dims(sess, _encode(pixels)) == (12, 20)
      image = reader.decode_jpeg(sess, _encode(pixels))
      grey = reader.decode_jpeg(sess, _encode(pixels, mode='L'))
      with pytest.raises(tf.errors.InvalidArgumentError):
        reader.decode_jpeg(sess, b'not a jpeg')
  assert image.shape == (12, 20, 3) and image.dtype == np.uint8
  _assert_close(image, decode(_encode(pixels)), 4, 16)
  assert grey.shape == (12, 20, 3)
  assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()


def test_imagenet_image_coder_converts_png_and_cmyk_to_rgb_jpeg():
  pixels = _gradient(16, 24)
  coder = build_imagenet_data.ImageCoder()
  graph_before = tf.get_default_graph().get_operations()

  from_png = coder.png_to_jpeg(_encode(pixels, fmt='PNG'))
  from_cmyk = coder.cmyk_to_rgb(_encode(pixels, mode='CMYK'))
  for data in (from_png, from_cmyk):
    with Image.open(io.BytesIO(data)) as img:
      assert (img.format, img.mode, img.size) == ('JPEG', 'RGB', (24, 16))
  _assert_close(decode(from_png), pixels, 4, 16)
  _assert_close(decode(from_cmyk), pixels, 4, 16)

  decoded = coder.decode_jpeg(from_png)
  with tf.Graph().as_default():
    reader = download_and_convert_flowers.ImageReader()
    with tf.Session() as sess:
      np.testing.assert_array_equal(decoded, reader.decode_jpeg(sess, from_png))
  _assert_close(decoded, pixels, 4, 16)
  with pytest.raises(tf.errors.InvalidArgumentError):
    coder.png_to_jpeg(b'not an image')
  # The coder keeps its ops in a graph of its own.
  assert tf.get_default_graph().get_operations() == graph_before


# ---------------------------------------------------------------------------------------------
# Bounding-box XML
# ---------------------------------------------------------------------------------------------

_ANNOTATION = '''<annotation>
  <folder>n01440764</folder><filename>n01440764_18</filename>
  <source><database>ILSVRC_2012</database></source>
  <size><width>200</width><height>100</height><depth>3</depth></size>
  <object><name>n01440764</name><bndbox><xmin>20</xmin><ymin>10.0</ymin><xmax>120</xmax>
    <ymax>60</ymax></bndbox></object>
  <object><name>n01443537</name><bndbox><xmin>180</xmin><ymin>90</ymin><xmax>-20</xmax>
    <ymax>150.7</ymax></bndbox></object>
</annotation>
'''


def test_bounding_box_functions_read_an_annotation(tmp_path):
  xml_file = tmp_path / 'n01440764_18.xml'
  xml_file.write_text(_ANNOTATION)
  root = process_bounding_boxes.ElementTree.parse(str(xml_file)).getroot()
  assert process_bounding_boxes.FindNumberBoundingBoxes(root) == 2
  assert process_bounding_boxes.GetItem('filename', root) == 'n01440764_18'
  assert process_bounding_boxes.GetItem('name', root, 1) == 'n01443537'
  assert process_bounding_boxes.GetItem('xmin', root, 2) == -1
  assert process_bounding_boxes.GetInt('ymin', root) == 10
  assert process_bounding_boxes.GetInt('ymax', root, index=1) == 150
  assert process_bounding_boxes.GetInt('width', root) == 200

  first, second = process_bounding_boxes.ProcessXMLAnnotation(str(xml_file))
  assert isinstance(first, process_bounding_boxes.BoundingBox)
  assert (first.xmin, first.ymin, first.xmax, first.ymax) == (20, 10, 120, 60)
  assert (first.width, first.height) == (200, 100)
  assert (first.filename, first.label) == ('n01440764_18.JPEG', 'n01440764')
  assert (first.xmin_scaled, first.ymin_scaled, first.xmax_scaled, first.ymax_scaled) == (
      0.1, 0.1, 0.6, 0.6)
  # Swapped corners are put in order, then clipped to the image.
  assert second.label == 'n01443537'
  assert (second.xmin_scaled, second.xmax_scaled) == (0.0, 0.9)
  assert (second.ymin_scaled, second.ymax_scaled) == (0.9, 1.0)


def test_process_xml_annotation_of_a_broken_file_is_none(tmp_path, capsys):
  broken = tmp_path / 'broken.xml'
  broken.write_text('<annotation><size>')
  assert process_bounding_boxes.ProcessXMLAnnotation(str(broken)) is None
  assert 'broken.xml' in capsys.readouterr().err


def test_bounding_box_is_a_plain_record():
  box = process_bounding_boxes.BoundingBox()
  box.xmin, box.label = 3, 'n0'
  assert (box.xmin, box.label, box.width) == (3, 'n0', None)


# ---------------------------------------------------------------------------------------------
# Visual Wake Words library
# ---------------------------------------------------------------------------------------------

_CATEGORIES = [{'id': 1, 'name': 'person', 'supercategory': 'person'},
               {'id': 18, 'name': 'dog', 'supercategory': 'animal'}]


def _coco(split, seed_base):
  """(instances JSON, {member name: JPEG bytes}) of a three-image COCO split, 30x40 images."""
  images, files = [], {}
  for offset in range(3):
    image_id = seed_base + offset
    name = 'COCO_%s_%012d.jpg' % (split, image_id)
    images.append({'id': image_id, 'file_name': name, 'height': 30, 'width': 40})
    pixels = np.random.RandomState(image_id).randint(0, 256, (30, 40, 3)).astype(np.uint8)
    files['%s/%s' % (split, name)] = _encode(pixels)
  annotations = [
      # A person on a quarter of the first image; a tiny person on the second; a dog on the third.
      {'id': 1, 'image_id': seed_base, 'category_id': 1, 'area': 300.0, 'bbox': [4, 3, 20, 15]},
      {'id': 2, 'image_id': seed_base + 1, 'category_id': 1, 'area': 2.0, 'bbox': [0, 0, 2, 1]},
      {'id': 3, 'image_id': seed_base + 2, 'category_id': 18, 'area': 600.0,
       'bbox': [0, 0, 30, 20]},
  ]
  return {'images': images, 'annotations': annotations, 'categories': _CATEGORIES}, files


@pytest.fixture(scope='module')
def coco_zips(tmp_path_factory):
  """A folder holding the three COCO zips (two small splits); returns (folder, {split: files})."""
  folder = str(tmp_path_factory.mktemp('coco_zips'))
  train_json, train_files = _coco('train2014', 100)
  val_json, val_files = _coco('val2014', 200)
  for zip_name, files in (('train2014.zip', train_files), ('val2014.zip', val_files)):
    with zipfile.ZipFile(os.path.join(folder, zip_name), 'w') as archive:
      for name, data in files.items():
        archive.writestr(name, data)
  with zipfile.ZipFile(os.path.join(folder, 'annotations_trainval2014.zip'), 'w') as archive:
    archive.writestr('annotations/instances_train2014.json', json.dumps(train_json))
    archive.writestr('annotations/instances_val2014.json', json.dumps(val_json))
  return folder, {'train2014': train_files, 'val2014': val_files}


def test_vww_library_file_to_file_steps_after_downloading_coco(coco_zips, tmp_path):
  folder, files = coco_zips
  coco_dir = str(tmp_path / 'coco')
  with serve_directory(folder) as url:
    vww_lib.download_coco_dataset(coco_dir, dataset_url=url)
  for name in ('train2014.zip', 'val2014.zip', 'annotations_trainval2014.zip'):
    assert os.path.isfile(os.path.join(coco_dir, name))
  for member, data in files['train2014'].items():
    with open(os.path.join(coco_dir, member), 'rb') as f:
      assert f.read() == data
  # The zips are there now: a second call downloads nothing (no server is running any more).
  vww_lib.download_coco_dataset(coco_dir, dataset_url='http://127.0.0.1:9/nothing-here')

  labels_file = os.path.join(str(tmp_path), visualwakewords.LABELS_FILENAME)
  vww_lib.create_labels_file('person', labels_file)
  assert dataset_utils.read_label_file(str(tmp_path)) == {0: 'background', 1: 'person'}

  relabelled_file = str(tmp_path / 'instances_visualwakewords_train2014.json')
  vww_lib.create_visual_wakeword_annotations(
      os.path.join(coco_dir, 'annotations', 'instances_train2014.json'), relabelled_file, 0.005,
      'person')
  with open(relabelled_file) as f:
    relabelled = json.load(f)
  assert {k: v['label'] for k, v in relabelled['annotations'].items()} == {
      '100': 1, '101': 0, '102': 0}
  assert list(relabelled['categories']) == ['1']
  assert [o['id'] for o in relabelled['annotations']['100']['objects']] == [1]

  output_path = str(tmp_path / 'train.record')
  vww_lib.create_tf_record_for_visualwakewords_dataset(
      relabelled_file, os.path.join(coco_dir, 'train2014'), output_path, 2)
  shard_0 = read_examples(output_path + '-00000-of-00002')
  shard_1 = read_examples(output_path + '-00001-of-00002')
  # Image i goes to shard i mod 2.
  assert [e['image/source_id'] for e in shard_0] == [[b'100'], [b'102']]
  assert [e['image/source_id'] for e in shard_1] == [[b'101']]
  first = shard_0[0]
  assert first['image/encoded'] == [files['train2014']['train2014/COCO_train2014_000000000100.jpg']]
  assert first['image/class/label'] == [1]
  np.testing.assert_allclose(first['image/object/bbox/xmin'], [0.1])
  np.testing.assert_allclose(first['image/object/bbox/ymax'], [0.6])
  assert shard_1[0]['image/class/label'] == [0] and shard_1[0]['image/object/bbox/xmin'] == []


def test_vww_annotations_with_another_foreground_class(coco_zips, tmp_path):
  folder, _ = coco_zips
  with zipfile.ZipFile(os.path.join(folder, 'annotations_trainval2014.zip')) as archive:
    archive.extract('annotations/instances_val2014.json', str(tmp_path))
  source = str(tmp_path / 'annotations' / 'instances_val2014.json')
  out = str(tmp_path / 'dogs.json')
  vww_lib.create_visual_wakeword_annotations(source, out, 0.005, 'dog')
  with open(out) as f:
    labels = {k: v['label'] for k, v in json.load(f)['annotations'].items()}
  assert labels == {'200': 0, '201': 0, '202': 1}
  with pytest.raises(UserError, match='dog, person'):
    vww_lib.create_visual_wakeword_annotations(source, out, 0.005, 'cat')


def test_vww_tf_record_with_a_missing_image_leaves_no_shard(coco_zips, tmp_path):
  folder, _ = coco_zips
  with zipfile.ZipFile(os.path.join(folder, 'annotations_trainval2014.zip')) as archive:
    archive.extract('annotations/instances_val2014.json', str(tmp_path))
  relabelled_file = str(tmp_path / 'relabelled.json')
  vww_lib.create_visual_wakeword_annotations(
      str(tmp_path / 'annotations' / 'instances_val2014.json'), relabelled_file, 0.005, 'person')
  empty_dir = tmp_path / 'no_images'
  empty_dir.mkdir()
  with pytest.raises(tf.errors.NotFoundError):
    vww_lib.create_tf_record_for_visualwakewords_dataset(
        relabelled_file, str(empty_dir), str(tmp_path / 'val.record'), 1)
  assert not [n for n in os.listdir(str(tmp_path)) if n.startswith('val.record')]


def test_visualwakewords_labels_filename_is_what_get_split_reads(tmp_path):
  assert visualwakewords.LABELS_FILENAME == 'labels.txt'
  vww_lib.create_labels_file('dog', str(tmp_path / visualwakewords.LABELS_FILENAME))
  dataset = visualwakewords.get_split('train', str(tmp_path), require_files=False)
  assert dataset.labels_to_names == {0: 'background', 1: 'dog'}


# ---------------------------------------------------------------------------------------------
# imagenet.LOAD_READABLE_NAMES
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def no_network(monkeypatch):
  """Any attempt to open a network connection fails the test."""
  def refuse(*args, **kwargs):
    raise AssertionError('network access attempted: %r' % (args,))
  monkeypatch.setattr(socket.socket, 'connect', refuse)
  monkeypatch.setattr(socket, 'create_connection', refuse)


def test_imagenet_class_count_needs_no_names_and_no_network(tmp_path, no_network, monkeypatch):
  assert imagenet.LOAD_READABLE_NAMES is True
  dataset = dataset_factory.get_dataset('imagenet', 'train', str(tmp_path), require_files=False)
  assert dataset.num_classes == 1001 and dataset.labels_to_names is None

  dataset_utils.write_label_file({0: 'background', 1: 'tench'}, str(tmp_path))
  dataset = imagenet.get_split('validation', str(tmp_path), require_files=False)
  assert dataset.labels_to_names == {0: 'background', 1: 'tench'}

  monkeypatch.setattr(imagenet, 'LOAD_READABLE_NAMES', False)
  # With names off, not even a broken labels file is read.
  (tmp_path / 'labels.txt').write_text('no colon on this line\n')
  dataset = imagenet.get_split('validation', str(tmp_path), require_files=False)
  assert dataset.num_classes == 1001 and dataset.labels_to_names is None
  monkeypatch.setattr(imagenet, 'LOAD_READABLE_NAMES', True)
  with pytest.raises(ValueError):
    imagenet.get_split('validation', str(tmp_path), require_files=False)
