r"""Quantization-aware training: held-out accuracy on the real digits, and the cost of a QAT step.

Accuracy (phases `float`, `qat`, `compare`; `--phase=accuracy` runs the three): mobilenet_v1_025 on
the sample digits (sample_data/digits, 20% held out, lenet preprocessing at --image_size) is
trained in float until its batch-norm moving averages have settled (Adam with the learning rate
decayed linearly to --float_end_learning_rate, then --settle_steps more steps at that rate, so the
moving averages, of window 1 / (1 - --batch_norm_decay) steps, describe the final weights), then
fine-tuned with --quantize_delay=0 from that checkpoint. On the held-out images it compares:

  float        the float checkpoint (eval_image_classifier's graph);
  float+       the float checkpoint trained on for as many steps as the QAT run, in float
               (so that "QAT is better" is not just "QAT trained longer");
  QAT graph    the QAT checkpoint through eval --quantize (fake-quant ops, folded batch norms);
  QAT uint8 / QAT int8   export_model --format=tflite --quantize, from the learned ranges;
  PTQ int8     post-training int8 TFLite of the float checkpoint (calibrated on train images).

Speed (`--phase=speed`): images/s of a mobilenet_v1 (depth 1.0) training step, float vs the QAT
rewrite (create_training_graph), batch --speed_batch at --speed_image_size, in-graph random
inputs (no input cost), RMSProp as the training script's default; the two graphs live in one
process and are timed in alternating rounds; medians and the spread of the rounds are printed.
`--profile` also prints where a QAT step's time goes (RunMetadata step stats, by op type).

  python benchmarks/qat_benchmark.py --phase=float      # each phase: a few minutes
  python benchmarks/qat_benchmark.py --phase=qat
  python benchmarks/qat_benchmark.py --phase=compare --output=benchmarks/results/qat.md
  python benchmarks/qat_benchmark.py --phase=speed --output=benchmarks/results/qat.md

A benchmark, not a test (nothing asserted, not collected by pytest). Run it holding the CPU lock.
"""
import functools
import json
import os
import statistics
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

flags.DEFINE_enum('phase', 'accuracy', ['float', 'qat', 'compare', 'accuracy', 'speed'],
                  'What to run (accuracy = float, qat, compare).')
flags.DEFINE_string('work_dir', os.path.join(tempfile.gettempdir(), 'slim_qat_bench'),
                    'Data set and training folders (kept between phases).')
flags.DEFINE_integer('image_size', 16, 'Image size of the accuracy runs (the digits are 8x8).')
flags.DEFINE_float('batch_norm_decay', 0.9, 'Batch-norm moving-average decay of the net.')
flags.DEFINE_integer('float_steps', 1000, 'Float steps while the learning rate decays.')
flags.DEFINE_integer('settle_steps', 200, 'Float steps at --float_end_learning_rate after that.')
flags.DEFINE_float('float_learning_rate', 0.01, 'Initial Adam learning rate of the float training.')
flags.DEFINE_float('float_end_learning_rate', 1e-4, 'Final float learning rate.')
flags.DEFINE_integer('qat_steps', 200, 'Quantization-aware fine-tuning steps.')
flags.DEFINE_float('qat_learning_rate', 1e-4, 'Learning rate of the fine-tuning (QAT and float+).')
flags.DEFINE_integer('batch', 32, 'Batch size of the accuracy runs.')
flags.DEFINE_integer('calibration_images', 200, 'Train images that calibrate post-training int8.')
flags.DEFINE_string('speed_model', 'mobilenet_v1', 'Model of the speed phase.')
flags.DEFINE_integer('speed_batch', 32, 'Batch of the speed phase.')
flags.DEFINE_integer('speed_image_size', 224, 'Image size of the speed phase.')
flags.DEFINE_integer('speed_steps', 3, 'Timed steps per round of the speed phase.')
flags.DEFINE_integer('speed_rounds', 3, 'Alternating rounds of the speed phase.')
flags.DEFINE_integer('speed_warmup', 1, 'Untimed steps of each graph before the rounds.')
flags.DEFINE_list('qat_fold_modes', ['tf1', 'single_conv'],
                  'Phases qat / compare: the QAT batch-norm fold modes to fine-tune and compare.')
flags.DEFINE_list('speed_fold_modes', ['tf1', 'single_conv'],
                  'Speed phase: the QAT batch-norm fold modes to time against float.')
flags.DEFINE_bool('profile', False, 'Speed phase: also print a QAT step\'s time by op type.')
flags.DEFINE_string('output', '', 'Append the Markdown results to this file.')
FLAGS = flags.FLAGS

MODEL = 'mobilenet_v1_025_qat_bench'


# ----------------------------------------------------------------------------------- accuracy

def _register_model():
  from nets import mobilenet_v1
  from nets import nets_factory
  nets_factory.NETS[MODEL] = nets_factory.NetSpec(
      MODEL, mobilenet_v1.mobilenet_v1_025,
      functools.partial(mobilenet_v1.mobilenet_v1_arg_scope,
                        batch_norm_decay=FLAGS.batch_norm_decay),
      None, 'lenet', ('MobilenetV1/Logits',))


def _dirs():
  root = FLAGS.work_dir
  return {name: os.path.join(root, name)
          for name in ('data', 'float', 'float_settled', 'float_plus', 'qat', 'eval', 'tflite')}


def _data():
  return bench_data.digits_tfrecords(_dirs()['data'])


def _num_train(data):
  from datasets import dataset_factory
  return dataset_factory.get_dataset('custom', 'train', data).num_samples


def _train(train_dir, steps, **overrides):
  sys.path.insert(0, os.path.join(ROOT, 'tests'))
  from image_classifier import training
  from test_training import train_options
  data = _data()
  options = dict(dataset_name='custom', dataset_dir=data, model_name=MODEL,
                 preprocessing_name='lenet', train_image_size=FLAGS.image_size,
                 batch_size=FLAGS.batch, weight_decay=0.0, optimizer='adam', opt_epsilon=1e-3,
                 learning_rate_decay_type='fixed', log_every_n_steps=500,
                 num_preprocessing_threads=2, save_interval_secs=100000,
                 save_summaries_secs=100000, train_dir=train_dir, max_number_of_steps=steps)
  options.update(overrides)
  start = time.time()
  checkpoint = training.train(train_options(**options))
  return checkpoint, time.time() - start


def _record(name, **values):
  path = os.path.join(FLAGS.work_dir, 'runs.json')
  runs = json.load(open(path)) if os.path.exists(path) else {}
  runs[name] = values
  bench_data.dump_json(path, runs)


def _runs():
  return json.load(open(os.path.join(FLAGS.work_dir, 'runs.json')))


def phase_float():
  dirs = _dirs()
  epochs = FLAGS.float_steps * FLAGS.batch / _num_train(_data())
  decayed, seconds = _train(dirs['float'], FLAGS.float_steps, learning_rate=FLAGS.float_learning_rate,
                            learning_rate_decay_type='polynomial', num_epochs_per_decay=epochs,
                            end_learning_rate=FLAGS.float_end_learning_rate)
  # The settling steps, from the decayed checkpoint: the optimizer restarts (fine-tuning
  # restores the model only), at the final, small, learning rate.
  settled, more = _train(dirs['float_settled'], FLAGS.settle_steps, checkpoint_path=decayed,
                         learning_rate=FLAGS.float_end_learning_rate)
  _record('float', checkpoint=settled, seconds=seconds + more,
          steps=FLAGS.float_steps + FLAGS.settle_steps)


def _qat_run(mode):
  """The runs.json key (and directory) of the QAT fine-tuning with batch-norm fold `mode`."""
  return 'qat' if mode == 'tf1' else 'qat_' + mode


def phase_qat():
  dirs = _dirs()
  settled = _runs()['float']['checkpoint']
  for mode in FLAGS.qat_fold_modes:
    qat, seconds = _train(os.path.join(FLAGS.work_dir, _qat_run(mode)), FLAGS.qat_steps,
                          checkpoint_path=settled, learning_rate=FLAGS.qat_learning_rate,
                          quantize_delay=0, quantize_fold=mode)
    _record(_qat_run(mode), checkpoint=qat, seconds=seconds, steps=FLAGS.qat_steps)
  plus, seconds = _train(dirs['float_plus'], FLAGS.qat_steps, checkpoint_path=settled,
                         learning_rate=FLAGS.qat_learning_rate)
  _record('float_plus', checkpoint=plus, seconds=seconds, steps=FLAGS.qat_steps)


def _checkpoint_accuracy(checkpoint, eval_dir, quantize=False):
  sys.path.insert(0, os.path.join(ROOT, 'tests'))
  from image_classifier import evaluation
  from test_training import eval_options
  opts = eval_options(dataset_dir=_data(), eval_dir=eval_dir, model_name=MODEL,
                      preprocessing_name='lenet', eval_image_size=FLAGS.image_size,
                      quantize=quantize)
  return evaluation.evaluate_checkpoint(opts, checkpoint)['Accuracy']


def phase_compare():
  from image_classifier import evaluation, exporting, model_info, serving
  dirs = _dirs()
  data = _data()
  runs = _runs()
  float_ckpt = runs['float']['checkpoint']
  accuracy = {
      'float': _checkpoint_accuracy(float_ckpt, os.path.join(dirs['eval'], 'float')),
      'float+': _checkpoint_accuracy(runs['float_plus']['checkpoint'],
                                     os.path.join(dirs['eval'], 'float_plus'))}
  # QAT rows: "QAT ..." for TF 1's fold, "QAT single_conv ..." for --quantize_fold=single_conv
  qat_runs = [(mode, 'QAT' if mode == 'tf1' else 'QAT ' + mode) for mode in FLAGS.qat_fold_modes
              if _qat_run(mode) in runs]
  exports = [('PTQ int8', float_ckpt, 'int8', False), ('float TFLite', float_ckpt, 'none', False)]
  for mode, label in qat_runs:
    checkpoint = runs[_qat_run(mode)]['checkpoint']
    accuracy[label + ' graph'] = _checkpoint_accuracy(
        checkpoint, os.path.join(dirs['eval'], _qat_run(mode)), quantize=True)
    exports += [(label + ' uint8', checkpoint, 'uint8', True),
                (label + ' int8', checkpoint, 'int8', True)]
  info = model_info.describe(MODEL, 'custom', data, image_size=FLAGS.image_size,
                             preprocessing_name='lenet')
  os.makedirs(dirs['tflite'], exist_ok=True)
  models = {}
  for name, checkpoint, quantization, quantized in exports:
    path = os.path.join(dirs['tflite'], name.replace(' ', '_') + '.tflite')
    exporting.export(info, checkpoint, path, 'tflite', quantization=quantization,
                     quantized=quantized, num_calibration_images=FLAGS.calibration_images)
    models[name] = serving.load(path)
  results = evaluation.evaluate_models(models, 'custom', data, 'validation')
  held_out = results['PTQ int8']['n']
  for name in models:
    accuracy[name] = results[name]['accuracy']
  lines = ['| model | held-out accuracy | vs float (points) |', '|---|---|---|']
  rows = ['float', 'float TFLite', 'float+']
  for _, label in qat_runs:
    rows += [label + ' graph', label + ' uint8', label + ' int8']
  for name in rows + ['PTQ int8']:
    lines.append('| %s | %.4f | %+.1f |' % (name, accuracy[name],
                                            100 * (accuracy[name] - accuracy['float'])))
  notes = [
      'mobilenet_v1_025 (batch-norm decay %g), digits at %dx%d, batch %d, %d held-out images '
      '(one image = %.2f points).' % (FLAGS.batch_norm_decay, FLAGS.image_size,
                                      FLAGS.image_size, FLAGS.batch, held_out, 100.0 / held_out),
      'float: %d Adam steps, learning rate %g decayed linearly to %g, then %d steps at %g '
      '(%.0f s); QAT and float+: %d steps from it at %g (%s, float+ %.0f s).' % (
          FLAGS.float_steps, FLAGS.float_learning_rate, FLAGS.float_end_learning_rate, FLAGS.settle_steps,
          FLAGS.float_end_learning_rate, runs['float']['seconds'], FLAGS.qat_steps,
          FLAGS.qat_learning_rate,
          ', '.join('%s %.0f s' % (label, runs[_qat_run(mode)]['seconds'])
                    for mode, label in qat_runs), runs['float_plus']['seconds']),
      'PTQ int8: post-training int8 TFLite (int8 in and out) of the float checkpoint, calibrated '
      'on %d train images.' % FLAGS.calibration_images]
  for _, label in qat_runs:
    best_qat = min(accuracy[label + ' uint8'], accuracy[label + ' int8'])
    notes.append('%s: goal "integer within 1 point of float": %s (worse of uint8/int8 %.4f vs '
                 'float %.4f); goal "no worse than PTQ int8": %s (%.4f vs %.4f).' % (
                     label, 'met' if accuracy['float'] - best_qat <= 0.01 else 'NOT met',
                     best_qat, accuracy['float'],
                     'met' if best_qat >= accuracy['PTQ int8'] else 'NOT met', best_qat,
                     accuracy['PTQ int8']))
  print('\n'.join(lines + [''] + notes))
  if FLAGS.output:
    bench_data.append_result(FLAGS.output, 'QAT accuracy on the digits',
                             'python ' + ' '.join(sys.argv), lines, notes)


# -------------------------------------------------------------------------------------- speed

def _training_graph(fold_mode):
  """(graph, train op) of one training step on random inputs: float (`fold_mode` None) or
  QAT-rewritten with that batch-norm fold mode."""
  import tensorflow.compat.v1 as tf
  import quantize as qat
  from nets import nets_factory
  graph = tf.Graph()
  with graph.as_default():
    tf.train.get_or_create_global_step()
    size, classes = FLAGS.speed_image_size, 1001
    images = tf.random.uniform([FLAGS.speed_batch, size, size, 3], -1.0, 1.0)
    labels = tf.random.uniform([FLAGS.speed_batch], 0, classes, dtype=tf.int64)
    network_fn = nets_factory.get_network_fn(FLAGS.speed_model, classes, weight_decay=4e-5,
                                             is_training=True)
    logits, _ = network_fn(images)
    tf.losses.sparse_softmax_cross_entropy(labels, logits)
    if fold_mode is not None:
      qat.experimental_create_training_graph(quant_delay=0, fold_mode=fold_mode)
    loss = tf.losses.get_total_loss()
    optimizer = tf.train.RMSPropOptimizer(0.01, decay=0.9, momentum=0.9, epsilon=1.0)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
      train_op = optimizer.minimize(loss, tf.train.get_global_step())
    init = tf.global_variables_initializer()
  return graph, train_op, init


def _profile(session, train_op):
  import tensorflow.compat.v1 as tf
  metadata = tf.RunMetadata()
  session.run(train_op, options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE),
              run_metadata=metadata)
  by_type, total = {}, 0.0
  for device in metadata.step_stats.dev_stats:
    for node in device.node_stats:
      kind = node.timeline_label.split('(')[0].split(' = ')[-1].strip() or node.node_name
      micros = node.op_end_rel_micros - node.op_start_rel_micros
      by_type[kind] = by_type.get(kind, 0) + micros
      total += micros
  lines = ['| op type | ms (summed over threads) | share |', '|---|---|---|']
  for kind, micros in sorted(by_type.items(), key=lambda item: -item[1])[:20]:
    lines.append('| %s | %.0f | %.1f%% |' % (kind, micros / 1000, 100 * micros / total))
  return lines


def phase_speed():
  import tensorflow.compat.v1 as tf
  from image_classifier import process
  process.configure(sys.argv)
  sessions = {}
  configs = [('float', None)] + [('QAT %s' % mode, mode) for mode in FLAGS.speed_fold_modes]
  for name, fold_mode in configs:
    graph, train_op, init = _training_graph(fold_mode)
    session = tf.Session(graph=graph)
    session.run(init)
    for _ in range(FLAGS.speed_warmup):
      session.run(train_op)
    sessions[name] = (session, train_op)
  rates = {name: [] for name in sessions}
  for _ in range(FLAGS.speed_rounds):
    for name, (session, train_op) in sessions.items():
      start = time.time()
      for _ in range(FLAGS.speed_steps):
        session.run(train_op)
      rates[name].append(FLAGS.speed_batch * FLAGS.speed_steps / (time.time() - start))
  medians = {name: statistics.median(values) for name, values in rates.items()}

  def spread(values):
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle

  lines = ['| step | images/s (median) | rounds | spread |', '|---|---|---|---|']
  for name in sessions:
    lines.append('| %s | %.2f | %s | %.0f%% |' % (
        name, medians[name], ', '.join('%.2f' % v for v in rates[name]), 100 * spread(rates[name])))
  notes = ['%s, batch %d, %dx%d, RMSProp, random in-graph inputs; %d alternating rounds of %d '
           'steps after %d warm-up steps each. QAT tf1: batch norms folded as TF 1 (each '
           'layer run twice); QAT single_conv: `--quantize_fold=single_conv`.' % (
               FLAGS.speed_model, FLAGS.speed_batch, FLAGS.speed_image_size,
               FLAGS.speed_image_size, FLAGS.speed_rounds, FLAGS.speed_steps, FLAGS.speed_warmup)]
  for name, _ in configs[1:]:
    ratio = medians['float'] / medians[name]
    ratios = [f / q for f, q in zip(rates['float'], rates[name])]
    notes.append('%s step cost / float step cost: **%.2fx** (per-round ratios %s); target '
                 '<= 1.5x: %s.' % (
                     name, ratio, ', '.join('%.2f' % r for r in ratios),
                     ('met' if ratio <= 1.5 else 'NOT met')
                     if max(spread(rates['float']), spread(rates[name])) <= 0.10
                     else 'rounds spread more than 10%, no claim'))
  notes.append('load average before the run: %s' % ', '.join('%.2f' % x for x in LOAD))
  if FLAGS.profile:
    for name, _ in configs[1:]:
      lines += ['', 'Where a %s step\'s time goes (one traced step):' % name, ''] + _profile(
          *sessions[name])
  print('\n'.join(lines + [''] + notes))
  if FLAGS.output:
    bench_data.append_result(FLAGS.output, 'QAT training step cost', 'python ' + ' '.join(sys.argv),
                             lines, notes)


LOAD = os.getloadavg()


def main(_):
  if FLAGS.phase != 'speed':
    from image_classifier import process
    process.configure(sys.argv)
    import logging
    logger = logging.getLogger('tensorflow')
    if not logger.handlers:  # under this app.run nothing else prints the training lines
      logger.addHandler(logging.StreamHandler(sys.stderr))
    _register_model()
  os.makedirs(FLAGS.work_dir, exist_ok=True)
  phases = {'float': [phase_float], 'qat': [phase_qat], 'compare': [phase_compare],
            'accuracy': [phase_float, phase_qat, phase_compare], 'speed': [phase_speed]}
  for phase in phases[FLAGS.phase]:
    phase()


if __name__ == '__main__':
  app.run(main)
