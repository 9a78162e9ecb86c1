r"""Training speed, start-up, memory, bfloat16 and model FLOPs utilisation, side by side.

For each model (batch 32, default image size, the factory's preprocessing, RMSProp, the training
script's defaults) it times, in alternating rounds on the same synthetic photo-like JPEG TFRecords:

  original  the compatibility path: --input_pipeline=queue (DatasetDataProvider + tf.train.batch +
            prefetch queue, Python queue-runner threads) and `slim.learning.train`, with
            TensorFlow's default kernels for this CPU (TF_ENABLE_ONEDNN_OPTS unset: oneDNN only
            where TensorFlow turns it on by itself, i.e. CPUs with AVX-512 neural-network
            extensions);
  original_onednn  the same with oneDNN forced on (TF_ENABLE_ONEDNN_OPTS=1), what every AVX-512
            machine gets: the port's ratio against it is what the port's own work gains. Where
            TensorFlow's default already is oneDNN (probed in a subprocess), the two are one
            configuration: it runs once and the report says so;
  tf_data   train_image_classifier's path: training.train() with the tf.data pipeline;
  random    the same training.train() fed from in-graph random tensors (no input cost at all):
            tf_data / random is how much of the input cost is hidden;
  bf16      tf_data with --mixed_precision=bfloat16 (oneDNN on, auto mixed precision rewrite).

Each configuration runs as its own process (as a user's command would): images/sec is batch / the
median step time after --warmup steps; start-up is the wall time from starting the process to the
end of its first training step; memory is the process's peak RSS. The same run measures this
machine's float32 and bfloat16 matrix-multiply rates (1536x1536 products, best of six) and
prints achieved/peak FLOPs, counting a training step as 3x the forward pass's multiply-adds x 2
FLOPs (model_stats.multiply_adds, from the graph at batch 1) x batch.

  python benchmarks/train_benchmark.py --output=benchmarks/results/speed.md
  python benchmarks/train_benchmark.py --models=inception_v1 --configs=tf_data,bf16 --steps=10
  python benchmarks/train_benchmark.py --models=mobilenet_v1 --configs=original_onednn,tf_data \
      --rounds=3 --startup_model=
  python benchmarks/train_benchmark.py --models=mobilenet_v1 --configs=original_onednn,tf_data \
      --profile --startup_model=

With --profile, each configuration of each model runs once instead, tracing one step after the
warm-up (RunMetadata step stats, summed per op type) and measuring the process's CPU seconds per
step (which include the input pipeline's threads, outside the traced step).

A benchmark, not a test (nothing asserted, not collected by pytest). The machine is shared: rounds
alternate between configurations, medians are reported with each figure's spread over the rounds
((max - min) / median), and a ratio whose rounds spread more than 10% claims no target.
"""
import json
import os
import re
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
import bench_util  # noqa: E402

flags.DEFINE_string('models', 'mobilenet_v1,inception_v1,resnet_v1_50', 'Models to time.')
flags.DEFINE_string('configs', 'original,original_onednn,tf_data,random,bf16',
                    'Configurations to time.')
flags.DEFINE_string('bf16_models', 'inception_v1,resnet_v1_50',
                    'Models also timed with bfloat16 (the bf16 config is skipped for the others).')
flags.DEFINE_integer('steps', 12, 'Measured steps per run (after --warmup).')
flags.DEFINE_integer('warmup', 3, 'Steps not measured at the start of each run.')
flags.DEFINE_integer('rounds', 2, 'Alternating rounds.')
flags.DEFINE_integer('batch', 32, 'Batch size.')
flags.DEFINE_string('startup_model', 'inception_v3', 'Model of the start-up figure ("" = skip).')
flags.DEFINE_integer('startup_rounds', 2, 'Rounds of the start-up figure.')
flags.DEFINE_string('work_dir', os.path.join(tempfile.gettempdir(), 'slim_speed_bench'),
                    'Where the synthetic data and training folders go.')
flags.DEFINE_string('output', '', 'Append the Markdown results to this file.')
flags.DEFINE_float('target', 1.05, 'Target ratio of tf_data over each original configuration.')
flags.DEFINE_bool('profile', False, 'Trace one step per configuration and model instead of timing '
                  'rounds.')
flags.DEFINE_integer('profile_top', 12, 'Op types listed per profiled configuration.')
flags.DEFINE_string('worker', '', 'Internal: run one configuration in this process.')
flags.DEFINE_string('model', '', 'Internal: the worker\'s model.')
flags.DEFINE_string('data_dir', '', 'Internal: the worker\'s data.')
flags.DEFINE_string('run_dir', '', 'Internal: the worker\'s training folder.')
flags.DEFINE_integer('trace_step', 0, 'Internal: the worker traces this step (0 = none).')
FLAGS = flags.FLAGS

_STEP_LINE = re.compile(r'global step (\d+): loss = \S+ \(([0-9.]+) sec/step')


# ---------------------------------------------------------------------------------------- workers

def _train_options(**overrides):
  import train_image_classifier  # noqa: F401  (defines the training flags)
  import types
  values = {name: FLAGS[name].default for name in FLAGS}
  values.update(overrides)
  return types.SimpleNamespace(**values)


class _StepProbe(object):
  """The worker's measurements beyond step times: the process's CPU seconds per measured step
  (every thread: the input pipeline's too) and, with --trace_step, one step's step stats. Printed
  as one 'PROBE {json}' line at the end of the run."""

  def __init__(self):
    self._cpu_at_warmup = None
    self._cpu_now = None
    self._steps = 0
    self.trace = None

  def wants_trace(self, step):
    """True for the step (1-based, as counted by this process) to trace."""
    return FLAGS.trace_step and step == FLAGS.trace_step

  def step_done(self, step):
    if self.wants_trace(step):  # tracing costs time: that step is not counted
      return
    if step == FLAGS.warmup:
      self._cpu_at_warmup = time.process_time()
    elif step > FLAGS.warmup:
      self._cpu_now, self._steps = time.process_time(), step - FLAGS.warmup

  def report(self):
    cpu = None
    if self._cpu_at_warmup is not None and self._steps:
      cpu = (self._cpu_now - self._cpu_at_warmup) / self._steps
    print('PROBE ' + json.dumps({'cpu_sec_per_step': cpu, 'trace': self.trace}), flush=True)


def _trace_options():
  from tensorflow.core.protobuf import config_pb2
  return (config_pb2.RunOptions(trace_level=config_pb2.RunOptions.FULL_TRACE),
          config_pb2.RunMetadata())


def _probe_hook(probe):
  import tensorflow.compat.v1 as tf

  class ProbeHook(tf.train.SessionRunHook):
    """Counts the loop's steps for the probe and traces the chosen one."""

    def __init__(self):
      self._step = 0

    def before_run(self, run_context):
      self._step += 1
      if probe.wants_trace(self._step):
        return tf.train.SessionRunArgs(None, options=_trace_options()[0])
      return None

    def after_run(self, run_context, run_values):
      if probe.wants_trace(self._step):
        probe.trace = bench_util.step_stats_by_op_type(run_values.run_metadata)
      probe.step_done(self._step)

  return ProbeHook()


def _worker_fast(random_inputs, mixed_precision):
  import logging
  from image_classifier import process
  process.configure(sys.argv)
  import tensorflow.compat.v1 as tf
  logger = logging.getLogger('tensorflow')
  if not logger.handlers:  # under this app.run nothing else prints the per-step lines
    logger.addHandler(logging.StreamHandler(sys.stderr))
  from image_classifier import inputs, training
  if random_inputs:
    def random_batches(dataset, preprocess, image_size, batch_size, is_training, **kwargs):
      del preprocess, is_training
      classes = dataset.num_classes - kwargs.get('labels_offset', 0)

      def next_batch():
        images = tf.random.uniform([batch_size, image_size, image_size, 3], -1.0, 1.0)
        labels = tf.random.uniform([batch_size], 0, classes, dtype=tf.int64)
        return images, labels
      return next_batch
    inputs.batches = random_batches
  opts = _train_options(
      model_name=FLAGS.model, dataset_name='custom', dataset_split_name='train',
      dataset_dir=FLAGS.data_dir, train_dir=FLAGS.run_dir, batch_size=FLAGS.batch,
      max_number_of_steps=FLAGS.warmup + FLAGS.steps, log_every_n_steps=1,
      save_interval_secs=100000, save_summaries_secs=100000, mixed_precision=mixed_precision)
  probe = _StepProbe()
  make_hooks = training.make_hooks

  def make_hooks_with_probe(opts, graph, task):
    hooks, scaffold, guard, stop_hook = make_hooks(opts, graph, task)
    return hooks + [_probe_hook(probe)], scaffold, guard, stop_hook

  training.make_hooks = make_hooks_with_probe
  training.train(opts)
  probe.report()


def _worker_original():
  """queue input + slim.learning.train, as the original train_image_classifier.py ran."""
  from image_classifier import process
  process.configure(sys.argv)
  import tensorflow.compat.v1 as tf
  import tf_slim as slim
  from datasets import dataset_factory
  from image_classifier import inputs
  from image_classifier import summaries
  from image_classifier import training
  opts = _train_options(model_name=FLAGS.model, batch_size=FLAGS.batch,
                        input_pipeline='queue')
  tf.logging.set_verbosity(tf.logging.INFO)
  with tf.Graph().as_default():
    global_step = tf.train.get_or_create_global_step()
    dataset = dataset_factory.get_dataset('custom', 'train', FLAGS.data_dir)
    _, network_fn, next_batch = inputs.build_model_inputs(opts, dataset, is_training=True)
    images, labels = next_batch()
    logits, end_points = network_fn(images)
    onehot = tf.one_hot(labels, dataset.num_classes)
    if 'AuxLogits' in end_points:
      tf.losses.softmax_cross_entropy(onehot, end_points['AuxLogits'], weights=0.4,
                                      scope='aux_loss')
    tf.losses.softmax_cross_entropy(onehot, logits, weights=1.0)
    total_loss = tf.losses.get_total_loss()
    rate = training.configure_learning_rate(dataset.num_samples, global_step, opts)
    optimizer = training.configure_optimizer(rate, opts)
    train_op = slim.learning.create_train_op(total_loss, optimizer)
    # The original script's summaries (activations, sparsity, losses, variables, learning rate),
    # which its Supervisor computes at start-up and then every save_summaries_secs; all its
    # histograms came from TensorFlow's own kernel.
    summary_op = summaries.add_summaries(end_points, '', rate, total_loss,
                                         histogram_min_size=float('inf'))
    probe, steps = _StepProbe(), [0]

    def timed_step(session, train_op, global_step, kwargs):
      start = time.time()
      steps[0] += 1
      if probe.wants_trace(steps[0]):  # the last step: train_step's own run, traced
        options, metadata = _trace_options()
        loss, step = session.run([train_op, global_step], options=options, run_metadata=metadata)
        probe.trace = bench_util.step_stats_by_op_type(metadata)
        result = (loss, step >= FLAGS.warmup + FLAGS.steps)
      else:
        result = slim.learning.train_step(session, train_op, global_step, kwargs)
      step = session.run(global_step)
      print('INFO:tensorflow:global step %d: loss = %.4f (%.3f sec/step)'
            % (step, result[0], time.time() - start), file=sys.stderr, flush=True)
      probe.step_done(steps[0])
      return result

    slim.learning.train(train_op, FLAGS.run_dir, number_of_steps=FLAGS.warmup + FLAGS.steps,
                        train_step_fn=timed_step, summary_op=summary_op,
                        save_summaries_secs=100000,
                        save_interval_secs=100000, log_every_n_steps=100000)
  probe.report()


def _worker_matmul(dtype_name):
  from image_classifier import process
  process.configure(sys.argv)
  import tensorflow.compat.v1 as tf
  n = 1536
  with tf.Graph().as_default():
    dtype = tf.as_dtype(dtype_name)
    a = tf.Variable(tf.random.normal([n, n], dtype=tf.float32))
    b = tf.Variable(tf.random.normal([n, n], dtype=tf.float32))
    # Two independent products per run so that both cores have work.
    products = [tf.reduce_sum(tf.matmul(tf.cast(a, dtype) + i, tf.cast(b, dtype)))
                for i in range(2)]
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      session.run(products)
      best = None
      for _ in range(6):
        start = time.time()
        session.run(products)
        elapsed = time.time() - start
        best = elapsed if best is None else min(best, elapsed)
  print(json.dumps({'gflops': 2 * 2 * n ** 3 / best / 1e9}), flush=True)


# ----------------------------------------------------------------------------------------- parent

def _run_worker(worker, model, dataset_dir, train_dir, steps=None, warmup=None, env_extra=None,
                trace_step=0):
  """Runs one worker process; returns dict(step_times, startup, rss_mb, returncode, tail, probe)."""
  command = [sys.executable, os.path.abspath(__file__), '--worker=%s' % worker,
             '--model=%s' % model, '--data_dir=%s' % dataset_dir, '--run_dir=%s' % train_dir,
             '--steps=%d' % (FLAGS.steps if steps is None else steps),
             '--warmup=%d' % (FLAGS.warmup if warmup is None else warmup),
             '--batch=%d' % FLAGS.batch, '--trace_step=%d' % trace_step]
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='2')
  env.pop('TF_ENABLE_ONEDNN_OPTS', None)
  env.update(env_extra or {})
  start = time.time()
  process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env, cwd=ROOT)
  step_times, first_step_at, tail, probe = [], None, [], {}
  for line in process.stdout:
    if line.startswith('PROBE '):
      probe = json.loads(line[len('PROBE '):])
      continue
    tail = (tail + [line])[-30:]
    match = _STEP_LINE.search(line)
    if match and int(match.group(1)) > len(step_times):  # each step once
      if first_step_at is None:
        first_step_at = time.time()
      step_times.append(float(match.group(2)))
  _, status, usage = os.wait4(process.pid, 0)
  process.returncode = os.waitstatus_to_exitcode(status)
  return {'step_times': step_times, 'startup': first_step_at and first_step_at - start,
          'rss_mb': usage.ru_maxrss / 1024.0, 'returncode': process.returncode,
          'tail': ''.join(tail), 'probe': probe}


_CONFIGS = {
    'original': ('original', None),  # None: TensorFlow's own oneDNN choice for this CPU
    'original_onednn': ('original', {'TF_ENABLE_ONEDNN_OPTS': '1'}),
    'tf_data': ('fast', {}),
    'random': ('random', {}),
    'bf16': ('bf16', {'TF_ENABLE_ONEDNN_OPTS': '1'}),
}


def _matmul_rate(dtype_name, onednn):
  env = {'TF_ENABLE_ONEDNN_OPTS': '1' if onednn else '0'}
  command = [sys.executable, os.path.abspath(__file__), '--worker=matmul_%s' % dtype_name]
  result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='2',
                                   **env))
  for line in result.stdout.splitlines():
    if line.startswith('{'):
      return json.loads(line)['gflops']
  print(result.stderr[-2000:], file=sys.stderr)
  return float('nan')


def _training_flops_per_image(model):
  from image_classifier import process
  process.configure(sys.argv)
  import tensorflow.compat.v1 as tf
  from nets import nets_factory
  from image_classifier import model_stats
  with tf.Graph().as_default():
    network_fn = nets_factory.get_network_fn(model, 5, is_training=True)
    size = network_fn.default_image_size
    network_fn(tf.zeros([1, size, size, 3]))
    return 3 * 2 * model_stats.multiply_adds()


def _median(values):
  values = [v for v in values if v is not None]
  return statistics.median(values) if values else float('nan')


def _same_originals(configs, original_env):
  """True when both original configurations are asked for and TensorFlow's default already is
  oneDNN on: they are then the same processes."""
  return ('original' in configs and 'original_onednn' in configs
          and original_env['TF_ENABLE_ONEDNN_OPTS'] == '1')


def benchmark():
  work = FLAGS.work_dir
  os.makedirs(work, exist_ok=True)
  dataset_dir = bench_data.make_tfrecords(work)
  models = [m for m in FLAGS.models.split(',') if m]
  configs = [c for c in FLAGS.configs.split(',') if c]
  original_env = bench_data.original_environment()
  # The float32 peak is the faster of TensorFlow's two kernel libraries here.
  peak32 = max(_matmul_rate('float32', onednn=False), _matmul_rate('float32', onednn=True))
  peak16 = _matmul_rate('bfloat16', onednn=True) if 'bf16' in configs else float('nan')
  print('matmul peak: float32 %.1f GFLOP/s, bfloat16 (oneDNN) %.1f GFLOP/s' % (peak32, peak16),
        flush=True)
  print(bench_util.cpu_flags_line(), flush=True)
  same_originals = _same_originals(configs, original_env)
  if same_originals:
    print('TensorFlow\'s default here is oneDNN on (TF_ENABLE_ONEDNN_OPTS=1 when unset): original '
          'and original_onednn are one configuration, run once', flush=True)
  results = {}
  for model in models:
    flops = _training_flops_per_image(model)
    model_configs = [c for c in configs if c != 'bf16' or model in FLAGS.bf16_models.split(',')]
    if same_originals:
      model_configs.remove('original_onednn')

    def run_one(config, round_index, model=model):
      worker, env = _CONFIGS[config]
      train_dir = tempfile.mkdtemp(dir=work, prefix='%s_%s_' % (model, config))
      run = _run_worker(worker, model, dataset_dir, train_dir,
                        env_extra=original_env if env is None else env)
      measured = run['step_times'][FLAGS.warmup:]
      images = FLAGS.batch / _median(measured) if measured else float('nan')
      run['images_per_sec'] = images
      cpu = (run['probe'] or {}).get('cpu_sec_per_step')
      print('%s %s round %d: %.2f images/sec, %s CPU s/step, start-up %.1f s, peak RSS %.0f MB, '
            '%s%s' % (model, config, round_index, images, '%.2f' % cpu if cpu else '?',
                      run['startup'] or float('nan'), run['rss_mb'], bench_util.load_line(),
                      '' if run['returncode'] == 0 else ' FAILED\n' + run['tail']), flush=True)
      return run

    runs = bench_util.alternating_rounds(FLAGS.rounds, model_configs, run_one)
    if same_originals:
      runs['original_onednn'] = runs['original']
    results[model] = {'flops_per_image': flops, 'runs': runs}
  startup = {}
  if FLAGS.startup_model:
    for _ in range(FLAGS.startup_rounds):
      for config in ('original', 'tf_data'):
        worker, env = _CONFIGS[config]
        train_dir = tempfile.mkdtemp(dir=work, prefix='startup_%s_' % config)
        run = _run_worker(worker, FLAGS.startup_model, dataset_dir, train_dir, steps=1, warmup=0,
                          env_extra=original_env if env is None else env)
        startup.setdefault(config, []).append(run['startup'])
        print('start-up %s %s: %.1f s' % (FLAGS.startup_model, config, run['startup'] or -1),
              flush=True)
  print('original path ran with TF_ENABLE_ONEDNN_OPTS=%s (TensorFlow\'s own choice here)'
        % original_env['TF_ENABLE_ONEDNN_OPTS'], flush=True)
  return results, startup, peak32, peak16, original_env


def report(results, startup, peak32, peak16, original_env):
  lines = ['| model | config | images/sec (median) | vs original | tf_data / random | MFU '
           '(achieved / peak of its dtype) | peak RSS MB | start-up s |',
           '|---|---|---|---|---|---|---|---|']
  for model, result in results.items():
    speed = {c: _median([r['images_per_sec'] for r in runs])
             for c, runs in result['runs'].items()}
    for config, runs in result['runs'].items():
      if config == 'original_onednn' and runs is result['runs'].get('original'):
        continue  # the same runs as 'original' (TensorFlow's default is oneDNN here)
      peak = peak16 if config == 'bf16' else peak32
      achieved = speed[config] * result['flops_per_image'] / 1e9
      ratio = ('%.2fx' % (speed[config] / speed['original'])) if 'original' in speed else ''
      hidden = (speed['tf_data'] / speed['random'] if config == 'tf_data' and 'random' in speed
                else None)
      lines.append('| %s | %s | %.2f | %s | %s | %.0f%% (%.0f / %.0f GFLOP/s) | %.0f | %.1f |' % (
          model, config, speed[config], ratio, '%.2f' % hidden if hidden else '',
          100 * achieved / peak, achieved, peak, _median([r['rss_mb'] for r in runs]),
          _median([r['startup'] for r in runs])))
  notes = ['matrix-multiply rate measured in the same run: float32 %.1f GFLOP/s (the faster of '
           'Eigen and oneDNN), bfloat16 (oneDNN) %.1f GFLOP/s' % (peak32, peak16),
           'original ran with TensorFlow\'s own oneDNN choice for this CPU '
           '(TF_ENABLE_ONEDNN_OPTS=%s), the others with the scripts\' default (oneDNN on x86)'
           % original_env['TF_ENABLE_ONEDNN_OPTS'],
           '%d measured steps after %d warm-up steps per run, %d alternating rounds, batch %d; '
           'images/sec = batch / median step time' % (FLAGS.steps, FLAGS.warmup, FLAGS.rounds,
                                                      FLAGS.batch)]
  if startup:
    original, fast = _median(startup.get('original', [])), _median(startup.get('tf_data', []))
    notes.append('start-up (command to end of first training step), %s: original %.1f s, '
                 'tf_data %.1f s, ratio %.2f (medians of %d rounds)' % (
                     FLAGS.startup_model, original, fast, fast / original, FLAGS.startup_rounds))
  lines += [''] + comparison_lines(results, original_env)
  notes.append(bench_util.cpu_flags_line())
  return lines, notes


def comparison_lines(results, original_env):
  """The port's float32 path against each original configuration: ratio of the medians, the
  per-round ratios, each side's spread over its rounds, and whether the target is met."""
  lines = ['| model | port / original configuration | ratio of medians | per-round ratios | '
           'spread: port, original | status |', '|---|---|---|---|---|---|']
  labels = {'original': 'original, TensorFlow\'s default kernels (TF_ENABLE_ONEDNN_OPTS=%s)'
                        % original_env['TF_ENABLE_ONEDNN_OPTS'],
            'original_onednn': 'original, oneDNN forced on (TF_ENABLE_ONEDNN_OPTS=1)'}
  for model, result in results.items():
    runs = result['runs']
    if 'tf_data' not in runs:
      continue
    port = [r['images_per_sec'] for r in runs['tf_data']]
    for config in ('original', 'original_onednn'):
      if config not in runs:
        continue
      base = [r['images_per_sec'] for r in runs[config]]
      ratio = _median(port) / _median(base)
      label = labels[config]
      if config == 'original_onednn' and runs[config] is runs.get('original'):
        label += ': the same runs as TensorFlow\'s default, which is oneDNN on this CPU'
      spreads = [bench_util.spread(port), bench_util.spread(base)]
      lines.append('| %s | tf_data / %s | %.2fx | %s | %s, %s | %s |' % (
          model, label, ratio,
          ', '.join('%.2f' % r for r in bench_util.round_ratios(port, base)),
          bench_util.spread_text(port), bench_util.spread_text(base),
          bench_util.target_status(ratio, FLAGS.target, spreads)))
  return lines


def profile(dataset_dir):
  """One traced run per model and configuration: where a step's time goes."""
  print(bench_util.cpu_flags_line(), flush=True)
  original_env = bench_data.original_environment()
  configs = [c for c in FLAGS.configs.split(',') if c]
  if _same_originals(configs, original_env):
    configs.remove('original_onednn')
  lines = []
  for model in [m for m in FLAGS.models.split(',') if m]:
    for config in configs:
      worker, env = _CONFIGS[config]
      train_dir = tempfile.mkdtemp(dir=FLAGS.work_dir, prefix='profile_%s_%s_' % (model, config))
      run = _run_worker(worker, model, dataset_dir, train_dir,
                        env_extra=original_env if env is None else env,
                        trace_step=FLAGS.warmup + FLAGS.steps)
      probe, measured = run['probe'] or {}, run['step_times'][FLAGS.warmup:-1]
      trace = probe.get('trace') or {}
      kernels = sum((trace.get('op_ms') or {}).values())
      block = []
      block.append('### %s, %s: %s s/step (median of %d untraced steps), %s CPU s/step '
                   '(all threads), traced step %.0f ms wall, %d ops, %.0f kernel-ms; %s' % (
                       model, config, '%.3f' % _median(measured) if measured else '?',
                       len(measured), '%.2f' % probe['cpu_sec_per_step']
                       if probe.get('cpu_sec_per_step') else '?', trace.get('wall_ms', 0),
                       trace.get('ops', 0), kernels, bench_util.load_line()))
      if run['returncode']:
        block.append('FAILED\n' + run['tail'])
      block.append('')
      block.append('| op type | kernel ms | share |')
      block.append('|---|---|---|')
      for op_type, ms in list((trace.get('op_ms') or {}).items())[:FLAGS.profile_top]:
        block.append('| %s | %.1f | %.1f%% |' % (op_type, ms, 100 * ms / max(kernels, 1e-9)))
      block.append('')
      print('\n'.join(block), flush=True)
      lines += block
  return lines


def main(argv):
  del argv
  if FLAGS.worker:
    if FLAGS.worker == 'original':
      _worker_original()
    elif FLAGS.worker in ('fast', 'random', 'bf16'):
      _worker_fast(random_inputs=FLAGS.worker == 'random',
                   mixed_precision='bfloat16' if FLAGS.worker == 'bf16' else 'none')
    elif FLAGS.worker.startswith('matmul_'):
      _worker_matmul(FLAGS.worker[len('matmul_'):])
    return
  if FLAGS.profile:
    os.makedirs(FLAGS.work_dir, exist_ok=True)
    lines = profile(bench_data.make_tfrecords(FLAGS.work_dir))
    if FLAGS.output:
      bench_data.append_result(FLAGS.output, 'Training step profile',
                               'python benchmarks/train_benchmark.py ' + ' '.join(sys.argv[1:]),
                               lines, [bench_util.cpu_flags_line()])
    return
  results, startup, peak32, peak16, original_env = benchmark()
  lines, notes = report(results, startup, peak32, peak16, original_env)
  print('\n'.join(lines))
  for note in notes:
    print('* ' + note)
  print('Machine: ' + bench_data.machine_description())
  if FLAGS.output:
    bench_data.append_result(FLAGS.output, 'Training', 'python benchmarks/train_benchmark.py '
                             + ' '.join(sys.argv[1:]), lines, notes)


if __name__ == '__main__':
  app.run(main)
