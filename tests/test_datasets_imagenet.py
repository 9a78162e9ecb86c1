"""ImageNet: a raw ILSVRC-style folder built here (synset folders, a flat validation folder with
its labels file, synsets list, metadata, bounding-box XML) taken through
preprocess_imagenet_validation_data, process_bounding_boxes and build_imagenet_data, then read back
record by record and through the slim descriptor."""
import io
import os
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from dataset_test_utils import damage_scan, decode, provide_all, read_examples, tf_decodes
from datasets import build_imagenet_data
from datasets import convert_image_folder
from datasets import dataset_factory
from datasets import dataset_utils
from datasets import imagenet
from datasets import process_bounding_boxes
from http_server import serve_directory
from foundation.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SYNSETS = ['n01440764', 'n01443537', 'n01484850']
_NAMES = {'n01440764': 'tench, Tinca tinca', 'n01443537': 'goldfish, Carassius auratus',
          'n01484850': 'great white shark, white shark, man-eater, Carcharodon carcharias',
          'n00004475': 'organism, being'}


def _pixels(seed, width, height):
  return np.random.RandomState(seed).randint(0, 256, size=(height, width, 3)).astype(np.uint8)


def _encode(array, fmt='JPEG', mode='RGB'):
  out = io.BytesIO()
  Image.fromarray(array, 'RGB').convert(mode).save(out, format=fmt, quality=95)
  return out.getvalue()


def _xml(filename, width, height, objects):
  boxes = ''.join('<object><name>%s</name><bndbox><xmin>%s</xmin><ymin>%s</ymin><xmax>%s</xmax>'
                  '<ymax>%s</ymax></bndbox></object>' % o for o in objects)
  return ('<annotation><folder>x</folder><filename>%s</filename><size><width>%d</width>'
          '<height>%d</height><depth>3</depth></size>%s</annotation>'
          % (filename, width, height, boxes))


def _build_raw(root):
  """Writes the raw folder; returns {file name: (synset, original bytes, kind)}."""
  files = {}
  train = os.path.join(root, 'train')
  specs = {
      'n01440764': ['rgb', 'rgb', 'rgb', 'grey'],
      'n01443537': ['rgb', 'rgb', 'cmyk', 'png'],
      'n01484850': ['rgb', 'rgb', 'corrupt'],
  }
  seed = 0
  for synset, kinds in specs.items():
    os.makedirs(os.path.join(train, synset))
    for number, kind in enumerate(kinds, 1):
      seed += 1
      array = _pixels(seed, 20 + seed, 12 + seed)  # a distinct size per image
      if kind == 'grey':
        data = _encode(array, mode='L')
      elif kind == 'cmyk':
        data = _encode(array, mode='CMYK')
      elif kind == 'png':
        data = _encode(array, fmt='PNG')
      elif kind == 'corrupt':
        data = _encode(array)[:200]
      else:
        data = _encode(array)
      name = '%s_%d.JPEG' % (synset, number)
      with open(os.path.join(train, synset, name), 'wb') as f:
        f.write(data)
      files[name] = (synset, data, kind)
  validation = os.path.join(root, 'validation')
  os.makedirs(validation)
  val_synsets = ['n01484850', 'n01440764', 'n01443537', 'n01440764', 'n01484850']
  for number, synset in enumerate(val_synsets, 1):
    name = 'ILSVRC2012_val_%08d.JPEG' % number
    data = _encode(_pixels(100 + number, 20, 20))
    with open(os.path.join(validation, name), 'wb') as f:
      f.write(data)
    files[name] = (synset, data, 'rgb')
  with open(os.path.join(root, 'imagenet_2012_validation_synset_labels.txt'), 'w') as f:
    f.write('\n'.join(val_synsets) + '\n')
  with open(os.path.join(root, 'imagenet_lsvrc_2015_synsets.txt'), 'w') as f:
    f.write('\n'.join(_SYNSETS) + '\n')
  with open(os.path.join(root, 'imagenet_metadata.txt'), 'w') as f:
    f.write(''.join('%s\t%s\n' % item for item in sorted(_NAMES.items())))
  # Bounding boxes: train boxes in synset folders, validation boxes in their own folder.
  boxes = os.path.join(root, 'bounding_boxes')
  for folder, name, size, objects in [
      ('n01440764', 'n01440764_1', (26, 17), [('n01440764', 2.6, 1.7, 13, 8.5),
                                              ('n01440764', 13, 0, 40, 17),     # clipped to 1
                                              ('n09999999', 0, 0, 5, 5)]),      # not a synset
      ('n01443537', 'n01443537_3', (30, 19), [('n01443537', 3, 1.9, 3, 10)]),  # no area
      ('validation', 'ILSVRC2012_val_00000003', (20, 20), [('n01443537', 5, 5, 15, 10)]),
  ]:
    os.makedirs(os.path.join(boxes, folder), exist_ok=True)
    with open(os.path.join(boxes, folder, name + '.xml'), 'w') as f:
      f.write(_xml('%s', size[0], size[1], objects))  # a wrong <filename>, as in the real files
  with open(os.path.join(boxes, 'validation', 'broken.xml'), 'w') as f:
    f.write('<annotation><size>')
  return files


_EXPECTED_BOXES = {
    'n01440764_1.JPEG': [(0.1, 0.1, 0.5, 0.5), (0.5, 0.0, 1.0, 1.0)],
    'ILSVRC2012_val_00000003.JPEG': [(0.25, 0.25, 0.75, 0.5)],
}


def _run(script, *args):
  return subprocess.run([sys.executable, os.path.join(ROOT, 'datasets', script)] + list(args),
                        capture_output=True, text=True, timeout=120)


@pytest.fixture(scope='module')
def built(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('imagenet_raw'))
  files = _build_raw(root)
  # The two preparation scripts run as a user runs them (standard library only: fast to start).
  result = _run('preprocess_imagenet_validation_data.py', os.path.join(root, 'validation'),
                os.path.join(root, 'imagenet_2012_validation_synset_labels.txt'))
  assert result.returncode == 0, result.stderr
  assert '5 images moved' in result.stdout
  result = _run('process_bounding_boxes.py', os.path.join(root, 'bounding_boxes'),
                os.path.join(root, 'imagenet_lsvrc_2015_synsets.txt'))
  assert result.returncode == 0, result.stderr
  csv_path = os.path.join(root, 'imagenet_2012_bounding_boxes.csv')
  with open(csv_path, 'w') as f:
    f.write(''.join(sorted(result.stdout.splitlines(True))))
  out = str(tmp_path_factory.mktemp('imagenet_out'))
  chunk = build_imagenet_data._CHUNK
  build_imagenet_data._CHUNK = 2  # several chunks per shard, spread over both workers
  try:
    summary = build_imagenet_data.build(
        os.path.join(root, 'train'), os.path.join(root, 'validation'), out,
        os.path.join(root, 'imagenet_lsvrc_2015_synsets.txt'),
        os.path.join(root, 'imagenet_metadata.txt'), csv_path, train_shards=3,
        validation_shards=2, num_workers=2)
  finally:
    build_imagenet_data._CHUNK = chunk
  return root, out, files, summary, result.stderr


def test_bounding_box_csv(built):
  root, _, _, _, log = built
  with open(os.path.join(root, 'imagenet_2012_bounding_boxes.csv')) as f:
    lines = f.read().splitlines()
  assert lines == ['ILSVRC2012_val_00000003.JPEG,0.2500,0.2500,0.7500,0.5000',
                   'n01440764_1.JPEG,0.1000,0.1000,0.5000,0.5000',
                   'n01440764_1.JPEG,0.5000,0.0000,1.0000,1.0000']
  assert '3 XML files' in log and '2 boxes and 1 files skipped' in log


def test_validation_images_sorted_into_synset_folders(built):
  root, _, files, _, _ = built
  validation = os.path.join(root, 'validation')
  for name, (synset, _, _) in files.items():
    if name.startswith('ILSVRC2012_val_'):
      assert os.path.isfile(os.path.join(validation, synset, name))
  # A second run finds everything in place.
  result = _run('preprocess_imagenet_validation_data.py', validation,
                os.path.join(root, 'imagenet_2012_validation_synset_labels.txt'))
  assert result.returncode == 0 and '0 images moved' in result.stdout
  assert '5 already there, 0 missing' in result.stdout


def test_records_match_the_images_label_by_label(built):
  _, out, files, summary, _ = built
  assert summary.split_sizes == {'validation': 5, 'train': 10}
  assert [os.path.basename(p) for p, _ in summary.skipped] == ['n01484850_3.JPEG']
  assert sorted((os.path.basename(p), kind) for p, kind in summary.reencoded) == [
      ('n01443537_3.JPEG', 'cmyk'), ('n01443537_4.JPEG', 'png')]
  assert 'n01484850_3.JPEG' in str(summary) and 're-encoded as RGB JPEG: 2' in str(summary)
  seen = set()
  for split, shards, count in (('validation', 2, 5), ('train', 3, 10)):
    paths = [os.path.join(out, '%s-%05d-of-%05d' % (split, i, shards)) for i in range(shards)]
    sizes = [len(read_examples(p)) for p in paths]
    examples = read_examples(paths)
    assert len(examples) == count
    # Consecutive runs of the shuffled file list (11 train files, the corrupt one skipped).
    planned = [end - start for start, end in build_imagenet_data.shard_ranges(
        count + (split == 'train'), shards)]
    assert planned == ([2, 3] if split == 'validation' else [3, 4, 4])
    assert all(0 <= p - s <= 1 for p, s in zip(planned, sizes))
    for example in examples:
      name = example['image/filename'][0].decode()
      synset, original, kind = files[name]
      seen.add(name)
      label = _SYNSETS.index(synset) + 1
      assert example['image/class/label'] == [label]
      assert example['image/class/synset'] == [synset.encode()]
      assert example['image/class/text'] == [_NAMES[synset].encode()]
      assert example['image/format'] == [b'JPEG'] and example['image/colorspace'] == [b'RGB']
      assert example['image/channels'] == [3]
      with Image.open(io.BytesIO(original)) as img:
        assert (example['image/width'], example['image/height']) == ([img.size[0]],
                                                                      [img.size[1]])
        want = np.asarray(img.convert('RGB'))
      encoded = example['image/encoded'][0]
      if kind in ('rgb', 'grey'):
        assert encoded == original  # kept byte for byte
      else:  # re-encoded: now an RGB JPEG with the same pixels, up to JPEG rounding
        with Image.open(io.BytesIO(encoded)) as img:
          assert (img.format, img.mode) == ('JPEG', 'RGB')
        assert np.abs(decode(encoded).astype(int) - want.astype(int)).mean() < 3
      boxes = list(zip(example['image/object/bbox/xmin'], example['image/object/bbox/ymin'],
                       example['image/object/bbox/xmax'], example['image/object/bbox/ymax']))
      np.testing.assert_allclose(np.reshape(boxes, (-1, 4)),
                                 np.reshape(_EXPECTED_BOXES.get(name, []), (-1, 4)), atol=1e-6)
      assert example['image/object/bbox/label'] == [label] * len(boxes)
      assert example['image/object/class/label'] == [label] * len(boxes)
  assert seen == set(files) - {'n01484850_3.JPEG'}
  assert dataset_utils.read_label_file(out) == {
      0: 'background', 1: _NAMES['n01440764'], 2: _NAMES['n01443537'], 3: _NAMES['n01484850']}


def test_descriptor_reads_labels_text_boxes_and_grey_as_rgb(built):
  _, out, files, _, _ = built
  dataset = dataset_factory.get_dataset('imagenet', 'train', out)
  assert dataset.num_samples == 1281167 and dataset.num_classes == 1001
  assert dataset.labels_to_names[1] == _NAMES['n01440764']
  results = provide_all(lambda: imagenet.get_split('train', out),
                        ['image', 'label', 'label_text', 'object/bbox', 'object/label'], 10)
  by_shape = {}
  for image, label, text, bbox, object_label in results:
    assert image.ndim == 3 and image.shape[2] == 3
    assert text.decode() == _NAMES[_SYNSETS[label - 1]]
    assert list(object_label) == [label] * len(bbox)
    by_shape[image.shape[:2]] = (image, bbox)
  grey_original = decode(files['n01440764_4.JPEG'][1])
  grey, _ = by_shape[grey_original.shape]
  np.testing.assert_array_equal(grey[:, :, 0], grey[:, :, 2])
  # TF's fast IDCT and Pillow's differ by a few levels on noise.
  difference = np.abs(grey[:, :, 1].astype(int) - grey_original.astype(int))
  assert difference.mean() < 2 and difference.max() <= 8
  _, boxes = by_shape[decode(files['n01440764_1.JPEG'][1]).shape[:2]]
  np.testing.assert_allclose(boxes, [[0.1, 0.1, 0.5, 0.5], [0.0, 0.5, 1.0, 1.0]], atol=1e-6)


def test_a_complete_folder_is_a_no_op_and_a_missing_shard_is_rebuilt(built, tmp_path):
  root, out, _, _, _ = built
  copy = str(tmp_path / 'copy')
  shutil.copytree(out, copy)
  args = (os.path.join(root, 'train'), os.path.join(root, 'validation'), copy,
          os.path.join(root, 'imagenet_lsvrc_2015_synsets.txt'),
          os.path.join(root, 'imagenet_metadata.txt'),
          os.path.join(root, 'imagenet_2012_bounding_boxes.csv'), 3, 2, 1)
  assert build_imagenet_data.build(*args).already_complete
  with open(os.path.join(copy, 'train-00001-of-00003'), 'rb') as f:
    before = f.read()
  os.remove(os.path.join(copy, 'train-00001-of-00003'))
  summary = build_imagenet_data.build(*args)
  assert summary.kept_shards == 4
  rebuilt = read_examples(os.path.join(out, 'train-00001-of-00003'))
  assert summary.split_sizes == {'validation': 0, 'train': len(rebuilt)}
  with open(os.path.join(copy, 'train-00001-of-00003'), 'rb') as f:
    assert f.read() == before  # the same images in the same order


def test_labels_to_names_from_local_metadata_or_none(built, tmp_path):
  root, out, _, _, _ = built
  bare = tmp_path / 'bare'
  bare.mkdir()
  shutil.copy(os.path.join(out, 'validation-00000-of-00002'), str(bare))
  assert imagenet.get_split('validation', str(bare)).labels_to_names is None
  for name in ('imagenet_lsvrc_2015_synsets.txt', 'imagenet_metadata.txt'):
    shutil.copy(os.path.join(root, name), str(bare))
  names = imagenet.get_split('validation', str(bare)).labels_to_names
  assert names == dataset_utils.read_label_file(out)
  assert not os.path.exists(str(bare / 'labels.txt'))  # reading never writes into the data set
  with pytest.raises(imagenet.MissingMetadata, match='imagenet_metadata.txt'):
    imagenet.create_readable_names_for_imagenet_labels(
        synsets_file=os.path.join(root, 'imagenet_lsvrc_2015_synsets.txt'),
        metadata_file=str(tmp_path / 'imagenet_metadata.txt'))


def test_missing_synset_folder_and_bad_box_csv_are_named(built, tmp_path):
  root = built[0]
  synsets = tmp_path / 'synsets.txt'
  synsets.write_text('\n'.join(_SYNSETS + ['n01491361']) + '\n')
  metadata = tmp_path / 'metadata.txt'
  metadata.write_text(''.join('%s\t%s\n' % (s, s) for s in _SYNSETS + ['n01491361']))
  with pytest.raises(UserError, match='n01491361'):
    build_imagenet_data.build(os.path.join(root, 'train'), None, str(tmp_path / 'out'),
                              str(synsets), str(metadata), None, 1, 1, 1)
  bad = tmp_path / 'boxes.csv'
  bad.write_text('n01440764_1.JPEG,0.1,0.1,0.5,0.5\nn01440764_2.JPEG,0.1,0.5\n')
  with pytest.raises(UserError, match='boxes.csv line 2'):
    build_imagenet_data.build(os.path.join(root, 'train'), None, str(tmp_path / 'out'),
                              os.path.join(root, 'imagenet_lsvrc_2015_synsets.txt'),
                              os.path.join(root, 'imagenet_metadata.txt'), str(bad), 1, 1, 1)


def test_damaged_scans_are_skipped_and_every_record_decodes(built, tmp_path):
  """JPEGs whose entropy-coded data holds a marker (header and end intact) are skipped and named;
  the shards hold only images TensorFlow decodes."""
  root = built[0]
  train = tmp_path / 'train'
  images = {}
  for number, synset in enumerate(_SYNSETS):
    (train / synset).mkdir(parents=True)
    for kind in ('good', 'app1', 'sof'):
      data = _encode(_pixels(200 + number, 48, 32))
      if kind != 'good':
        data = damage_scan(data, b'\xff\xe1' if kind == 'app1' else b'\xff\xc0')
      images['%s_%s.JPEG' % (synset, kind)] = data
      (train / synset / ('%s_%s.JPEG' % (synset, kind))).write_bytes(data)
  assert tf_decodes(list(images.values())) == [name.endswith('good.JPEG') for name in images]
  out = str(tmp_path / 'out')
  summary = build_imagenet_data.build(
      str(train), None, out, os.path.join(root, 'imagenet_lsvrc_2015_synsets.txt'),
      os.path.join(root, 'imagenet_metadata.txt'), '', train_shards=2, num_workers=2)
  assert sorted(os.path.basename(path) for path, _ in summary.skipped) == sorted(
      name for name in images if not name.endswith('good.JPEG'))
  assert all(reason.startswith('TensorFlow cannot decode it: ') for _, reason in summary.skipped)
  report = str(summary)
  assert 'skipped (unreadable) files: 6' in report and 'n01443537_sof.JPEG' in report
  examples = read_examples([os.path.join(out, 'train-%05d-of-00002' % i) for i in range(2)])
  assert summary.split_sizes == {'train': 3} and len(examples) == 3
  assert sorted(e['image/filename'][0].decode() for e in examples) == sorted(
      name for name in images if name.endswith('good.JPEG'))
  assert tf_decodes([e['image/encoded'][0] for e in examples]) == [True] * 3


def test_process_image_detects_png_and_cmyk_by_content():
  array = _pixels(7, 12, 10)
  for data, fixed in ((_encode(array), None), (_encode(array, mode='L'), None),
                      (_encode(array, mode='CMYK'), 'cmyk'), (_encode(array, fmt='PNG'), 'png'),
                      (_encode(array, fmt='BMP'), 'bmp')):
    encoded, height, width, what = build_imagenet_data.process_image(data)
    assert (height, width, what) == (10, 12, fixed)
    with Image.open(io.BytesIO(encoded)) as img:
      assert img.format == 'JPEG' and img.mode in ('RGB', 'L')
  with pytest.raises(convert_image_folder.CorruptImage, match='(?i)truncated'):
    build_imagenet_data.process_image(_encode(array)[:100])


def test_xml_parsing_reads_boxes_and_rejects_malformed_files(tmp_path):
  path = tmp_path / 'n1_1.xml'
  path.write_text(_xml('n1_1', 100, 50, [('n1', 10, 5, 60, 50)]))
  (box,) = process_bounding_boxes.process_xml_annotation(str(path))
  assert box.label == 'n1' and box.scaled() == (0.1, 0.1, 0.6, 1.0)
  path.write_text('<annotation><size><width>10</width></size></annotation>')
  with pytest.raises(ValueError, match='size/height'):
    process_bounding_boxes.process_xml_annotation(str(path))


def _tar(path, members, mode='w'):
  """members: {archive name: bytes}."""
  with tarfile.open(path, mode) as archive:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      archive.addfile(info, io.BytesIO(data))


def _read(path):
  with open(path, 'rb') as f:
    return f.read()


@pytest.mark.skipif(shutil.which('curl') is None, reason='the download script uses curl')
def test_shell_scripts_download_and_convert_over_http(tmp_path):
  raw = str(tmp_path / 'raw')
  files = _build_raw(raw)
  served = tmp_path / 'served'
  served.mkdir()
  train = {}
  for synset in _SYNSETS:
    synset_tar = io.BytesIO()
    folder = os.path.join(raw, 'train', synset)
    with tarfile.open(fileobj=synset_tar, mode='w') as archive:
      for name in sorted(os.listdir(folder)):
        archive.add(os.path.join(folder, name), arcname=name)
    train[synset + '.tar'] = synset_tar.getvalue()
  _tar(str(served / 'ILSVRC2012_img_train.tar'), train)
  _tar(str(served / 'ILSVRC2012_img_val.tar'),
       {n: _read(os.path.join(raw, 'validation', n))
        for n in sorted(os.listdir(os.path.join(raw, 'validation')))})
  boxes = os.path.join(raw, 'bounding_boxes')
  _tar(str(served / 'ILSVRC2012_bbox_train_v2.tar.gz'),
       {'%s/%s' % (s, n): _read(os.path.join(boxes, s, n))
        for s in _SYNSETS if os.path.isdir(os.path.join(boxes, s))
        for n in os.listdir(os.path.join(boxes, s))}, 'w:gz')
  _tar(str(served / 'ILSVRC2012_bbox_val_v3.tgz'),
       {'val/ILSVRC2012_val_00000003.xml':
        _read(os.path.join(boxes, 'validation', 'ILSVRC2012_val_00000003.xml'))}, 'w:gz')
  metadata = tmp_path / 'metadata'
  metadata.mkdir()
  for name in ('imagenet_lsvrc_2015_synsets.txt', 'imagenet_metadata.txt',
               'imagenet_2012_validation_synset_labels.txt'):
    shutil.copy(os.path.join(raw, name), str(metadata / name))
  data_dir = str(tmp_path / 'data')
  with serve_directory(str(served)) as url:
    env = dict(os.environ, IMAGENET_BASE_URL=url, IMAGENET_METADATA_DIR=str(metadata),
               PYTHON=sys.executable, NUM_WORKERS='1', TRAIN_SHARDS='3', VALIDATION_SHARDS='2')
    result = subprocess.run(['bash', os.path.join(ROOT, 'datasets',
                                                  'download_and_convert_imagenet.sh'), data_dir],
                            capture_output=True, text=True, timeout=300, env=env,
                            stdin=subprocess.DEVNULL)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  assert 'imagenet: wrote 15 images (validation 5, train 10)' in result.stdout
  names = os.listdir(data_dir)
  assert sorted(n for n in names if '-of-' in n) == [
      'train-00000-of-00003', 'train-00001-of-00003', 'train-00002-of-00003',
      'validation-00000-of-00002', 'validation-00001-of-00002']
  examples = read_examples([os.path.join(data_dir, n) for n in sorted(names) if '-of-' in n])
  by_name = {e['image/filename'][0].decode(): e for e in examples}
  assert set(by_name) == set(files) - {'n01484850_3.JPEG'}
  for name, example in by_name.items():
    assert example['image/class/label'] == [_SYNSETS.index(files[name][0]) + 1]
  assert len(by_name['ILSVRC2012_val_00000003.JPEG']['image/object/bbox/xmin']) == 1
  assert len(by_name['n01440764_1.JPEG']['image/object/bbox/xmin']) == 2
