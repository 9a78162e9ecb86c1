r"""Benchmarks every network of the model zoo on this machine and prints a Markdown table.

For each model name of `nets_factory.networks_map` (or those given with --models) it reports:
  * graph build time: seconds to build the inference graph (is_training=False) through the factory;
  * parameters: scalars in the trainable variables (weights, biases, batch-norm beta/gamma; the
    batch-norm moving averages are not counted);
  * multiply-adds at the model's default input size for one image, counted from the graph by
    `image_classifier.model_stats.multiply_adds` (convolutions and fully connected layers, from the static
    op shapes; batch norm, activations, pooling and additions are not counted -- what the papers
    call FLOPs or Mult-Adds);
  * CPU latency: median wall time of `--runs` single-image inferences (random weights, random
    image) after `--warmup` runs, in one session with TensorFlow's default threading unless
    --num_threads is given.

Usage:
  python benchmarks/zoo_benchmark.py
  python benchmarks/zoo_benchmark.py --models=mobilenet_v1,shufflenet_v2 --runs=10
  python benchmarks/zoo_benchmark.py --output=benchmarks/results/zoo.md

This is a benchmark, not a test: it asserts nothing and is not collected by pytest.
"""
import datetime
import gc
import inspect
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from absl import flags  # noqa: E402

from image_classifier import process  # noqa: E402

process.configure(sys.argv)  # as a script: graph mode, speed-ups, oneDNN on x86

from image_classifier import cli  # noqa: E402
from image_classifier import model_stats  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

from nets import nets_factory  # noqa: E402

flags.DEFINE_list('models', None, 'Comma-separated model names (default: every registered one).')
flags.DEFINE_integer('runs', 5, 'Timed single-image inferences per model (the median is shown).')
flags.DEFINE_integer('warmup', 2, 'Untimed inferences before timing.')
flags.DEFINE_integer('num_threads', 0,
                     'Intra- and inter-op threads of the session; 0 = TensorFlow\'s default.')
flags.DEFINE_integer('num_frames', 64, 'Frames of the clip fed to the video networks.')
flags.DEFINE_string('output', None,
                    'Also write the table, the machine description and the command to this file.')
FLAGS = flags.FLAGS

# Networks whose input is a clip [batch, frames, height, width, 3] rather than an image.
VIDEO_NETS = ('i3d', 's3dg')
# Networks trained on grey images (LeNet on MNIST).
GREY_NETS = ('lenet',)


def input_shape(name, image_size):
  channels = 1 if name in GREY_NETS else 3
  if name in VIDEO_NETS:
    return [1, FLAGS.num_frames, image_size, image_size, channels]
  return [1, image_size, image_size, channels]


def num_classes_of(spec):
  """The published checkpoint's class count, else the network's own default, else 1000."""
  if spec.checkpoint_classes:
    return spec.checkpoint_classes
  try:
    default = inspect.signature(spec.fn).parameters['num_classes'].default
  except (KeyError, TypeError, ValueError):
    default = None
  return default if isinstance(default, int) and default > 0 else 1000


def benchmark(name):
  """A dict of measurements for one model (an 'error' entry when the model cannot be built)."""
  spec = nets_factory.network_spec(name)
  num_classes = num_classes_of(spec)
  network_fn = nets_factory.get_network_fn(name, num_classes=num_classes, is_training=False)
  size = getattr(network_fn, 'default_image_size', 224)
  shape = input_shape(name, size)
  row = {'name': name, 'input': 'x'.join(str(d) for d in shape[1:]), 'classes': num_classes}
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, shape, name='images')
    start = time.perf_counter()
    logits, _ = network_fn(images)
    row['build_s'] = time.perf_counter() - start
    row['params'] = model_stats.parameter_count(tf.trainable_variables())
    try:
      row['madds'] = model_stats.multiply_adds(graph)
    except ValueError as e:  # a dynamic shape somewhere in the graph
      row['madds'] = None
      row['note'] = str(e)
    init = tf.global_variables_initializer()
  config = tf.ConfigProto()
  if FLAGS.num_threads:
    config.intra_op_parallelism_threads = FLAGS.num_threads
    config.inter_op_parallelism_threads = FLAGS.num_threads
  image = np.random.RandomState(0).uniform(-1, 1, shape).astype(np.float32)
  with tf.Session(graph=graph, config=config) as sess:
    sess.run(init)
    for _ in range(FLAGS.warmup):
      sess.run(logits, {images: image})
    times = []
    for _ in range(FLAGS.runs):
      start = time.perf_counter()
      sess.run(logits, {images: image})
      times.append(time.perf_counter() - start)
  row['latency_ms'] = 1000 * statistics.median(times)
  return row


def _millions(value):
  return 'n/a' if value is None else '{:,.1f}'.format(value / 1e6)


def markdown_table(rows):
  lines = ['| model | input | classes | build (s) | params (M) | mult-adds (M) '
           '| CPU latency (ms) |',
           '|---|---|---:|---:|---:|---:|---:|']
  for row in rows:
    if 'error' in row:
      lines.append('| %s | | | error: %s | | | |' % (row['name'], row['error']))
      continue
    lines.append('| %s | %s | %d | %.1f | %s | %s | %.1f |' % (
        row['name'], row['input'], row['classes'], row['build_s'], _millions(row['params']),
        _millions(row['madds']), row['latency_ms']))
  return '\n'.join(lines)


def machine_description():
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  threads = FLAGS.num_threads or 'TensorFlow default'
  # Latency is only comparable between runs on an otherwise idle machine: record how busy it was.
  load = ', '.join('%.1f' % x for x in os.getloadavg()) if hasattr(os, 'getloadavg') else 'n/a'
  return ('%s, %d logical CPUs (session threads: %s); %s; Python %s; TensorFlow %s; '
          'load average at the end (1, 5, 15 min): %s'
          % (cpu, os.cpu_count(), threads, platform.platform(), platform.python_version(),
             tf.__version__, load))


def main(argv):
  del argv
  tf.logging.set_verbosity(tf.logging.WARN)
  names = FLAGS.models or nets_factory.model_names()
  for name in names:  # fail on a typo before spending minutes on the others
    nets_factory.network_spec(name)
  rows = []
  for name in names:
    sys.stderr.write('benchmarking %s...\n' % name)
    try:
      rows.append(benchmark(name))
    except Exception as e:  # noqa: BLE001  one broken net must not hide the others' numbers
      rows.append({'name': name, 'error': '%s: %s' % (type(e).__name__, str(e).splitlines()[0]
                                                      if str(e) else '')})
    gc.collect()
  table = markdown_table(rows)
  print(table)
  if FLAGS.output:
    command = 'python ' + ' '.join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    with open(FLAGS.output, 'w') as f:
      f.write('# Model zoo benchmark\n\n')
      f.write('Date: %s UTC\n\n' % datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M'))
      f.write('Machine: %s\n\n' % machine_description())
      f.write('Command: `%s`\n\n' % command)
      f.write('Build time: inference graph (is_training=False) through nets_factory. Parameters: '
              'trainable variables. Mult-adds: convolutions and fully connected layers for one '
              'input at the default size, counted from the graph\'s op shapes '
              '(image_classifier/model_stats.py). Latency: median of %d single-input runs after %d '
              'warm-up runs, random weights.\n\n' % (FLAGS.runs, FLAGS.warmup))
      f.write(table + '\n')


if __name__ == '__main__':
  cli.run(main)
