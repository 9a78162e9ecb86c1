r"""Evaluation speed of eval_image_classifier.py over a 2,000-image split, side by side.

  original         the original path: --input_pipeline=queue (DatasetDataProvider + tf.train.batch),
                   SLIM_TF_SPEEDUPS=0 (TensorFlow's and tf-slim's own code paths), and TensorFlow's
                   default kernels for this CPU (TF_ENABLE_ONEDNN_OPTS as TensorFlow itself picks it;
                   on x86 CPUs with AVX-512 neural-network extensions that is oneDNN already)
  original_onednn  the same with oneDNN forced on (TF_ENABLE_ONEDNN_OPTS=1), what every such CPU gets
  port             eval_image_classifier.py as it runs by default
  bf16             port with --mixed_precision=bfloat16

Each configuration is its own command, evaluating the same checkpoint (random weights of --model,
saved once; speed does not depend on them); configurations alternate within each round. images/sec
is what the script reports (examples / seconds from session creation to the last batch); the
command's wall time is reported too. Each figure is the median of its rounds with the rounds'
spread ((max - min) / median); a ratio whose rounds spread more than 10% says so instead of claiming
the 1.3x target.

Rounds can be spread over several invocations (each holding the CPU lock for a few minutes):
--state keeps every round measured so far, and the report covers all of them.

  flock -x /work/cpu.lock python benchmarks/eval_benchmark.py --model=mobilenet_v1 --rounds=2 \
      --state=/tmp/eval_mobilenet_v1.json
  python benchmarks/eval_benchmark.py --model=mobilenet_v1 --rounds=0 \
      --state=/tmp/eval_mobilenet_v1.json --output=benchmarks/results/speed.md
"""
import json
import os
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

flags.DEFINE_string('model', 'mobilenet_v1', 'Model evaluated.')
flags.DEFINE_string('configs', 'original,original_onednn,port', 'Configurations (also: bf16).')
flags.DEFINE_integer('rounds', 3, 'Alternating rounds run by this invocation (0: report only).')
flags.DEFINE_integer('batch', 100, 'Evaluation batch size (the script\'s default).')
flags.DEFINE_integer('num_images', 2500, 'Images of the synthetic data set; 80% are the evaluated '
                     'validation split (2,000 by default).')
flags.DEFINE_string('work_dir', os.path.join(tempfile.gettempdir(), 'eval_speed_bench'),
                    'Where the synthetic data and the checkpoint go.')
flags.DEFINE_string('state', '', 'JSON file keeping the rounds of earlier invocations (appended).')
flags.DEFINE_string('output', '', 'Append the Markdown results to this file.')
FLAGS = flags.FLAGS

_TARGET = 1.3
_ORIGINAL = {'--input_pipeline=queue'}
# extra flags, environment ('default': TensorFlow's own oneDNN choice; None: the scripts' own)
_CONFIGS = {'original': (['--input_pipeline=queue'], 'default'),
            'original_onednn': (['--input_pipeline=queue'], {'TF_ENABLE_ONEDNN_OPTS': '1'}),
            'port': ([], None),
            'bf16': (['--mixed_precision=bfloat16'], None)}
_BASELINES = ('original', 'original_onednn')


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


def _environment(config, default_onednn):
  extra, env = _CONFIGS[config]
  environment = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='2')
  environment.pop('TF_ENABLE_ONEDNN_OPTS', None)
  environment.pop('SLIM_TF_SPEEDUPS', None)
  if env == 'default':
    environment['TF_ENABLE_ONEDNN_OPTS'] = default_onednn
  elif env:
    environment.update(env)
  if set(extra) & _ORIGINAL:
    environment['SLIM_TF_SPEEDUPS'] = '0'
  return extra, environment


def _run_one(config, round_index, checkpoint, dataset_dir, default_onednn):
  extra, environment = _environment(config, default_onednn)
  eval_dir = tempfile.mkdtemp(dir=FLAGS.work_dir, prefix='eval_%s_' % config)
  command = [sys.executable, os.path.join(ROOT, 'eval_image_classifier.py'),
             '--checkpoint_path=%s' % checkpoint, '--eval_dir=%s' % eval_dir,
             '--dataset_name=custom', '--dataset_split_name=validation',
             '--dataset_dir=%s' % dataset_dir, '--model_name=%s' % FLAGS.model,
             '--batch_size=%d' % FLAGS.batch] + extra
  load = os.getloadavg()[0]
  start = time.time()
  result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT)
  wall = time.time() - start
  if result.returncode:
    print('%s failed:\n%s' % (config, result.stderr[-3000:]), flush=True)
    return None
  with open(os.path.join(eval_dir, 'per_class_accuracy.json')) as f:
    report = json.load(f)
  row = {'round': round_index, 'images_per_sec': report['images_per_sec'], 'wall': wall,
         'num_examples': report['num_examples'], 'accuracy': report['Accuracy'],
         'recall_5': report['Recall_5'], 'load_before': load,
         'onednn': environment.get('TF_ENABLE_ONEDNN_OPTS', 'script default (1 on x86)')}
  print('round %d %s: %d images, %.1f images/sec, accuracy %.4f, command %.1f s, load %.2f'
        % (round_index, config, row['num_examples'], row['images_per_sec'], row['accuracy'], wall,
           load), flush=True)
  return row


def _load_state():
  if FLAGS.state and os.path.exists(FLAGS.state):
    with open(FLAGS.state) as f:
      return json.load(f)
  return {'rounds': 0, 'runs': {}}


def _save_state(state):
  if FLAGS.state:
    with open(FLAGS.state, 'w') as f:
      json.dump(state, f, indent=1)


def report_lines(runs, configs, default_onednn):
  """The Markdown table and the ratio lines for `runs` ({config: [row or None per round]})."""
  speed = {c: [r and r['images_per_sec'] for r in runs.get(c, [])] for c in configs}
  lines = ['| %s eval, %s images | images/sec (median) | rounds | spread | accuracy | command s |'
           % (FLAGS.model, '/'.join(sorted({'{:,}'.format(r['num_examples'])
                                            for c in configs for r in runs.get(c, []) if r}))),
           '|---|---:|---|---:|---|---:|']
  for config in configs:
    rows = [r for r in runs.get(config, []) if r]
    lines.append('| %s | %.1f | %s | %s | %s | %.1f |' % (
        config, bench_util.median(speed[config]),
        ', '.join('%.1f' % v for v in bench_util.finite(speed[config])),
        bench_util.spread_text(speed[config]),
        ', '.join(sorted({'%.4f' % r['accuracy'] for r in rows})),
        bench_util.median([r['wall'] for r in rows])))
  lines.append('')
  for baseline in _BASELINES:
    if baseline not in configs:
      continue
    for fast in [c for c in configs if c not in _BASELINES]:
      ratios = bench_util.round_ratios(speed[fast], speed[baseline])
      ratio = bench_util.median(speed[fast]) / bench_util.median(speed[baseline])
      status = bench_util.target_status(
          ratio, _TARGET, [bench_util.spread(speed[fast]), bench_util.spread(speed[baseline])])
      lines.append('* **%s / %s: %.2fx** (ratio of medians; per round %s): %s' % (
          fast, baseline, ratio, ', '.join('%.2f' % r for r in ratios) or 'n/a', status))
  lines.append('* original: TF_ENABLE_ONEDNN_OPTS=%s, TensorFlow\'s own choice on this CPU (%s)'
               % (default_onednn, 'oneDNN already on: original and original_onednn are the same '
                  'configuration, measured twice' if default_onednn == '1' else 'oneDNN off'))
  loads = [r['load_before'] for c in configs for r in runs.get(c, []) if r]
  if loads:
    lines.append('* 1-minute load average before each command: %.2f-%.2f' % (min(loads),
                                                                              max(loads)))
  return lines


def main(argv):
  del argv
  os.makedirs(FLAGS.work_dir, exist_ok=True)
  dataset_dir = bench_data.make_tfrecords(FLAGS.work_dir, num_images=FLAGS.num_images)
  checkpoint = _checkpoint(dataset_dir, os.path.join(FLAGS.work_dir, 'eval_ckpt_' + FLAGS.model))
  configs = [c for c in FLAGS.configs.split(',') if c]
  unknown = [c for c in configs if c not in _CONFIGS]
  if unknown:
    raise app.UsageError('unknown configurations %s; known: %s' % (unknown, sorted(_CONFIGS)))
  default_onednn = bench_data.original_environment()['TF_ENABLE_ONEDNN_OPTS']
  print(bench_util.cpu_flags_line(), flush=True)
  print('TensorFlow\'s default oneDNN choice on this CPU: TF_ENABLE_ONEDNN_OPTS=%s'
        % default_onednn, flush=True)
  state = _load_state()
  runs = state['runs']

  def run_one(config, index):
    row = _run_one(config, state['rounds'] + index, checkpoint, dataset_dir, default_onednn)
    runs.setdefault(config, []).append(row)
    _save_state(state)
    return row

  bench_util.alternating_rounds(FLAGS.rounds, configs, run_one)
  state['rounds'] += FLAGS.rounds
  _save_state(state)
  lines = report_lines(runs, configs, default_onednn)
  print('\n'.join(lines))
  if FLAGS.output:
    notes = ['batch %d, %d alternating rounds in all, random weights (speed does not depend on '
             'them); %s' % (FLAGS.batch, state['rounds'], bench_util.cpu_flags_line())]
    bench_data.append_result(FLAGS.output, 'Evaluation, %s' % FLAGS.model,
                             'python benchmarks/eval_benchmark.py ' + ' '.join(sys.argv[1:]),
                             lines, notes)


if __name__ == '__main__':
  app.run(main)
