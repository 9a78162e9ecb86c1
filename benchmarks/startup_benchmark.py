r"""Start-up of each script: seconds from the command to its first useful output, port vs original.

  training    train_image_classifier.py, to the end of its first step (its step-1 log line);
              original: train_benchmark.py's original worker (--input_pipeline=queue +
              slim.learning.train with the original script's summaries), to its step-1 line
  evaluation  eval_image_classifier.py --max_num_batches=1, to its first batch's result line;
              original: the same with --input_pipeline=queue and SLIM_TF_SPEEDUPS=0
              (eval_benchmark.py's original: TensorFlow's and tf-slim's own code paths)
  export      export_inference_graph.py, to its "Wrote" line (file written); original: the
              original script's path (tensorflow.compat.v1 + tf_slim, every network and data set
              module imported by the factories, graph built in a tf.Graph, GraphDef written
              with tf.io.gfile), to its own "Wrote" line

The original configurations run with TensorFlow's own oneDNN choice for this CPU. Rounds
alternate (original, port, original, port, ...); medians, spreads and the ratio are printed.

  python benchmarks/startup_benchmark.py --scripts=train,eval,export --rounds=3

A benchmark, not a test; hold /work/cpu.lock exclusively while it runs.
"""
import os
import re
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
import bench_util  # noqa: E402

flags.DEFINE_string('scripts', 'train,eval,export', 'Scripts timed.')
flags.DEFINE_string('model', 'inception_v3', 'Network of every script.')
flags.DEFINE_integer('rounds', 3, 'Alternating rounds.')
flags.DEFINE_integer('train_batch', 32, 'Training batch size.')
flags.DEFINE_integer('eval_batch', 100, 'Evaluation batch size (the script\'s default).')
flags.DEFINE_string('work_dir', os.path.join(tempfile.gettempdir(), 'slim_speed_bench'),
                    'Where the synthetic data goes (shared with the other benchmarks).')
flags.DEFINE_string('output', '', 'Append the Markdown results to this file.')
flags.DEFINE_string('worker', '', 'Internal: original_export.')
flags.DEFINE_string('output_file', '', 'Internal: the export worker\'s file.')
FLAGS = flags.FLAGS

_MARKERS = {'train': re.compile(r'global step 1: loss'),
            'eval': re.compile(r'Evaluation \[1/'),
            'export': re.compile(r'^Wrote ')}


def _original_export(model, output_file):
  """The original export_inference_graph.py's path on TF 2.21."""
  import tensorflow.compat.v1 as tf
  import tf_slim  # noqa: F401  (the original's nets and factories import it)
  from datasets import dataset_factory  # noqa: F401
  from nets import nets_factory
  import importlib
  import pkgutil
  import datasets
  import nets
  # The original factories import every network and data set module at once.
  for package in (nets, datasets):
    for module in pkgutil.iter_modules(package.__path__):
      if not module.name.startswith('_') and not module.name.endswith('_test'):
        try:
          importlib.import_module('%s.%s' % (package.__name__, module.name))
        except ImportError:
          pass
  with tf.Graph().as_default() as graph:
    network_fn = nets_factory.get_network_fn(model, num_classes=1001, is_training=False)
    size = network_fn.default_image_size
    placeholder = tf.placeholder(tf.float32, [None, size, size, 3], name='input')
    network_fn(placeholder)
    graph_def = graph.as_graph_def()
    with tf.io.gfile.GFile(output_file, 'wb') as f:
      f.write(graph_def.SerializeToString())
  print('Wrote %s' % output_file, flush=True)


def _eval_checkpoint(dataset_dir):
  folder = os.path.join(FLAGS.work_dir, 'eval_ckpt_' + FLAGS.model)
  if os.path.exists(os.path.join(folder, 'checkpoint')):
    return folder
  # eval_benchmark.py's random-weights checkpoint, made in its own process (its flags are its own).
  code = ('import sys; sys.path.insert(0, %r); import eval_benchmark; from absl import flags; '
          'flags.FLAGS(["x", "--model=%s"]); eval_benchmark._checkpoint(%r, %r)'
          % (os.path.dirname(os.path.abspath(__file__)), FLAGS.model, dataset_dir, folder))
  subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT,
                 env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='2'))
  return folder


def _commands(script, config, dataset_dir, checkpoint, folder):
  python = sys.executable
  if script == 'train':
    if config == 'original':
      return [python, os.path.join(ROOT, 'benchmarks', 'train_benchmark.py'), '--worker=original',
              '--model=%s' % FLAGS.model, '--data_dir=%s' % dataset_dir, '--run_dir=%s' % folder,
              '--steps=1', '--warmup=0', '--batch=%d' % FLAGS.train_batch]
    return [python, os.path.join(ROOT, 'train_image_classifier.py'), '--train_dir=%s' % folder,
            '--dataset_name=custom', '--dataset_split_name=train', '--dataset_dir=%s' % dataset_dir,
            '--model_name=%s' % FLAGS.model, '--batch_size=%d' % FLAGS.train_batch,
            '--max_number_of_steps=1', '--log_every_n_steps=1']
  if script == 'eval':
    return [python, os.path.join(ROOT, 'eval_image_classifier.py'),
            '--checkpoint_path=%s' % checkpoint, '--eval_dir=%s' % folder,
            '--dataset_name=custom', '--dataset_split_name=validation',
            '--dataset_dir=%s' % dataset_dir, '--model_name=%s' % FLAGS.model,
            '--batch_size=%d' % FLAGS.eval_batch, '--max_num_batches=1'] + (
                ['--input_pipeline=queue'] if config == 'original' else [])
  output = os.path.join(folder, 'graph.pb')
  if config == 'original':
    return [python, os.path.abspath(__file__), '--worker=original_export',
            '--model=%s' % FLAGS.model, '--output_file=%s' % output]
  return [python, os.path.join(ROOT, 'export_inference_graph.py'), '--model_name=%s' % FLAGS.model,
          '--output_file=%s' % output]


_ORIGINAL_ENVIRONMENT = []


def environment(config, script=None):
  """The process environment of a configuration: the original's is TensorFlow's own oneDNN choice
  for this CPU, and for evaluation also SLIM_TF_SPEEDUPS=0 (TensorFlow's and tf-slim's own code
  paths, as eval_benchmark.py's original); the port's is the scripts' own."""
  env = dict(os.environ, PYTHONPATH=ROOT)
  env.pop('TF_ENABLE_ONEDNN_OPTS', None)
  env.pop('SLIM_TF_SPEEDUPS', None)
  if config != 'original':
    return env
  if not _ORIGINAL_ENVIRONMENT:
    _ORIGINAL_ENVIRONMENT.append(bench_data.original_environment())
  env.update(_ORIGINAL_ENVIRONMENT[0], TF_CPP_MIN_LOG_LEVEL='2')
  if script == 'eval':
    env['SLIM_TF_SPEEDUPS'] = '0'
  return env


def _time_to_marker(command, marker, env):
  start = time.time()
  process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env, cwd=ROOT)
  seen, tail = None, []
  for line in process.stdout:
    tail = (tail + [line])[-20:]
    if seen is None and marker.search(line):
      seen = time.time() - start
  process.wait()
  if process.returncode or seen is None:
    print('FAILED %s\n%s' % (' '.join(command), ''.join(tail)), flush=True)
    return float('nan')
  return seen


def main(argv):
  del argv
  if FLAGS.worker == 'original_export':
    from image_classifier import process
    process.prepare_environment([])
    _original_export(FLAGS.model, FLAGS.output_file)
    return
  os.makedirs(FLAGS.work_dir, exist_ok=True)
  print(bench_util.cpu_flags_line(), flush=True)
  dataset_dir = bench_data.make_tfrecords(FLAGS.work_dir)
  scripts = [s for s in FLAGS.scripts.split(',') if s]
  checkpoint = _eval_checkpoint(dataset_dir) if 'eval' in scripts else None
  onednn = environment('original')['TF_ENABLE_ONEDNN_OPTS']
  lines = ['| script (%s) | original s (median, spread) | port s (median, spread) | port / original '
           '(per round) | target <= 0.7x |' % FLAGS.model, '|---|---|---|---|---|']
  for script in scripts:
    def run_one(config, index, script=script):
      folder = tempfile.mkdtemp(dir=FLAGS.work_dir, prefix='startup_%s_%s_' % (script, config))
      seconds = _time_to_marker(_commands(script, config, dataset_dir, checkpoint, folder),
                                _MARKERS[script], environment(config, script))
      print('%s %s round %d: %.1f s' % (script, config, index, seconds), flush=True)
      return seconds
    runs = bench_util.alternating_rounds(FLAGS.rounds, ('original', 'port'), run_one)
    ratio = bench_util.median(runs['port']) / bench_util.median(runs['original'])
    spreads = [bench_util.spread(runs['original']), bench_util.spread(runs['port'])]
    noisy = [x for x in spreads if x > bench_util.SPREAD_LIMIT]
    status = ('rounds spread %.0f%% > 10%%: no claim' % (100 * max(noisy)) if noisy
              else 'met' if ratio <= 0.7 else 'not met')
    lines.append('| %s | %.1f (%s) | %.1f (%s) | **%.2fx** (%s) | %s |' % (
        script, bench_util.median(runs['original']), bench_util.spread_text(runs['original']),
        bench_util.median(runs['port']), bench_util.spread_text(runs['port']), ratio,
        ', '.join('%.2f' % r for r in bench_util.round_ratios(runs['port'], runs['original'])),
        status))
  notes = ['%d alternating rounds; original with TF_ENABLE_ONEDNN_OPTS=%s (TensorFlow\'s own '
           'choice here); training batch %d, evaluation batch %d' % (
               FLAGS.rounds, onednn, FLAGS.train_batch,
               FLAGS.eval_batch),
           bench_util.load_line() + ' at the end']
  print('\n'.join(lines))
  for note in notes:
    print('* ' + note)
  if FLAGS.output:
    bench_data.append_result(FLAGS.output, 'Start-up', 'python benchmarks/startup_benchmark.py '
                             + ' '.join(sys.argv[1:]), lines, notes)


if __name__ == '__main__':
  app.run(main)
