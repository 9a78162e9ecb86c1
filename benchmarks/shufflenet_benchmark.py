r"""ms/image of ShuffleNet V1 (g3) and V2 (1.0x) against MobileNet V1 and V2 on this CPU, TF and TFLite.

Configurations (random weights; speed does not depend on them):
  * shufflenet_v1 (split): the first port's grouped convolutions, one convolution per group
    between a split and a concat (built with `formulation='split'` through an arg scope, inside
    this benchmark only);
  * shufflenet_v1: the current formulation (block-diagonal kernel, one convolution);
  * shufflenet_v1 (grouped): the grouped convolutions as TensorFlow's grouped Conv2D. In TFLite
    that is what export_model.py --format=tflite writes (TFLite runs them natively); in TF (backend
    tf) it is what eval_image_classifier.py builds where TensorFlow runs it fused (oneDNN on, no
    GPU); in tf_frozen, the block-diagonal frozen graph (the portable form export writes) with
    its convolutions pointed at the grouped weights as label_image.py and eval_exported_model.py
    load it there (`shufflenet_utils.grouped_convs_from_block_diagonal`). Left out of both TF
    backends where TensorFlow does not run grouped Conv2Ds fused;
  * shufflenet_v2, mobilenet_v1, mobilenet_v2: as registered in nets_factory.
Backends:
  * tf: inference graph (is_training=False) in a TF session (graph mode, TensorFlow's default
    threads), one feed of --batch_size images per run;
  * tf_frozen: the same graph with its variables turned into constants (what freeze_graph.py
    writes and label_image.py runs), in a new TF session: Grappler folds what depends on the
    weights only (the block-diagonal kernels, batch norms) once, when the graph is first run;
  * tflite: the float TFLite model the exporter writes (TFLiteConverter.from_session, as
    export_model.py --format=tflite), run by tf.lite.Interpreter with --tflite_threads threads.
Every configuration is built first, then --rounds rounds run them alternately; a round times
--runs runs of each and keeps their median. Shown: the median over rounds (ms per image), the
spread of the rounds ((max - min) / median) and the ratio to mobilenet_v2 of the same backend and
batch.

Usage:
  python benchmarks/shufflenet_benchmark.py --backend=tf --batch_size=1
  python benchmarks/shufflenet_benchmark.py --backend=tf --batch_size=32 --runs=3
  python benchmarks/shufflenet_benchmark.py --backend=tf_frozen --batch_size=1
  python benchmarks/shufflenet_benchmark.py --backend=tflite --batch_size=1

This is a benchmark, not a test: it asserts nothing and is not collected by pytest.
"""
import os
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
from image_classifier import model_info  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402
import tf_slim as slim  # noqa: E402

import bench_data  # noqa: E402  (benchmarks/ is on sys.path as the script's folder)
from nets import nets_factory  # noqa: E402
from nets import shufflenet_utils  # noqa: E402

flags.DEFINE_enum('backend', 'tf', ['tf', 'tf_frozen', 'tflite'],
                  'TF session (variables or frozen constants) or TFLite interpreter.')
flags.DEFINE_integer('batch_size', 1, 'Images per run.')
flags.DEFINE_integer('rounds', 7, 'Alternating rounds.')
flags.DEFINE_integer('runs', 10, 'Timed runs per configuration and round (their median is kept).')
flags.DEFINE_integer('warmup', 3, 'Untimed runs per configuration before the first round.')
flags.DEFINE_integer('tflite_threads', 2, 'Threads of the TFLite interpreter.')
flags.DEFINE_string('output', None, 'Append the table, command and machine to this Markdown file.')
FLAGS = flags.FLAGS

BASELINE = 'mobilenet_v2'
# (label, model name, grouped-convolution formulation or None for the registered network)
CONFIGS = (('shufflenet_v1 (split, before)', 'shufflenet_v1', 'split'),
           ('shufflenet_v1', 'shufflenet_v1', None),
           ('shufflenet_v1 (grouped)', 'shufflenet_v1', 'grouped'),
           ('shufflenet_v2', 'shufflenet_v2', None),
           ('mobilenet_v1', 'mobilenet_v1', None),
           ('mobilenet_v2', 'mobilenet_v2', None))


def _session(name, formulation, batch_size):
  """(session, images placeholder, logits) of the inference graph, variables initialised."""
  spec = nets_factory.network_spec(name)
  num_classes = spec.checkpoint_classes or 1000
  network_fn = nets_factory.get_network_fn(name, num_classes=num_classes, is_training=False)
  size = network_fn.default_image_size
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [batch_size, size, size, 3], name='images')
    if formulation:
      with slim.arg_scope([shufflenet_utils.grouped_conv2d], formulation=formulation):
        logits, _ = network_fn(images)
    else:
      logits, _ = network_fn(images)
    init = tf.global_variables_initializer()
  session = tf.Session(graph=graph)
  session.run(init)
  return session, images, logits


def _runner(name, formulation, batch_size, backend):
  """A no-argument function running one inference of `batch_size` random images."""
  frozen_grouped = backend == 'tf_frozen' and formulation == 'grouped'
  session, images, logits = _session(name, None if frozen_grouped else formulation, batch_size)
  batch = np.random.RandomState(0).uniform(
      -1, 1, images.shape.as_list()).astype(np.float32)
  if backend == 'tf':
    return lambda: session.run(logits, {images: batch})
  if backend == 'tf_frozen':
    frozen = tf.graph_util.convert_variables_to_constants(
        session, session.graph.as_graph_def(), [logits.op.name])
    session.close()
    if frozen_grouped:
      shufflenet_utils.grouped_convs_from_block_diagonal(frozen)
    graph = tf.Graph()
    with graph.as_default():
      tf.import_graph_def(frozen, name='')
    frozen_session = tf.Session(graph=graph)
    feeds, fetch = graph.get_tensor_by_name(images.name), graph.get_tensor_by_name(logits.name)
    return lambda: frozen_session.run(fetch, {feeds: batch})
  converter = tf.lite.TFLiteConverter.from_session(session, [images], [logits])
  model = converter.convert()
  session.close()
  interpreter = tf.lite.Interpreter(model_content=model, num_threads=FLAGS.tflite_threads)
  interpreter.allocate_tensors()
  input_index = interpreter.get_input_details()[0]['index']
  output_index = interpreter.get_output_details()[0]['index']

  def run():
    interpreter.set_tensor(input_index, batch)
    interpreter.invoke()
    return interpreter.get_tensor(output_index)
  return run


def _median_ms(run, runs):
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return 1000 * statistics.median(times)


def main(argv):
  del argv
  tf.logging.set_verbosity(tf.logging.WARN)
  load_before = os.getloadavg()
  runners = {}
  for label, name, formulation in CONFIGS:
    if formulation == 'grouped' and not (
        FLAGS.backend == 'tflite'
        or model_info.native_grouped_convs_run_here()):
      sys.stderr.write('skipping %s: TensorFlow here does not run grouped Conv2Ds fused '
                       '(oneDNN off or a GPU)\n' % label)
      continue
    sys.stderr.write('building %s (%s)...\n' % (label, FLAGS.backend))
    runners[label] = _runner(name, formulation, FLAGS.batch_size, FLAGS.backend)
    for _ in range(FLAGS.warmup):
      runners[label]()
  per_round = {label: [] for label in runners}
  for _ in range(FLAGS.rounds):
    for label, run in runners.items():
      per_round[label].append(_median_ms(run, FLAGS.runs) / FLAGS.batch_size)
  load_after = os.getloadavg()
  medians = {label: statistics.median(values) for label, values in per_round.items()}
  lines = ['| network (%s, batch %d) | ms/image | spread | vs %s | rounds (ms/image) |'
           % (FLAGS.backend, FLAGS.batch_size, BASELINE),
           '|---|---:|---:|---:|---|']
  for label, values in per_round.items():
    spread = (max(values) - min(values)) / medians[label]
    lines.append('| %s | %.2f | %.0f%%%s | %.2f | %s |' % (
        label, medians[label], 100 * spread, ' (>10%)' if spread > 0.10 else '',
        medians[label] / medians[BASELINE], ' '.join('%.1f' % v for v in values)))
  notes = ['%d alternating rounds x %d timed runs (median per round) after %d warm-up runs; '
           'random weights; %s' % (FLAGS.rounds, FLAGS.runs, FLAGS.warmup,
                                   'TF session, default threads' if FLAGS.backend == 'tf' else
                                   'frozen graph in a TF session, default threads'
                                   if FLAGS.backend == 'tf_frozen' else
                                   'tf.lite.Interpreter, %d threads' % FLAGS.tflite_threads),
           'load average (1, 5, 15 min) before: %s; after: %s' % (
               ', '.join('%.1f' % x for x in load_before),
               ', '.join('%.1f' % x for x in load_after))]
  print('\n'.join(lines))
  print('\n'.join(notes))
  print(bench_data.machine_description())
  if FLAGS.output:
    command = 'python ' + ' '.join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    bench_data.append_result(FLAGS.output, 'ShuffleNet vs MobileNet: %s, batch %d'
                             % (FLAGS.backend, FLAGS.batch_size), command, lines, notes)


if __name__ == '__main__':
  cli.run(main)
