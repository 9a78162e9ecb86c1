r"""Evaluation speed of eval_image_classifier.py over a 1,000-image split, side by side.

  original  --input_pipeline=queue (the compatibility path: DatasetDataProvider + tf.train.batch)
  tf_data   the default tf.data pipeline
  bf16      tf_data with --mixed_precision=bfloat16

The same checkpoint (random weights of --model, saved once) is evaluated by each configuration as
its own command, alternately, --rounds times. images/sec is what the script reports (examples /
seconds from session creation to the last batch); the whole command's wall time is reported too.

  python benchmarks/eval_benchmark.py --output=benchmarks/results/speed.md
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import bench_data  # noqa: E402

flags.DEFINE_string('model', 'mobilenet_v1', 'Model evaluated.')
flags.DEFINE_string('configs', 'original,tf_data,bf16', 'Configurations.')
flags.DEFINE_integer('rounds', 2, 'Alternating rounds.')
flags.DEFINE_integer('batch', 100, 'Evaluation batch size (the script\'s default).')
flags.DEFINE_string('work_dir', os.path.join(tempfile.gettempdir(), 'slim_speed_bench'),
                    'Where the synthetic data (shared with train_benchmark.py) goes.')
flags.DEFINE_string('output', '', 'Append the Markdown results to this file.')
FLAGS = flags.FLAGS

_CONFIGS = {'original': (['--input_pipeline=queue'], None),  # None: TensorFlow's own oneDNN choice
            'tf_data': ([], {}),
            'bf16': (['--mixed_precision=bfloat16'], {})}


def _checkpoint(dataset_dir, train_dir):
  """A random-weights checkpoint of the model (global step 0), written once."""
  if os.path.exists(os.path.join(train_dir, 'checkpoint')):
    return train_dir
  from image_classifier import process
  process.configure(sys.argv)
  import tensorflow.compat.v1 as tf
  from datasets import dataset_factory
  from nets import nets_factory
  classes = dataset_factory.get_dataset('custom', 'validation', dataset_dir).num_classes
  with tf.Graph().as_default():
    tf.train.get_or_create_global_step()
    network_fn = nets_factory.get_network_fn(FLAGS.model, classes, is_training=False)
    size = network_fn.default_image_size
    network_fn(tf.zeros([1, size, size, 3]))
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      tf.train.Saver().save(session, os.path.join(train_dir, 'model.ckpt'), global_step=0)
  return train_dir


def main(argv):
  del argv
  dataset_dir = bench_data.make_tfrecords(FLAGS.work_dir)
  checkpoint = _checkpoint(dataset_dir, os.path.join(FLAGS.work_dir, 'eval_ckpt_' + FLAGS.model))
  configs = [c for c in FLAGS.configs.split(',') if c]
  original_env = bench_data.original_environment()
  speed = {c: [] for c in configs}
  wall = {c: [] for c in configs}
  for round_index in range(FLAGS.rounds):
    for config in configs:
      extra, env = _CONFIGS[config]
      eval_dir = tempfile.mkdtemp(dir=FLAGS.work_dir, prefix='eval_%s_' % config)
      command = [sys.executable, os.path.join(ROOT, 'eval_image_classifier.py'),
                 '--checkpoint_path=%s' % checkpoint, '--eval_dir=%s' % eval_dir,
                 '--dataset_name=custom', '--dataset_split_name=validation',
                 '--dataset_dir=%s' % dataset_dir, '--model_name=%s' % FLAGS.model,
                 '--batch_size=%d' % FLAGS.batch] + extra
      environment = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='2')
      environment.pop('TF_ENABLE_ONEDNN_OPTS', None)
      environment.update(original_env if env is None else env)
      start = time.time()
      result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT)
      wall[config].append(time.time() - start)
      if result.returncode:
        print('%s failed:\n%s' % (config, result.stderr[-3000:]), flush=True)
        continue
      with open(os.path.join(eval_dir, 'per_class_accuracy.json')) as f:
        report = json.load(f)
      speed[config].append(report['images_per_sec'])
      print('round %d %s: %d images, %.1f images/sec, command %.1f s' % (
          round_index, config, report['num_examples'], report['images_per_sec'],
          wall[config][-1]), flush=True)
  median = {c: statistics.median(v) if v else float('nan') for c, v in speed.items()}
  lines = ['| %s eval, 1,000 images | images/sec (median) | vs original | command s |'
           % FLAGS.model, '|---|---|---|---|']
  for config in configs:
    lines.append('| %s | %.1f | %.2fx | %.1f |' % (
        config, median[config], median[config] / median.get('original', float('nan')),
        statistics.median(wall[config])))
  notes = ['batch %d, %d alternating rounds, random weights (speed does not depend on them)'
           % (FLAGS.batch, FLAGS.rounds),
           'original ran with TensorFlow\'s own oneDNN choice for this CPU (TF_ENABLE_ONEDNN_OPTS=%s);'
           ' the others with the scripts\' default' % original_env['TF_ENABLE_ONEDNN_OPTS']]
  print('\n'.join(lines))
  if FLAGS.output:
    bench_data.append_result(FLAGS.output, 'Evaluation', 'python benchmarks/eval_benchmark.py '
                             + ' '.join(sys.argv[1:]), lines, notes)


if __name__ == '__main__':
  app.run(main)
