"""Input pipeline alone: decode + inception training preprocessing at 224, batch 32, images/sec.

Both paths of `image_classifier.inputs.batches` read the same synthetic photo-sized JPEG TFRecords: the
original (`queue`: DatasetDataProvider + tf.train.batch on queue-runner threads) and `tf_data`. They
run alternately, several rounds, each in a fresh graph and session; the medians and their ratio are
printed and appended to benchmarks/results/input.md.

  python benchmarks/input_benchmark.py --rounds=3 --batches=30
"""
import os
import statistics
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_data  # noqa: E402  (puts the project root on sys.path too)
from image_classifier import process  # noqa: E402

process.configure(sys.argv)  # as a script: graph mode, speed-ups, oneDNN on x86

flags.DEFINE_integer('rounds', 3, 'Alternating rounds per path.')
flags.DEFINE_integer('batches', 30, 'Measured batches per round (after 5 warm-up batches).')
flags.DEFINE_integer('batch_size', 32, 'Images per batch.')
flags.DEFINE_integer('image_size', 224, 'Output side of the preprocessing.')
flags.DEFINE_integer('num_threads', 4, 'Preprocessing threads (--num_preprocessing_threads).')
flags.DEFINE_string('work_dir', '/tmp/slim_bench', 'Where the synthetic data set is made (reused).')
flags.DEFINE_string('output', os.path.join(bench_data.ROOT, 'benchmarks', 'results', 'input.md'),
                    'Markdown file the results are appended to ("" = print only).')
FLAGS = flags.FLAGS


def images_per_sec(dataset_dir, pipeline):
  import tensorflow.compat.v1 as tf
  from datasets import dataset_factory
  from preprocessing import preprocessing_factory
  from image_classifier import inputs
  with tf.Graph().as_default():
    dataset = dataset_factory.get_dataset('custom', 'validation', dataset_dir)
    preprocess = preprocessing_factory.get_preprocessing('inception', is_training=True)
    next_batch = inputs.batches(dataset, preprocess, FLAGS.image_size, FLAGS.batch_size,
                                is_training=True, pipeline=pipeline,
                                num_threads=FLAGS.num_threads)
    images, labels = next_batch()
    with tf.train.MonitoredSession() as session:
      for _ in range(5):
        session.run([images, labels])
      start = time.time()
      for _ in range(FLAGS.batches):
        session.run([images, labels])
      return FLAGS.batches * FLAGS.batch_size / (time.time() - start)


def main(_):
  dataset_dir = bench_data.make_tfrecords(FLAGS.work_dir)
  rates = {'queue': [], 'tf_data': []}
  for r in range(FLAGS.rounds):
    for pipeline in ('queue', 'tf_data'):
      rates[pipeline].append(images_per_sec(dataset_dir, pipeline))
      print('round %d %-8s %.1f images/sec' % (r + 1, pipeline, rates[pipeline][-1]), flush=True)
  original, fast = (statistics.median(rates[p]) for p in ('queue', 'tf_data'))
  table = ['| path | images/sec (median of %d) |' % FLAGS.rounds, '| --- | --- |',
           '| original (queue runners) | %.1f |' % original, '| tf_data | %.1f |' % fast,
           '| ratio | %.2fx |' % (fast / original)]
  print('\n'.join(table))
  if FLAGS.output:
    bench_data.append_result(
        FLAGS.output, 'Input pipeline: decode + inception train preprocessing %d, batch %d'
        % (FLAGS.image_size, FLAGS.batch_size), ' '.join(['python'] + sys.argv), table)


if __name__ == '__main__':
  app.run(main)
