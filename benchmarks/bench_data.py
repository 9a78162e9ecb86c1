"""Synthetic but realistic JPEG data for the speed benchmarks, and the machine's description.

Photo-sized JPEGs (320x240 to 640x480, both orientations, quality 90) with varied content: a smooth
random colour field (like sky, walls, out-of-focus background), random shapes with hard edges, and
sensor-like noise, so that JPEG decoding costs what it costs on photos (flat synthetic images decode
several times faster). Folders of class sub-folders, as the flowers download has.
"""
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

_SIZES = ((500, 375), (375, 500), (640, 480), (480, 640), (320, 240), (500, 333))


def make_jpeg_folder(images_dir, num_images, num_classes=5, seed=0):
  """Writes `num_images` JPEGs into `images_dir/class_<k>/`; returns images_dir. Idempotent."""
  import numpy as np
  from PIL import Image, ImageDraw
  marker = os.path.join(images_dir, '.complete-%d-%d-%d' % (num_images, num_classes, seed))
  if os.path.exists(marker):
    return images_dir
  rng = np.random.RandomState(seed)
  # One noise field, cropped at random offsets: drawing fresh noise per image costs more than the
  # rest of the image and changes nothing for the decoder.
  noise = rng.normal(0, 6, (640 + 64, 640 + 64, 3)).astype(np.float32)
  for k in range(num_classes):
    os.makedirs(os.path.join(images_dir, 'class_%d' % k), exist_ok=True)
  for i in range(num_images):
    width, height = _SIZES[rng.randint(len(_SIZES))]
    grid = rng.randint(0, 256, size=(rng.randint(2, 6), rng.randint(2, 6), 3)).astype(np.uint8)
    image = Image.fromarray(grid).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 12)):
      x0, y0 = rng.randint(0, width), rng.randint(0, height)
      x1, y1 = x0 + rng.randint(10, width // 2), y0 + rng.randint(10, height // 2)
      colour = tuple(int(c) for c in rng.randint(0, 256, 3))
      (draw.ellipse if rng.rand() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    dy, dx = rng.randint(0, 64, 2)
    pixels = np.asarray(image, np.float32) + noise[dy:dy + height, dx:dx + width]
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    image.save(os.path.join(images_dir, 'class_%d' % (i % num_classes), 'img_%05d.jpg' % i),
               quality=90)
  open(marker, 'w').close()
  return images_dir


def make_tfrecords(work_dir, num_images=1250, validation_fraction=0.8, num_shards=4):
  """JPEG folder + custom-data-set TFRecords (1,000 validation and 250 train images by default);
  returns the data set folder (dataset_name=custom)."""
  from datasets import convert_image_folder
  images_dir = make_jpeg_folder(os.path.join(work_dir, 'jpegs'), num_images)
  dataset_dir = os.path.join(work_dir, 'records')
  if not os.path.exists(os.path.join(dataset_dir, 'dataset_meta.json')):
    convert_image_folder.run(dataset_dir, images_dir=images_dir,
                             validation_fraction=validation_fraction, num_shards=num_shards)
  return dataset_dir


def digits_tfrecords(dataset_dir):
  """The real sample digits (sample_data/digits) as a custom data set in `dataset_dir`, 20% held
  out in the validation split; written once. Returns dataset_dir."""
  from datasets import convert_image_folder
  if not os.path.exists(os.path.join(dataset_dir, 'dataset_meta.json')):
    convert_image_folder.run(dataset_dir, images_dir=os.path.join(ROOT, 'sample_data', 'digits'),
                             validation_fraction=0.2, num_shards=2)
  return dataset_dir


def machine_description():
  """One paragraph: CPU model, cores, vector/bfloat16 instruction sets, memory, load, versions."""
  import bench_util
  model, flags = bench_util.cpu_model_and_flags()
  if model == 'unknown CPU':
    model = platform.processor() or model
  vector = [f for f in ('avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_bf16',
                        'amx_tile') if f in flags]
  memory = ''
  try:
    with open('/proc/meminfo') as f:
      memory = '%.1f GB RAM' % (int(f.readline().split()[1]) / 2 ** 20)
  except OSError:
    pass
  load = ', '.join('%.1f' % x for x in os.getloadavg())
  try:
    import tensorflow as tf
    version = tf.__version__
  except ImportError:
    version = '?'
  return ('%s, %d cores, %s; instruction sets: %s (bfloat16 native: %s); load average %s; '
          'Python %s, TensorFlow %s' % (model, os.cpu_count() or 0, memory, ' '.join(vector),
                                       'yes' if {'avx512_bf16', 'amx_bf16'} & flags else 'NO',
                                       load, platform.python_version(), version))


_ONEDNN_PROBE = ('import tensorflow\n'
                 'from tensorflow.python.util import _pywrap_util_port\n'
                 'print(int(_pywrap_util_port.IsMklEnabled()))')


def original_environment():
  """Environment for the original path's processes: TensorFlow's own oneDNN choice for this CPU.

  Our scripts switch oneDNN on for every x86 CPU when TF_ENABLE_ONEDNN_OPTS is unset; the original
  scripts did not, so their processes get the value TensorFlow itself picks here, spelled out.
  """
  env = dict(os.environ)
  env.pop('TF_ENABLE_ONEDNN_OPTS', None)
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  result = subprocess.run([sys.executable, '-c', _ONEDNN_PROBE], capture_output=True, text=True,
                          env=env)
  lines = result.stdout.split()
  return {'TF_ENABLE_ONEDNN_OPTS': lines[-1] if lines and lines[-1] in ('0', '1') else '0'}


def git_revision():
  try:
    return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
  except OSError:
    return '?'


def append_result(path, title, command, table_lines, notes=()):
  """Appends a Markdown section (title, command, table, notes, machine) to `path`."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  with open(path, 'a') as f:
    f.write('\n## %s\n\nCommand: `%s` (revision %s)\n\n' % (title, command, git_revision()))
    f.write('\n'.join(table_lines) + '\n\n')
    for note in notes:
      f.write('* %s\n' % note)
    f.write('\nMachine: %s\n' % machine_description())


def dump_json(path, value):
  with open(path, 'w') as f:
    json.dump(value, f, indent=1)
