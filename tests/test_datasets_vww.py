"""Visual Wake Words: a tiny COCO 2014 (zips of JPEGs and instances JSON) served over loopback HTTP,
converted, and read back record by record and through the slim descriptor."""
import io
import json
import os
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from dataset_test_utils import damage_scan, decode, provide_all, read_examples, tf_decodes
from datasets import dataset_utils
from datasets import download_and_convert_visualwakewords as vww_converter
from datasets import download_and_convert_visualwakewords_lib as vww_lib
from datasets import visualwakewords
from http_server import serve_directory
from foundation.errors import UserError

_W, _H = 40, 30
_CATEGORIES = [{'id': 1, 'name': 'person', 'supercategory': 'person'},
               {'id': 18, 'name': 'dog', 'supercategory': 'animal'}]


def _jpeg(seed, mode='RGB'):
  rng = np.random.RandomState(seed)
  pixels = rng.randint(0, 256, size=(_H, _W, 3)).astype(np.uint8)
  img = Image.fromarray(pixels, 'RGB').convert(mode)
  out = io.BytesIO()
  img.save(out, format='JPEG', quality=90)
  return out.getvalue()


def _ann(ann_id, image_id, category, area, bbox):
  return {'id': ann_id, 'image_id': image_id, 'category_id': category, 'area': area,
          'bbox': bbox, 'iscrowd': 0}


def _coco_split(split, specs):
  """specs: [(image id, jpeg bytes or None (absent from the zip), [annotations])]."""
  images, annotations, files = [], [], {}
  for image_id, data, anns in specs:
    name = 'COCO_%s_%012d.jpg' % (split, image_id)
    images.append({'id': image_id, 'file_name': name, 'height': _H, 'width': _W})
    annotations += anns
    if data is not None:
      files['%s/%s' % (split, name)] = data
  return {'images': images, 'annotations': annotations, 'categories': _CATEGORIES}, files


def _build_coco(folder):
  image_area = _W * _H
  good = _jpeg(1)
  train_specs = [
      (11, good, [_ann(1, 11, 1, 0.25 * image_area, [4, 3, 20, 15])]),          # person: 1
      (12, _jpeg(2), [_ann(2, 12, 1, 0.004 * image_area, [1, 1, 2, 2])]),       # too small: 0
      (13, _jpeg(3, 'L'), [_ann(3, 13, 18, 0.5 * image_area, [0, 0, 30, 20])]),  # grey dog: 0
      (14, _jpeg(4), []),                                                       # nothing: 0
      (15, good[:len(good) // 2], [_ann(4, 15, 1, 0.3 * image_area, [0, 0, 10, 10])]),  # corrupt
      (16, _jpeg(6), [_ann(5, 16, 1, 0.2 * image_area, [30, 20, 20, 20]),       # clipped box
                      _ann(6, 16, 1, 0.001 * image_area, [0, 0, 1, 1])]),       # dropped
      (17, None, []),                                                           # missing file
  ]
  val_specs = [
      (21, _jpeg(7, 'L'), [_ann(7, 21, 1, 0.1 * image_area, [10, 5, 10, 10])]),  # grey person: 1
      (22, _jpeg(8), []),
  ]
  train_json, train_files = _coco_split('train2014', train_specs)
  val_json, val_files = _coco_split('val2014', val_specs)
  for zip_name, files in (('train2014.zip', train_files), ('val2014.zip', val_files)):
    with zipfile.ZipFile(os.path.join(folder, zip_name), 'w') as archive:
      for name, data in files.items():
        archive.writestr(name, data)
  with zipfile.ZipFile(os.path.join(folder, 'annotations_trainval2014.zip'), 'w',
                       zipfile.ZIP_DEFLATED) as archive:
    archive.writestr('annotations/instances_train2014.json', json.dumps(train_json))
    archive.writestr('annotations/instances_val2014.json', json.dumps(val_json))
  return {'train2014': (train_json, train_files), 'val2014': (val_json, val_files)}


@pytest.fixture(scope='module')
def coco_source(tmp_path_factory):
  folder = str(tmp_path_factory.mktemp('coco'))
  return folder, _build_coco(folder)


@pytest.fixture(scope='module')
def vww_converted(coco_source, tmp_path_factory):
  folder, coco = coco_source
  out = str(tmp_path_factory.mktemp('vww_out'))
  chunk = vww_converter._CHUNK
  vww_converter._CHUNK = 2  # several chunks, so both worker processes get work
  try:
    with serve_directory(folder) as url:
      summary = vww_converter.run(
          out, coco_train_url=url + '/train2014.zip', coco_validation_url=url + '/val2014.zip',
          coco_annotations_url=url + '/annotations_trainval2014.zip', num_workers=2,
          train_shards=3, validation_shards=2)
  finally:
    vww_converter._CHUNK = chunk
  return out, coco, summary


_EXPECTED_LABELS = {11: 1, 12: 0, 13: 0, 14: 0, 16: 1, 21: 1, 22: 0}


def test_vww_records_hold_the_original_jpegs_labels_and_boxes(vww_converted):
  out, coco, summary = vww_converted
  assert summary.split_sizes == {'train': 5, 'validation': 2}
  skipped = dict(summary.skipped)
  assert sorted(skipped) == ['COCO_train2014_000000000015.jpg', 'COCO_train2014_000000000017.jpg']
  assert 'not in train2014.zip' in skipped['COCO_train2014_000000000017.jpg']
  assert 'skipped (unreadable) files: 2' in str(summary)
  for coco_split, prefix, shards in (('train2014', 'train', 3), ('val2014', 'val', 2)):
    coco_json, files = coco[coco_split]
    for shard in range(shards):
      examples = read_examples(
          os.path.join(out, '%s.record-%05d-of-%05d' % (prefix, shard, shards)))
      # Image i of the split goes to shard i mod num_shards, in order (skipped ones leave a gap).
      expected = [image for i, image in enumerate(coco_json['images'])
                  if i % shards == shard and image['id'] not in (15, 17)]
      assert [e['image/source_id'][0] for e in examples] == [
          str(image['id']).encode() for image in expected]
      for example, image in zip(examples, expected):
        assert example['image/encoded'][0] == files['%s/%s' % (coco_split, image['file_name'])]
        assert example['image/format'] == [b'jpeg']
        assert example['image/filename'] == [image['file_name'].encode()]
        assert example['image/class/label'] == [_EXPECTED_LABELS[image['id']]]
        assert (example['image/height'], example['image/width']) == ([_H], [_W])
        boxes = list(zip(example['image/object/bbox/xmin'], example['image/object/bbox/ymin'],
                         example['image/object/bbox/xmax'], example['image/object/bbox/ymax']))
        if image['id'] == 11:
          np.testing.assert_allclose(boxes, [(4 / 40, 3 / 30, 24 / 40, 18 / 30)], rtol=1e-6)
        elif image['id'] == 16:  # the big box is clipped to the image, the tiny one filtered
          np.testing.assert_allclose(boxes, [(30 / 40, 20 / 30, 1.0, 1.0)], rtol=1e-6)
        elif image['id'] == 13:  # a dog is not the foreground class
          assert boxes == []
        assert example['image/object/class/label'] == [1] * len(boxes)
  assert dataset_utils.read_label_file(out) == {0: 'background', 1: 'person'}
  with open(os.path.join(out, 'instances_visualwakewords_val2014.json')) as f:
    relabelled = json.load(f)
  assert {k: v['label'] for k, v in relabelled['annotations'].items()} == {'21': 1, '22': 0}
  # The COCO downloads are kept for the next run.
  assert sorted(os.listdir(os.path.join(out, 'coco_dataset'))) == [
      'annotations_trainval2014.zip', 'train2014.zip', 'val2014.zip']


def test_vww_descriptor_reads_val_records_grey_as_three_channels(vww_converted):
  out, coco, _ = vww_converted
  dataset = visualwakewords.get_split('validation', out)
  assert dataset.data_sources.endswith('val.record-*')
  assert dataset.num_classes == 2 and dataset.num_samples == 40504
  results = provide_all(lambda: visualwakewords.get_split('validation', out),
                        ['image', 'label', 'object/bbox', 'object/label'], 2)
  # The file order of a glob is the file system's: pick image 21, the only person of the split.
  assert sorted(r[1] for r in results) == [0, 1]
  image, label, bbox, object_label = [r for r in results if r[1] == 1][0]
  grey = decode(coco['val2014'][1]['val2014/COCO_val2014_000000000021.jpg'])
  assert image.shape == (_H, _W, 3)
  # Grey becomes three equal channels; TF's fast IDCT differs from Pillow's by a few levels.
  np.testing.assert_array_equal(image[:, :, 0], image[:, :, 1])
  np.testing.assert_array_equal(image[:, :, 0], image[:, :, 2])
  assert np.abs(image[:, :, 0].astype(int) - grey.astype(int)).max() <= 4
  assert label == 1
  np.testing.assert_allclose(bbox, [[5 / 30, 10 / 40, 15 / 30, 20 / 40]], rtol=1e-6)
  assert list(object_label) == [1]


def test_vww_descriptor_still_accepts_split_named_validation_files(vww_converted, tmp_path):
  out, _, _ = vww_converted
  for name in os.listdir(out):
    if name.startswith('val.record-'):
      shutil.copy(os.path.join(out, name), str(tmp_path / name.replace('val.', 'validation.', 1)))
  dataset = visualwakewords.get_split('validation', str(tmp_path))
  assert dataset.data_sources == os.path.join(str(tmp_path), 'validation.record-*')
  with pytest.raises(dataset_utils.DatasetError, match='train.record-'):
    visualwakewords.get_split('train', str(tmp_path))


def test_vww_is_a_no_op_on_a_complete_folder(vww_converted):
  out, _, _ = vww_converted
  summary = vww_converter.run(out, dataset_url='/nonexistent', train_shards=3,
                              validation_shards=2)
  assert summary.already_complete


def test_vww_truncated_download_is_an_error(coco_source, tmp_path):
  folder, _ = coco_source
  size = os.path.getsize(os.path.join(folder, 'val2014.zip'))
  with serve_directory(folder, truncate={'val2014.zip': size - 10}) as url:
    with pytest.raises(UserError, match='val2014.zip'):
      vww_converter.run(str(tmp_path), dataset_url=url, train_shards=1, validation_shards=1,
                        num_workers=1)
  assert not [n for n in os.listdir(str(tmp_path)) if '.record' in n]
  assert not os.path.exists(str(tmp_path / 'coco_dataset' / 'val2014.zip'))


def test_vww_truncated_local_zip_is_named(coco_source, tmp_path):
  folder, _ = coco_source
  for name in os.listdir(folder):
    shutil.copy(os.path.join(folder, name), str(tmp_path / name))
  data = (tmp_path / 'train2014.zip').read_bytes()
  (tmp_path / 'train2014.zip').write_bytes(data[:len(data) - 30])
  with pytest.raises(UserError, match='train2014.zip'):
    vww_converter.run(str(tmp_path / 'out'), dataset_url=str(tmp_path), num_workers=1,
                      train_shards=1, validation_shards=1)


def test_vww_image_with_a_damaged_scan_is_skipped_and_named(coco_source, tmp_path):
  """An image whose scan holds a marker (its zip CRC matches: it was damaged before zipping) is
  skipped and named; every stored image decodes with TensorFlow."""
  folder, coco = coco_source
  for name in os.listdir(folder):
    shutil.copy(os.path.join(folder, name), str(tmp_path / name))
  damaged_name = 'train2014/COCO_train2014_%012d.jpg' % 14
  train_files = dict(coco['train2014'][1])
  train_files[damaged_name] = damage_scan(train_files[damaged_name])
  assert tf_decodes([train_files[damaged_name]]) == [False]
  with zipfile.ZipFile(str(tmp_path / 'train2014.zip'), 'w') as archive:
    for name, data in train_files.items():
      archive.writestr(name, data)
  summary = vww_converter.run(str(tmp_path / 'out'), dataset_url=str(tmp_path), num_workers=2,
                              train_shards=2, validation_shards=1)
  reasons = dict(summary.skipped)
  assert reasons[os.path.basename(damaged_name)].startswith('TensorFlow cannot decode it: ')
  assert len(reasons) == 3  # with the cut and the missing image of the shared source
  assert summary.split_sizes == {'train': 4, 'validation': 2}
  assert os.path.basename(damaged_name) in str(summary)
  records = [str(tmp_path / 'out' / name) for name in sorted(os.listdir(str(tmp_path / 'out')))
             if '.record-' in name]
  stored = [example['image/encoded'][0] for example in read_examples(records)]
  assert len(stored) == 6 and tf_decodes(stored) == [True] * 6


def test_vww_unknown_foreground_class_lists_the_categories(coco_source, tmp_path):
  folder, _ = coco_source
  with pytest.raises(UserError, match='dog, person'):
    vww_converter.run(str(tmp_path), dataset_url=folder, foreground_class_of_interest='cat',
                      num_workers=1, train_shards=1, validation_shards=1)


def test_vww_relabelling_uses_the_area_threshold_and_the_foreground_class():
  groundtruth = {
      'images': [{'id': 1, 'height': 100, 'width': 100}, {'id': 2, 'height': 100, 'width': 100}],
      'annotations': [_ann(1, 1, 18, 5000, [0, 0, 50, 50]), _ann(2, 2, 18, 60, [0, 0, 5, 5])],
      'categories': _CATEGORIES}
  as_dogs = vww_lib.relabel_annotations(groundtruth, 0.005, 'dog')
  assert {k: v['label'] for k, v in as_dogs['annotations'].items()} == {1: 1, 2: 1}
  stricter = vww_lib.relabel_annotations(groundtruth, 0.006, 'dog')
  assert {k: v['label'] for k, v in stricter['annotations'].items()} == {1: 1, 2: 0}
  as_people = vww_lib.relabel_annotations(groundtruth, 0.005, 'person')
  assert {k: v['label'] for k, v in as_people['annotations'].items()} == {1: 0, 2: 0}
  assert list(as_people['categories']) == [1]


def test_vww_command_line_with_the_original_coco_flags(coco_source, tmp_path):
  from conftest import run_script
  folder, _ = coco_source
  out = str(tmp_path / 'vww')
  result = run_script('download_and_convert_data.py', '--dataset_name=visualwakewords',
                      '--dataset_dir=' + out, '--num_workers=1',
                      '--coco_train_url=' + os.path.join(folder, 'train2014.zip'),
                      '--coco_validation_url=' + os.path.join(folder, 'val2014.zip'),
                      '--coco_annotations_url=' + os.path.join(folder,
                                                               'annotations_trainval2014.zip'),
                      '--small_object_area_threshold=0.3')
  assert 'visualwakewords: wrote 7 images (train 5, validation 2)' in result.stdout
  assert len([n for n in os.listdir(out) if n.startswith('train.record-')]) == 100
  assert len([n for n in os.listdir(out) if n.startswith('val.record-')]) == 10
  # The threshold flag reached the converter: a person covering 25% of the image no longer counts.
  with open(os.path.join(out, 'instances_visualwakewords_train2014.json')) as f:
    labels = {k: v['label'] for k, v in json.load(f)['annotations'].items()}
  assert labels['11'] == 0 and labels['12'] == 0
