"""The custom-folder converter: the real digits set, and a folder of mixed formats, colour modes and
awkward names; records read back and through DatasetDataProvider."""
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from dataset_test_utils import break_png_crc, damage_scan, scan_start, tf_decodes
from datasets import convert_image_folder
from datasets import converter_lib
from datasets import custom
from datasets import dataset_factory
from foundation.errors import UserError
from tests.conftest import shared_path

import tensorflow.compat.v1 as tf
import tf_slim as slim

FORMATS = {b'jpg': 'JPEG', b'png': 'PNG'}


def _examples(dataset_dir, split):
  pattern = os.path.join(dataset_dir, 'custom_%s_*.tfrecord' % split)
  out = []
  for path in sorted(tf.io.gfile.glob(pattern)):
    for record in tf.io.tf_record_iterator(path):
      feature = tf.train.Example.FromString(record).features.feature
      out.append({key: list(getattr(feature[key], feature[key].WhichOneof('kind')).value)
                  for key in feature})
  return out


def _provider_samples(dataset, count):
  with tf.Graph().as_default():
    provider = slim.dataset_data_provider.DatasetDataProvider(dataset, shuffle=False)
    [image, label] = provider.get(['image', 'label'])
    with tf.Session() as sess:
      coord = tf.train.Coordinator()
      threads = tf.train.start_queue_runners(sess=sess, coord=coord)
      try:
        return [sess.run([image, label]) for _ in range(count)]
      finally:
        coord.request_stop()
        coord.join(threads, stop_grace_period_secs=5)


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
  source = shared_path('digits')
  out = str(tmp_path_factory.mktemp('digits_out'))
  # Two processes: exercises the worker pool (forked readers, records written in order).
  summary = convert_image_folder.run(out, images_dir=source, validation_fraction=0.1,
                                     num_shards=3, num_workers=2)
  return source, out, summary


def test_digits_sizes_meta_labels(digits):
  source, out, summary = digits
  files = {c: sorted(os.listdir(os.path.join(source, c))) for c in map(str, range(10))}
  total = sum(len(v) for v in files.values())
  assert summary.split_sizes == {'train': total - round(0.1 * total),
                                 'validation': round(0.1 * total)}
  meta = json.load(open(os.path.join(out, 'dataset_meta.json')))
  assert meta['splits'] == summary.split_sizes and meta['num_classes'] == 10
  assert meta['file_pattern'] == 'custom_%s_*.tfrecord'
  assert sorted(n for n in os.listdir(out) if n.endswith('.tfrecord')) == [
      'custom_%s_%05d-of-00003.tfrecord' % (s, i) for s in ('train', 'validation') for i in range(3)]
  with open(os.path.join(out, 'labels.txt')) as f:
    assert f.read() == ''.join('%d:%d\n' % (i, i) for i in range(10))
  dataset = custom.get_split('validation', out)
  assert dataset.num_samples == round(0.1 * total) and dataset.num_classes == 10
  assert summary.ignored == [os.path.join(source, 'DESCR.rst')]  # beside the class folders
  assert 'files not read (not an image, or beside the class folders): 1 (DESCR.rst)' in str(summary)


def test_digits_records_are_the_original_pngs(digits):
  source, out, summary = digits
  originals = {}
  for class_name in map(str, range(10)):
    for name in os.listdir(os.path.join(source, class_name)):
      with open(os.path.join(source, class_name, name), 'rb') as f:
        originals[f.read()] = int(class_name)
  seen = 0
  for split in ('train', 'validation'):
    examples = _examples(out, split)
    assert len(examples) == summary.split_sizes[split]
    for example in examples:
      assert example['image/format'] == [b'png']
      assert example['image/class/label'] == [originals[example['image/encoded'][0]]]
      assert example['image/height'] == [8] and example['image/width'] == [8]
      seen += 1
  assert seen == len(originals)  # every digit once, none twice


def test_digits_through_dataset_factory_and_provider(digits):
  _, out, _ = digits
  dataset = dataset_factory.get_dataset('custom', 'train', out)
  by_pixels = {}
  for example in _examples(out, 'train'):
    grey = np.asarray(Image.open(io.BytesIO(example['image/encoded'][0])))
    by_pixels.setdefault(grey.tobytes(), set()).add(example['image/class/label'][0])
  for pixels, label in _provider_samples(dataset, 3):
    assert pixels.shape == (8, 8, 3) and pixels.dtype == np.uint8
    # A grey PNG decodes to 3 equal channels, which are the pixels of a record with this label.
    np.testing.assert_array_equal(pixels[:, :, 0], pixels[:, :, 2])
    assert label in by_pixels[pixels[:, :, 0].tobytes()]


def test_rerun_is_a_noop_and_other_settings_are_refused(digits):
  source, out, _ = digits
  before = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
  summary = convert_image_folder.run(out, images_dir=source, validation_fraction=0.1,
                                     num_shards=3, num_workers=2)
  assert summary.already_complete and 'nothing to do' in str(summary)
  assert {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)} == before
  with pytest.raises(UserError, match='other settings'):
    convert_image_folder.run(out, images_dir=source, validation_fraction=0.2, num_shards=3)


def _save(path, image, **kwargs):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  image.save(path, **kwargs)


@pytest.fixture(scope='module')
def mixed(tmp_path_factory):
  """Every accepted format, grey/CMYK/palette/alpha modes, spaces and non-ASCII names, an empty
  class, a non-image file and a corrupt JPEG."""
  root = str(tmp_path_factory.mktemp('mixed src'))
  rng = np.random.RandomState(3)

  def rgb(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 9 % 256, y * 13 % 256, rng.randint(0, 256, (h, w))], -1).astype(np.uint8)

  expected = {}  # relative path -> (format, mode the stored pixels are compared in, pixels)
  colour = Image.fromarray(rgb(20, 30))
  _save(os.path.join(root, 'chats noirs', 'été 1.jpg'), colour, quality=95)
  expected['chats noirs/été 1.jpg'] = (b'jpg', 'RGB')
  _save(os.path.join(root, 'chats noirs', 'gris.JPEG'), colour.convert('L'), quality=95)
  expected['chats noirs/gris.JPEG'] = (b'jpg', 'L')
  _save(os.path.join(root, 'chats noirs', 'cmyk.jpg'), colour.convert('CMYK'), quality=95)
  expected['chats noirs/cmyk.jpg'] = (b'png', 'RGB')
  _save(os.path.join(root, 'chats noirs', 'sub dir', 'alpha.png'), colour.convert('RGBA'))
  expected['chats noirs/sub dir/alpha.png'] = (b'png', 'RGBA')
  _save(os.path.join(root, 'dogs', 'palette.png'), colour.convert('P'))
  expected['dogs/palette.png'] = (b'png', 'P')
  _save(os.path.join(root, 'dogs', 'bitmap.bmp'), Image.fromarray(rgb(17, 11)))
  expected['dogs/bitmap.bmp'] = (b'png', 'RGB')
  _save(os.path.join(root, 'dogs', 'grey bitmap.bmp'), Image.fromarray(rgb(9, 13)).convert('L'))
  expected['dogs/grey bitmap.bmp'] = (b'png', 'L')
  _save(os.path.join(root, 'dogs', 'anim.gif'), Image.fromarray(rgb(12, 12)).convert('P'))
  expected['dogs/anim.gif'] = (b'png', 'RGB')
  with open(os.path.join(root, 'dogs', 'notes.txt'), 'w') as f:
    f.write('not an image')
  good = open(os.path.join(root, 'chats noirs', 'été 1.jpg'), 'rb').read()
  with open(os.path.join(root, 'dogs', 'cut.jpg'), 'wb') as f:
    f.write(good[:len(good) // 2])
  os.makedirs(os.path.join(root, 'empty'))
  out = str(tmp_path_factory.mktemp('mixed out'))
  summary = convert_image_folder.run(out, images_dir=root, validation_fraction=0.0, num_shards=2,
                                     num_workers=1)
  return root, out, summary, expected


def test_mixed_folder_formats_are_truthful(mixed):
  root, out, summary, expected = mixed
  assert summary.split_sizes == {'train': len(expected)}
  assert [os.path.relpath(p, root) for p, _ in summary.skipped] == ['dogs/cut.jpg']
  assert summary.empty_classes == ['empty']
  assert [os.path.relpath(p, root) for p in summary.ignored] == ['dogs/notes.txt']
  report = str(summary)
  assert 'cut.jpg' in report and 'empty class folders: empty' in report
  assert 'files not read (not an image, or beside the class folders): 1 (notes.txt)' in report
  with open(os.path.join(out, 'labels.txt'), encoding='utf-8') as f:
    assert f.read() == '0:chats noirs\n1:dogs\n2:empty\n'

  examples = _examples(out, 'train')
  assert len(examples) == len(expected)
  remaining = dict(expected)
  for example in examples:
    data = example['image/encoded'][0]
    stored = Image.open(io.BytesIO(data))
    image_format = example['image/format'][0]
    assert FORMATS[image_format] == stored.format  # the format key tells the truth
    assert example['image/width'] == [stored.size[0]] and example['image/height'] == [stored.size[1]]
    # Find the source file: same label, same size, same pixels (after the documented conversion).
    matches = []
    for rel, (want_format, _) in remaining.items():
      source = Image.open(os.path.join(root, rel))
      if source.size != stored.size or want_format != image_format:
        continue
      if example['image/class/label'] != [0 if rel.startswith('chats') else 1]:
        continue
      if rel.endswith(('.jpg', '.JPEG')) and image_format == b'jpg':
        same = open(os.path.join(root, rel), 'rb').read() == data  # original bytes kept
      else:
        source.seek(0)
        same = np.array_equal(np.asarray(source.convert('RGB')), np.asarray(stored.convert('RGB')))
      if same:
        matches.append(rel)
    assert len(matches) == 1, (image_format, stored.size, matches)
    del remaining[matches[0]]
  assert not remaining


def test_mixed_folder_decodes_as_three_channels(mixed):
  _, out, summary, _ = mixed
  dataset = custom.get_split('train', out)
  assert dataset.num_samples == summary.split_sizes['train'] and dataset.num_classes == 3
  assert dataset.labels_to_names == {0: 'chats noirs', 1: 'dogs', 2: 'empty'}
  samples = _provider_samples(dataset, summary.split_sizes['train'])
  for (pixels, label), example in zip(samples, _examples(out, 'train')):
    assert pixels.shape == (example['image/height'][0], example['image/width'][0], 3)
    assert label == example['image/class/label'][0]


def test_missing_meta_split_and_bad_arguments(mixed, tmp_path):
  _, out, _, _ = mixed
  with pytest.raises(ValueError, match='split name validation was not recognized.*valid splits: '
                     'train') as error:
    custom.get_split('validation', out)
  assert isinstance(error.value, UserError)
  with pytest.raises(UserError) as error:
    dataset_factory.get_dataset('custom', 'train', str(tmp_path))
  message = str(error.value)
  assert 'dataset_meta.json' in message and 'custom_<split>_*.tfrecord' in message
  assert ('download_and_convert_data.py --dataset_name=custom --dataset_dir=%s --images_dir='
          % tmp_path) in message
  with pytest.raises(UserError, match='--images_dir is required'):
    convert_image_folder.run(str(tmp_path / 'o'))
  with pytest.raises(UserError, match='inside --images_dir'):
    convert_image_folder.run(os.path.join(out, 'x'), images_dir=out)
  with pytest.raises(UserError, match='validation_fraction'):
    convert_image_folder.run(str(tmp_path / 'o'), images_dir=out, validation_fraction=1.0)
  lone = tmp_path / 'lone'
  (lone / 'only').mkdir(parents=True)
  with pytest.raises(UserError, match='no images'):
    convert_image_folder.run(str(tmp_path / 'o'), images_dir=str(lone))


# ------------------------------------------------------------------ JPEG structure check (no decode)

def _jpeg(progressive=False, exif_thumbnail=False, size=(64, 48)):
  rng = np.random.RandomState(5)
  image = Image.fromarray(rng.randint(0, 256, size[::-1] + (3,)).astype(np.uint8))
  kwargs = {'quality': 90, 'progressive': progressive}
  if exif_thumbnail:
    # An APP1 segment carrying a whole small JPEG (with its own end-of-image marker), as cameras
    # write: a truncated main image must not pass because of the thumbnail's marker.
    thumb = io.BytesIO()
    image.resize((16, 12)).save(thumb, format='JPEG')
    kwargs['exif'] = b'Exif\x00\x00' + thumb.getvalue()
  out = io.BytesIO()
  image.save(out, format='JPEG', **kwargs)
  return out.getvalue()


@pytest.mark.parametrize('kind', ['baseline', 'progressive', 'exif_thumbnail'])
def test_jpeg_structure_check_catches_every_cut_and_passes_whole_files(kind):
  data = _jpeg(progressive=kind == 'progressive', exif_thumbnail=kind == 'exif_thumbnail')
  convert_image_folder.check_jpeg_structure(data)
  convert_image_folder.check_jpeg_structure(data + b'trailing bytes some writers append')
  for cut in list(range(0, 400)) + list(range(400, len(data) - 1, 37)) + [len(data) - 1]:
    with pytest.raises(convert_image_folder.CorruptImage):
      convert_image_folder.check_jpeg_structure(data[:cut])
    # And through the converter's own entry point, which reports it as corrupt too.
    with pytest.raises(convert_image_folder.CorruptImage):
      convert_image_folder.encode_image(data[:cut])


def test_jpeg_structure_check_agrees_with_a_full_decode_on_real_photos():
  folder = shared_path('images')  # skips with the reason when ../shared is absent
  photos = sorted(name for name in os.listdir(folder) if name.lower().endswith('.jpg'))
  assert photos
  for name in photos:
    data = open(os.path.join(folder, name), 'rb').read()
    with Image.open(io.BytesIO(data)) as img:
      img.load()  # a full decode succeeds: the structure check must agree
      decoded_size = img.size
    convert_image_folder.check_jpeg_structure(data)
    encoded, image_format, height, width = convert_image_folder.encode_image(
        data, convert_image_folder.KEEP_ORIGINAL)
    assert encoded is data and image_format == 'jpg'
    assert (width, height) == decoded_size
    with pytest.raises(convert_image_folder.CorruptImage):
      convert_image_folder.check_jpeg_structure(data[:len(data) * 2 // 3])


# ------------------------------------------------------- damaged images (TensorFlow decodes first)

def _photo(seed, size=(96, 64)):
  """A JPEG with photo-like content (a gradient, shapes and noise), so its scan is long."""
  rng = np.random.RandomState(seed)
  y, x = np.mgrid[0:size[1], 0:size[0]]
  pixels = np.stack([x * 2, y * 3, (x + y) % 256], -1) + rng.normal(0, 12, size[::-1] + (3,))
  out = io.BytesIO()
  Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, format='JPEG', quality=90)
  return out.getvalue()


def test_damaged_images_never_reach_a_shard(tmp_path, caplog):
  good = [_photo(seed) for seed in range(3)]
  png = io.BytesIO()
  Image.fromarray(np.asarray(Image.open(io.BytesIO(good[0])))).save(png, format='PNG')
  png = png.getvalue()
  start = scan_start(good[1])
  rng = np.random.RandomState(9)
  # Bytes of the scan overwritten with values that form no marker: decoders show artefacts, and
  # TensorFlow decodes it, so it is kept (the check follows TensorFlow, it is not stricter).
  garbled = bytearray(good[1])
  garbled[start:start + 200] = rng.randint(0, 255, 200).astype(np.uint8).tobytes()
  garbled = bytes(garbled)
  bad = {
      'a/marker in scan.jpg': damage_scan(good[0]),            # APP1 inside the scan
      'a/frame in scan.jpg': damage_scan(good[1], b'\xff\xc0'),  # a second SOF inside the scan
      'b/cut.jpg': good[2][:len(good[2]) * 2 // 3],
      'b/bad crc.png': break_png_crc(png),
  }
  progressive = io.BytesIO()
  Image.open(io.BytesIO(good[2])).save(progressive, format='JPEG', progressive=True)
  progressive = progressive.getvalue()  # several scans: decoded in full, not to a first pixel
  assert not converter_lib.is_single_clean_scan(progressive)
  assert converter_lib.is_single_clean_scan(good[0]) and converter_lib.is_single_clean_scan(garbled)
  kept = {'a/good 0.jpg': good[0], 'a/good.png': png, 'b/good 2.jpg': good[2],
          'b/garbled.jpg': garbled, 'b/progressive.jpg': progressive}
  # The damage is real: header and end marker intact (the structure check passes), and
  # TensorFlow's full decode fails on every bad file while it reads the kept ones.
  for name in ('a/marker in scan.jpg', 'a/frame in scan.jpg'):
    convert_image_folder.check_jpeg_structure(bad[name])
    assert bad[name][-2:] == b'\xff\xd9' and len(bad[name]) == len(good[int('frame' in name)])
  assert tf_decodes(list(bad.values())) == [False] * len(bad)
  assert tf_decodes(list(kept.values())) == [True] * len(kept)
  Image.open(io.BytesIO(bad['b/bad crc.png'])).load()  # Pillow does not check an IDAT's CRC
  root = tmp_path / 'photos'
  for name, data in list(bad.items()) + list(kept.items()):
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(data)

  out = str(tmp_path / 'out')
  with caplog.at_level('WARNING'):
    summary = convert_image_folder.run(out, images_dir=str(root), validation_fraction=0.0,
                                       num_shards=2, num_workers=2)
  skipped = {os.path.relpath(path, str(root)): reason for path, reason in summary.skipped}
  assert sorted(skipped) == sorted(bad)
  for name in ('a/marker in scan.jpg', 'a/frame in scan.jpg', 'b/bad crc.png'):
    assert skipped[name].startswith('TensorFlow cannot decode it: '), skipped[name]
  assert 'Invalid PNG data' in skipped['b/bad crc.png']
  assert 'truncated' in skipped['b/cut.jpg']
  assert summary.split_sizes == {'train': len(kept)}
  report = str(summary)
  assert 'wrote %d images' % len(kept) in report
  assert 'skipped (unreadable) files: %d' % len(bad) in report
  warnings = caplog.text
  for name in bad:
    assert os.path.join(str(root), name) in report and os.path.join(str(root), name) in warnings
  meta = json.load(open(os.path.join(out, 'dataset_meta.json')))
  assert sorted(os.path.relpath(p, str(root)) for p in meta['skipped']) == sorted(bad)
  assert meta['splits'] == {'train': len(kept)}

  # Read back: every stored image decodes with TensorFlow, and they are the kept files' bytes.
  stored = [example['image/encoded'][0] for example in _examples(out, 'train')]
  assert tf_decodes(stored) == [True] * len(kept)
  assert sorted(stored) == sorted(kept.values())


def test_decode_check_follows_tensorflow_on_every_damaged_variant():
  """The quick path (a clean single scan decoded to its first pixel) never accepts what a full
  decode rejects, over many damaged variants of one photo; a failing batch names each file."""
  photo = _photo(4, size=(160, 120))
  start, end = scan_start(photo), len(photo) - 2
  rng = np.random.RandomState(2)
  variants = [photo]
  for position in (start, (start + end) // 2, end - 3):
    variants += [photo[:position] + bytes([0xff, code]) + photo[position:]
                 for code in range(1, 256, 3)]
  variants += [photo[:cut] + b'\xff\xd9' for cut in range(start - 40, end, 97)]
  for _ in range(40):
    garbled = bytearray(photo)
    for index in rng.randint(start, end, rng.randint(1, 30)):
      garbled[index] = rng.randint(0, 255)
    variants.append(bytes(garbled))
  expected = tf_decodes(variants)
  assert 0 < sum(expected) < len(variants)  # both kinds are there
  assert any(converter_lib.is_single_clean_scan(v) for v, ok in zip(variants, expected) if ok)
  with converter_lib.DecodeCheck(batch_size=16) as checker:
    reasons = checker.check(variants)
  assert [reason is None for reason in reasons] == expected
  assert all(reason.startswith('TensorFlow cannot decode it: ') for reason in reasons if reason)
