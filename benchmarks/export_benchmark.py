r"""CPU speed of each served form of one model, measured in one run, against the checkpoint's graph.

Exports the model from its checkpoint (SavedModel, frozen graph, TFLite float32 / float16 / int8)
into a temporary folder, then for each form measures:
  * single-image latency: median wall time of --runs inferences of one preprocessed image, after
    --warmup untimed ones;
  * batch throughput: images/sec of --batch_size-image batches (median of --runs batches);
and the ratio of each to the checkpoint's own graph (TF session, same process).
The SavedModel is timed through `predict_images` (preprocessed images, like the other forms) and,
as an extra row, through `serving_default` (JPEG bytes in: decoding + preprocessing included).

Usage:
  python benchmarks/export_benchmark.py   # mobilenet_v2 with ../shared's checkpoint
  python benchmarks/export_benchmark.py --output=benchmarks/results/export.md
  python benchmarks/export_benchmark.py --model_name=mobilenet_v1_025 \
      --checkpoint_path=../shared/data/pretrained/mobilenet_v1_0.25_128/mobilenet_v1_0.25_128.ckpt

int8 calibration uses --calibration_images random images (speed does not depend on the ranges).
This is a benchmark, not a test: it asserts nothing and is not collected by pytest.
"""
import os
import platform
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from absl import flags  # noqa: E402

from image_classifier import process  # noqa: E402

process.configure(sys.argv)  # as a script: graph mode, speed-ups, oneDNN on x86

from image_classifier import cli  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_util  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

_SHARED = os.path.join(os.path.dirname(ROOT), 'shared', 'data')
flags.DEFINE_string('model_name', 'mobilenet_v2', 'Network name in nets_factory.')
flags.DEFINE_string('checkpoint_path', os.path.join(
    _SHARED, 'pretrained', 'mobilenet_v2_1.0_224', 'mobilenet_v2_1.0_224.ckpt'), 'Checkpoint.')
flags.DEFINE_integer('num_classes', 1001, 'Classes of the checkpoint\'s logits.')
flags.DEFINE_string('image', os.path.join(_SHARED, 'images', 'coral_parrot.jpg'),
                    'Photo fed to the forms (JPEG/PNG).')
flags.DEFINE_integer('batch_size', 32, 'Images per batch of the throughput measurement.')
flags.DEFINE_integer('rounds', 3, 'Alternating rounds over all the forms (medians and spread '
                     'are over rounds).')
flags.DEFINE_integer('runs', 10, 'Timed runs (the median is shown).')
flags.DEFINE_integer('warmup', 3, 'Untimed runs before timing.')
flags.DEFINE_integer('num_threads', 2, 'Threads of the TFLite interpreter (TF sessions use TensorFlow\'s '
                     'default: every core).')
flags.DEFINE_integer('calibration_images', 8, 'Random images calibrating the int8 model.')
flags.DEFINE_string('output', None, 'Also write the table, machine and command to this file.')
FLAGS = flags.FLAGS


def _median_seconds(fn, runs, warmup):
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def _export_all(info, folder):
  from image_classifier import exporting
  checkpoint = FLAGS.checkpoint_path
  paths = {'frozen graph': os.path.join(folder, 'frozen.pb'),
           'SavedModel': os.path.join(folder, 'saved_model'),
           'TFLite float32': os.path.join(folder, 'float32.tflite'),
           'TFLite float16': os.path.join(folder, 'float16.tflite'),
           'TFLite int8': os.path.join(folder, 'int8.tflite')}
  exporting.export_frozen_graph(info, checkpoint, paths['frozen graph'])
  exporting.export_saved_model(info, checkpoint, paths['SavedModel'])
  exporting.export_tflite(info, checkpoint, paths['TFLite float32'])
  exporting.export_tflite(info, checkpoint, paths['TFLite float16'], 'float16')
  rng = np.random.RandomState(0)
  calibration = rng.uniform(-1, 1, [FLAGS.calibration_images, info.image_size, info.image_size, 3])
  exporting.export_tflite(info, checkpoint, paths['TFLite int8'], 'int8',
                        calibration_images=calibration.astype(np.float32))
  return paths


def _load_forms(info, paths, image, batch, photo):
  """[(form name, path, model, one-image call, batch call)] with every form loaded."""
  from image_classifier import serving
  forms = [('checkpoint graph', None)] + list(paths.items()) + [('SavedModel, JPEG bytes in',
                                                                 paths['SavedModel'])]
  loaded = []
  for name, path in forms:
    if path is None:
      model = serving.CheckpointModel(info, FLAGS.checkpoint_path)
    elif name.startswith('TFLite'):
      model = serving.TFLiteModel(path, num_threads=FLAGS.num_threads)
    else:
      model = serving.load(path)
    if name == 'SavedModel, JPEG bytes in':
      one = lambda m=model: m.classify([photo])  # noqa: E731
      many = lambda m=model: m.classify([photo] * FLAGS.batch_size)  # noqa: E731
    else:
      one = lambda m=model: m.logits(image)  # noqa: E731
      many = lambda m=model: m.logits(batch)  # noqa: E731
    loaded.append((name, path, model, one, many))
  return loaded


def measure():
  """Every form timed in each of --rounds alternating rounds; rows with medians and spreads."""
  from image_classifier import model_info
  from image_classifier import serving
  info = model_info.describe(FLAGS.model_name, None, None, num_classes=FLAGS.num_classes)
  image = serving.preprocess_files(info, [FLAGS.image])
  batch = np.repeat(image, FLAGS.batch_size, axis=0)
  with open(FLAGS.image, 'rb') as f:
    photo = f.read()
  rows = []
  with tempfile.TemporaryDirectory() as folder:
    paths = _export_all(info, folder)
    loaded = _load_forms(info, paths, image, batch, photo)
    by_name = {entry[0]: entry for entry in loaded}

    def run_one(name, round_index):
      sys.stderr.write('round %d: timing %s...\n' % (round_index, name))
      _, _, _, one, many = by_name[name]
      return (_median_seconds(one, FLAGS.runs, FLAGS.warmup),
              _median_seconds(many, max(3, FLAGS.runs // 2), 1))

    timings = bench_util.alternating_rounds(FLAGS.rounds, [e[0] for e in loaded], run_one)
    for name, path, model, _, _ in loaded:
      latencies = [t[0] * 1e3 for t in timings[name]]
      throughputs = [FLAGS.batch_size / t[1] for t in timings[name]]
      size = (os.path.getsize(path) if path and os.path.isfile(path) else
              sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
              if path else None)
      rows.append({'form': name, 'latency_ms': bench_util.median(latencies),
                   'latency_spread': bench_util.spread(latencies),
                   'throughput': bench_util.median(throughputs),
                   'throughput_spread': bench_util.spread(throughputs),
                   'size_mb': size and size / 2 ** 20})
      model.close()
  return rows


def _spread_cell(value):
  text = '%.0f%%' % (100 * value) if value == value else 'n/a'
  return text + (' (noisy)' if value == value and value > bench_util.SPREAD_LIMIT else '')


def markdown_table(rows):
  base = rows[0]
  lines = ['| form | size (MB) | 1-image latency (ms) | spread | vs checkpoint | batch-%d '
           'throughput (images/s) | spread | vs checkpoint |' % FLAGS.batch_size,
           '|---|---:|---:|---:|---:|---:|---:|---:|']
  for row in rows:
    lines.append('| %s | %s | %.1f | %s | %.2fx | %.1f | %s | %.2fx |' % (
        row['form'], '%.1f' % row['size_mb'] if row['size_mb'] else '-', row['latency_ms'],
        _spread_cell(row['latency_spread']), base['latency_ms'] / row['latency_ms'],
        row['throughput'], _spread_cell(row['throughput_spread']),
        row['throughput'] / base['throughput']))
  lines.append('')
  lines.append('"vs checkpoint": speed-up over the checkpoint\'s own graph (>1 = faster). Medians '
               'of %d alternating rounds (each the median of --runs=%d runs); spread = (max - min) '
               '/ median of the rounds, "noisy" above %.0f%%.' % (
                   FLAGS.rounds, FLAGS.runs, 100 * bench_util.SPREAD_LIMIT))
  return '\n'.join(lines)


def machine_description():
  cpu = platform.processor() or platform.machine()
  if os.path.exists('/proc/cpuinfo'):
    with open('/proc/cpuinfo') as f:
      cpu = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), cpu)
  # Timings are only comparable on an otherwise idle machine: record how busy it was.
  load = ', '.join('%.1f' % x for x in os.getloadavg())
  return ('%s, %d logical CPUs (TFLite threads: %d; TF sessions: default); %s; Python %s; TensorFlow %s; '
          'load average at the end (1, 5, 15 min): %s'
          % (cpu, os.cpu_count(), FLAGS.num_threads, platform.platform(),
             platform.python_version(), tf.__version__, load))


def main(argv):
  del argv
  tf.logging.set_verbosity(tf.logging.WARN)
  rows = measure()
  table = markdown_table(rows)
  print(table)
  if FLAGS.output:
    command = 'python ' + ' '.join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    with open(FLAGS.output, 'w') as f:
      f.write('# Export benchmark: %s, each served form on CPU\n\n' % FLAGS.model_name)
      f.write('Machine: %s\n\n%s\n\n' % (machine_description(), bench_util.cpu_flags_line()))
      f.write('Command: `%s`\n\n' % command)
      f.write(table + '\n')


if __name__ == '__main__':
  cli.run(main)
