r"""Where evaluation's time goes: the input alone, the network alone, both, and the step stats.

Builds the graph eval_image_classifier.py builds (inputs.build_model_inputs + the network + the
fetches of `evaluation`), initialises it with random weights, and measures in this one process:

  input       images/s of the input pipeline alone (batches pulled, nothing else run)
  network     images/s of the network alone, on one preprocessed batch fed back in
  both        images/s of the whole evaluation step (as the script runs it)
  step stats  RunMetadata (FULL_TRACE) of --traced network batches: time per op type, and the op
              types that ran (fused kernels show here)

Run it once per configuration (oneDNN is chosen when TensorFlow loads):

  TF_ENABLE_ONEDNN_OPTS=1 python benchmarks/eval_profile.py --input_pipeline=queue
  python benchmarks/eval_profile.py --input_pipeline=tf_data

Not a test; it prints a Markdown table.
"""
import collections
import os
import sys
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from image_classifier import process  # noqa: E402

process.configure(sys.argv)

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

import bench_data  # noqa: E402

flags.DEFINE_string('model_name', 'mobilenet_v1', 'Network.')
flags.DEFINE_string('input_pipeline', 'tf_data', 'queue (the original) or tf_data.')
flags.DEFINE_integer('batch_size', 100, 'Batch size (the script\'s default).')
flags.DEFINE_integer('batches', 6, 'Timed batches per measurement.')
flags.DEFINE_integer('traced', 2, 'Network batches traced for the step stats.')
flags.DEFINE_string('work_dir', '/tmp/eval_speed_bench', 'Benchmark data (bench_data).')
flags.DEFINE_integer('num_images', 2500, 'Images of the benchmark data (80% validation).')
flags.DEFINE_bool('fold_batch_norms', None, 'The port\'s eval-graph rewrite (None: the default).')
FLAGS = flags.FLAGS


def _timed(session, fetch, count, feed=None):
  session.run(fetch, feed)  # warm-up
  start = time.perf_counter()
  images = 0
  for _ in range(count):
    out = session.run(fetch, feed)
    images += len(out[0] if isinstance(out, (list, tuple)) else out)
  return images / (time.perf_counter() - start)


def _op_table(metadata_list, top=14):
  by_type = collections.Counter()
  count = collections.Counter()
  for metadata in metadata_list:
    for device in metadata.step_stats.dev_stats:
      for node in device.node_stats:
        kind = node.timeline_label.split('(')[0].split('= ')[-1].strip() or node.node_name
        kind = kind.split(' ')[0]
        by_type[kind] += node.all_end_rel_micros
        count[kind] += 1
  total = sum(by_type.values()) or 1
  rows = ['| op | ms per batch | share | ops per batch |', '|---|---:|---:|---:|']
  n = max(len(metadata_list), 1)
  for kind, micros in by_type.most_common(top):
    rows.append('| %s | %.1f | %.0f%% | %d |' % (kind, micros / 1e3 / n, 100.0 * micros / total,
                                                 count[kind] // n))
  rows.append('| (all) | %.1f | 100%% | %d |' % (total / 1e3 / n, sum(count.values()) // n))
  return rows


def main(argv):
  del argv
  from datasets import dataset_factory
  from image_classifier import evaluation
  from image_classifier import inputs
  from image_classifier import precision
  dataset_dir = bench_data.make_tfrecords(FLAGS.work_dir, num_images=FLAGS.num_images)
  opts = types.SimpleNamespace(
      model_name=FLAGS.model_name, preprocessing_name=None, labels_offset=0, use_grayscale=False,
      eval_image_size=None, batch_size=FLAGS.batch_size, input_pipeline=FLAGS.input_pipeline,
      num_preprocessing_threads=4, dataset_name='custom', dataset_dir=dataset_dir)
  if FLAGS.fold_batch_norms is not None:
    opts.fold_batch_norms = FLAGS.fold_batch_norms
  dataset = dataset_factory.get_dataset('custom', 'validation', dataset_dir)
  with tf.Graph().as_default():
    tf.train.get_or_create_global_step()
    _, network_fn, next_batch = inputs.build_model_inputs(opts, dataset, is_training=False,
                                                          num_epochs=None)
    images, labels = next_batch()
    fed = tf.placeholder_with_default(images, images.shape)
    fetches = evaluation.model_fetches(opts, network_fn, fed, labels, dataset.num_classes)
    config = precision.session_config('none')
    with tf.train.MonitoredSession(session_creator=tf.train.ChiefSessionCreator(
        config=config)) as session:
      raw = session._tf_sess()  # noqa: SLF001 (a benchmark: hooks are not wanted here)
      input_rate = _timed(raw, [images, labels], FLAGS.batches)
      batch = raw.run(images)
      network_rate = _timed(raw, fetches[:1], FLAGS.batches, {fed: batch})
      both_rate = _timed(raw, fetches, FLAGS.batches)
      traces = []
      for _ in range(FLAGS.traced):
        metadata = tf.RunMetadata()
        raw.run(fetches[:1], {fed: batch},
                options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE,
                                      output_partition_graphs=True),
                run_metadata=metadata)
        traces.append(metadata)
  kinds = collections.Counter(node.op for graph in traces[-1].partition_graphs
                              for node in graph.node)
  print('## %s, --input_pipeline=%s, TF_ENABLE_ONEDNN_OPTS=%s, oneDNN in use: %s\n' % (
      FLAGS.model_name, FLAGS.input_pipeline, os.environ.get('TF_ENABLE_ONEDNN_OPTS'),
      __import__('foundation.internals', fromlist=['x']).onednn_enabled()))
  print('| measured | images/s |\n|---|---:|')
  print('| input alone | %.1f |\n| network alone (fed batch) | %.1f |\n| whole step | %.1f |\n'
        % (input_rate, network_rate, both_rate))
  print('\n'.join(_op_table(traces)))
  print('\nexecuted op types: ' + ', '.join('%s %d' % kv for kv in sorted(kinds.items())))
  print('\n' + bench_data.machine_description())


if __name__ == '__main__':
  app.run(main)
