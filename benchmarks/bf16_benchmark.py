r"""bfloat16 across the zoo: training speed-up of --mixed_precision=bfloat16 over float32, and the
accuracy difference of the real checkpoints' inference in bfloat16.

Speed: train_image_classifier.py itself, as a user runs it (batch --batch, the factory's
preprocessing, RMSProp, the script's defaults) on the synthetic photo-like JPEG TFRecords of
bench_data, once with float32 and once with --mixed_precision=bfloat16, alternately for --rounds
rounds; images/sec = batch / median step time after --warmup steps. On a CPU without bfloat16
instructions (avx512_bf16 / amx_bf16) oneDNN emulates bfloat16: the speed column is skipped.

Held-out accuracy (--digits_models): each net is trained from scratch on the real sample digits
(sample_data/digits, 20% held out; lenet preprocessing, centre-padded to --digits_image_size, or
107 for inception_v3, the smallest input of its auxiliary head) once in float32 and once with
--mixed_precision=bfloat16, the same steps, optimizer and batch-norm decay (0.9, so that the
moving averages settle within the run; inception_v1's logits pool globally instead of over their
fixed 7x7 window), then evaluated on the held-out digits in the precision it was trained in (and
the bfloat16 model in float32 too). Each run is its own process, as the rewrite is set up per
process.

Accuracy (--accuracy): the real ImageNet checkpoints of ../shared/data/pretrained (mobilenet_v1_025,
mobilenet_v2) classify the photos of ../shared/data/images in float32 and in bfloat16 (the same
rewrite, inference graph); top-1 agreement and the largest softmax difference are printed.

  python benchmarks/bf16_benchmark.py --models=mobilenet_v1,mobilenet_v2 --rounds=2
  python benchmarks/bf16_benchmark.py --accuracy --models=
  python benchmarks/bf16_benchmark.py --models= \
      --digits_models=mobilenet_v1,mobilenet_v2,inception_v1,inception_v3,resnet_v1_50

A benchmark, not a test; hold /work/cpu.lock exclusively while it runs.
"""
import glob
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

flags.DEFINE_string('models', 'mobilenet_v1,mobilenet_v2,inception_v1,inception_v3,resnet_v1_50',
                    'Models whose training is timed.')
flags.DEFINE_integer('rounds', 2, 'Alternating rounds.')
flags.DEFINE_integer('batch', 32, 'Batch size.')
flags.DEFINE_integer('warmup', 2, 'Steps not measured at the start of each run.')
flags.DEFINE_integer('steps', 4, 'Measured steps per run.')
flags.DEFINE_bool('accuracy', False, 'Also compare the real checkpoints\' bfloat16 inference.')
flags.DEFINE_string('work_dir', os.path.join(tempfile.gettempdir(), 'slim_speed_bench'),
                    'Where the synthetic data and training folders go.')
flags.DEFINE_string('output', '', 'Append the Markdown results to this file.')
flags.DEFINE_string('digits_models', '', 'Models trained on the sample digits in both precisions '
                    '(held-out accuracy).')
flags.DEFINE_integer('digits_steps', 400, 'Training steps of each digits run.')
flags.DEFINE_integer('digits_image_size', 32,
                     'Input size of the digits runs (inception_v3: at least 107).')
flags.DEFINE_float('digits_learning_rate', 0.003, 'Adam learning rate of the digits runs, decayed '
                   'linearly to a hundredth of it.')
flags.DEFINE_string('worker', '', 'Internal: precision of the accuracy worker, or '
                    'digits:MODEL:PRECISION.')
FLAGS = flags.FLAGS

_STEP_LINE = re.compile(r'global step (\d+): loss = \S+ \(([0-9.]+) sec/step')
_SHARED = os.path.join(os.path.dirname(ROOT), 'shared', 'data')
# inception_v3's auxiliary head (trained by the script) pools 5x5 over Mixed_6e: 107 px at least.
_SMALLEST_INPUT = {'inception_v3': 107}
# Nets whose logits pool a fixed window (7x7 for inception_v1: 224 px) pool globally instead.
_GLOBAL_POOL = ('inception_v1',)
# The keyword of each arg scope that sets the batch-norm moving-average decay.
_BN_DECAY_KEYWORD = {'mobilenet_v2': 'bn_decay'}
_CHECKPOINTS = (('mobilenet_v2', 'mobilenet_v2_1.0_224', 224),
                ('mobilenet_v1_025', 'mobilenet_v1_0.25_128', 128))


def native_bf16():
  model, cpu = bench_util.cpu_model_and_flags()
  del model
  return [f for f in ('avx512_bf16', 'amx_bf16') if f in cpu]


def _train(model, dataset_dir, precision):
  train_dir = tempfile.mkdtemp(dir=FLAGS.work_dir, prefix='bf16_%s_%s_' % (model, precision))
  command = [sys.executable, os.path.join(ROOT, 'train_image_classifier.py'),
             '--train_dir=%s' % train_dir, '--dataset_name=custom', '--dataset_split_name=train',
             '--dataset_dir=%s' % dataset_dir, '--model_name=%s' % model,
             '--batch_size=%d' % FLAGS.batch, '--log_every_n_steps=1',
             '--max_number_of_steps=%d' % (FLAGS.warmup + FLAGS.steps),
             '--save_interval_secs=100000', '--save_summaries_secs=100000',
             '--mixed_precision=%s' % precision]
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='2')
  result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
  times = {}
  for line in (result.stdout + result.stderr).splitlines():
    match = _STEP_LINE.search(line)
    if match:
      times[int(match.group(1))] = float(match.group(2))
  measured = [t for step, t in sorted(times.items()) if step > FLAGS.warmup]
  if result.returncode or not measured:
    print('%s %s failed:\n%s' % (model, precision, result.stderr[-3000:]), flush=True)
    return float('nan')
  return FLAGS.batch / bench_util.median(measured)


def speed_table(dataset_dir):
  lines = ['| model | float32 images/s (median, spread) | bfloat16 images/s (median, spread) '
           '| bfloat16 / float32 (per round) |', '|---|---|---|---|']
  for model in [m for m in FLAGS.models.split(',') if m]:
    runs = bench_util.alternating_rounds(
        FLAGS.rounds, ('none', 'bfloat16'),
        lambda precision, index, model=model: _train(model, dataset_dir, precision))
    for precision in ('none', 'bfloat16'):
      print('%s %s: %s images/s' % (model, precision,
                                    ', '.join('%.2f' % v for v in runs[precision])), flush=True)
    f32, b16 = runs['none'], runs['bfloat16']
    ratio = bench_util.median(b16) / bench_util.median(f32)
    noisy = max(bench_util.spread(f32), bench_util.spread(b16)) > bench_util.SPREAD_LIMIT
    lines.append('| %s | %.2f (%s) | %.2f (%s) | **%.2fx** (%s)%s |' % (
        model, bench_util.median(f32), bench_util.spread_text(f32), bench_util.median(b16),
        bench_util.spread_text(b16), ratio,
        ', '.join('%.2f' % r for r in bench_util.round_ratios(b16, f32)),
        '; rounds spread > 10%: noisy' if noisy else ''))
  return lines


def _accuracy_worker(precision):
  """Prints, per checkpoint and photo, the top-1 class and its softmax probability."""
  from image_classifier import process
  process.configure(['--mixed_precision=%s' % precision])
  import numpy as np
  import tensorflow.compat.v1 as tf
  from image_classifier import precision as precision_module
  from nets import nets_factory
  from preprocessing import preprocessing_factory
  photos = sorted(glob.glob(os.path.join(_SHARED, 'images', 'coral_*')))
  for net, folder, size in _CHECKPOINTS:
    with tf.Graph().as_default():
      encoded = tf.placeholder(tf.string, [])
      image = tf.image.decode_image(encoded, channels=3, expand_animations=False)
      preprocess = preprocessing_factory.get_preprocessing('mobilenet_v1', is_training=False)
      batch = tf.expand_dims(preprocess(image, size, size), 0)
      logits, _ = nets_factory.get_network_fn(net, 1001, is_training=False)(batch)
      probabilities = tf.nn.softmax(tf.cast(logits, tf.float32))
      saver = tf.train.Saver()
      config = precision_module.session_config(precision)
      with tf.Session(config=config) as session:
        saver.restore(session, os.path.join(_SHARED, 'pretrained', folder, folder + '.ckpt'))
        for photo in photos:
          with open(photo, 'rb') as f:
            p = session.run(probabilities, {encoded: f.read()})[0]
          print('RESULT %s %s %d %s' % (net, os.path.basename(photo), int(np.argmax(p)),
                                        ' '.join('%.6f' % v for v in p)), flush=True)


def accuracy_table():
  import numpy as np
  outputs = {}
  for precision in ('none', 'bfloat16'):
    result = subprocess.run([sys.executable, os.path.abspath(__file__), '--worker=%s' % precision],
                            capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='2'))
    if result.returncode:
      print(result.stderr[-3000:])
      return []
    outputs[precision] = {}
    for line in result.stdout.splitlines():
      if line.startswith('RESULT '):
        _, net, photo, top, *probs = line.split()
        outputs[precision][(net, photo)] = (int(top), np.array([float(v) for v in probs]))
  lines = ['| checkpoint | photos | top-1 the same in bfloat16 | largest softmax difference | '
           'top-1 probability, float32 / bfloat16 (mean) |', '|---|---|---|---|---|']
  for net, _, _ in _CHECKPOINTS:
    keys = [k for k in outputs['none'] if k[0] == net]
    same = sum(outputs['none'][k][0] == outputs['bfloat16'][k][0] for k in keys)
    diff = max(float(np.abs(outputs['none'][k][1] - outputs['bfloat16'][k][1]).max())
               for k in keys)
    top32 = np.mean([outputs['none'][k][1].max() for k in keys])
    top16 = np.mean([outputs['bfloat16'][k][1][outputs['none'][k][0]] for k in keys])
    lines.append('| %s | %d | %d of %d | %.4f | %.3f / %.3f |' % (net, len(keys), same, len(keys),
                                                                  diff, top32, top16))
  return lines


# ------------------------------------------------------------------ held-out accuracy on digits

def _digits_size(model):
  return max(FLAGS.digits_image_size, _SMALLEST_INPUT.get(model, 0))


def _digits_worker(model, precision):
  """Trains `model` on the digits in `precision`, prints its held-out accuracy (RESULT lines)."""
  import functools
  from image_classifier import process
  process.configure(['--mixed_precision=%s' % precision])
  sys.path.insert(0, os.path.join(ROOT, 'tests'))
  from datasets import dataset_factory
  from image_classifier import evaluation
  from image_classifier import training
  from nets import nets_factory
  from test_training import eval_options
  from test_training import train_options
  data = bench_data.digits_tfrecords(os.path.join(FLAGS.work_dir, 'digits_data'))
  # The same net with a batch-norm decay of 0.9: a window of ~10 steps, so that the moving
  # averages the evaluation uses describe the final weights of a run this short.
  spec = nets_factory.NETS[model]
  name = model + '_bn09'
  fn = spec.fn
  if model in _GLOBAL_POOL:
    fn = functools.wraps(spec.fn)(functools.partial(spec.fn, global_pool=True))
  nets_factory.NETS[name] = spec._replace(name=name, fn=fn, arg_scope=functools.partial(
      spec.arg_scope, **{_BN_DECAY_KEYWORD.get(model, 'batch_norm_decay'): 0.9}))
  size = _digits_size(model)
  epochs = FLAGS.digits_steps * FLAGS.batch / dataset_factory.get_dataset(
      'custom', 'train', data).num_samples
  train_dir = tempfile.mkdtemp(dir=FLAGS.work_dir, prefix='digits_%s_%s_' % (model, precision))
  start = time.time()
  checkpoint = training.train(train_options(
      train_dir=train_dir, dataset_name='custom', dataset_dir=data, model_name=name,
      preprocessing_name='lenet', train_image_size=size, batch_size=FLAGS.batch,
      optimizer='adam', opt_epsilon=1e-3, learning_rate=FLAGS.digits_learning_rate,
      learning_rate_decay_type='polynomial', num_epochs_per_decay=epochs,
      end_learning_rate=FLAGS.digits_learning_rate / 100, max_number_of_steps=FLAGS.digits_steps,
      log_every_n_steps=100, num_preprocessing_threads=2, save_interval_secs=100000,
      save_summaries_secs=100000, mixed_precision=precision))
  seconds = time.time() - start
  # The bfloat16 model is also evaluated in float32 (as an exported float graph would run it).
  for eval_precision in sorted({precision, 'none'}):
    report = evaluation.evaluate_checkpoint(eval_options(
        dataset_dir=data, eval_dir=os.path.join(train_dir, 'eval_' + eval_precision),
        model_name=name, preprocessing_name='lenet', eval_image_size=size,
        mixed_precision=eval_precision), checkpoint)
    print('RESULT %s %s %s %.6f %d %.1f' % (model, precision, eval_precision, report['Accuracy'],
                                            report['num_examples'], seconds), flush=True)


def digits_table(models):
  results = {}
  for model in models:
    for precision in ('none', 'bfloat16'):
      result = subprocess.run(
          [sys.executable, os.path.abspath(__file__), '--worker=digits:%s:%s' % (model, precision),
           '--work_dir=%s' % FLAGS.work_dir, '--batch=%d' % FLAGS.batch,
           '--digits_steps=%d' % FLAGS.digits_steps,
           '--digits_image_size=%d' % FLAGS.digits_image_size,
           '--digits_learning_rate=%g' % FLAGS.digits_learning_rate],
          capture_output=True, text=True, cwd=ROOT,
          env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='2'))
      if result.returncode:
        print('%s %s failed:\n%s' % (model, precision, result.stderr[-3000:]), flush=True)
        continue
      for line in result.stdout.splitlines():
        if line.startswith('RESULT '):
          _, net, trained, evaluated, accuracy, count, seconds = line.split()
          results[(net, trained, evaluated)] = (float(accuracy), int(count), float(seconds))
          print(line, flush=True)
  lines = ['| model (input size) | held-out images | float32 accuracy | bfloat16 accuracy '
           '(bfloat16 model in float32) | difference | training s, float32 / bfloat16 |',
           '|---|---:|---:|---:|---:|---|']
  for model in models:
    f32 = results.get((model, 'none', 'none'))
    b16 = results.get((model, 'bfloat16', 'bfloat16'))
    b16_f32 = results.get((model, 'bfloat16', 'none'))
    if not (f32 and b16 and b16_f32):
      lines.append('| %s | | failed | | | |' % model)
      continue
    lines.append('| %s (%d) | %d | %.4f | %.4f (%.4f) | %+.4f | %.0f / %.0f |' % (
        model, _digits_size(model), f32[1], f32[0],
        b16[0], b16_f32[0], b16[0] - f32[0], f32[2], b16[2]))
  return lines


def main(argv):
  del argv
  if FLAGS.worker.startswith('digits:'):
    _digits_worker(*FLAGS.worker.split(':')[1:])
    return
  if FLAGS.worker:
    _accuracy_worker(FLAGS.worker)
    return
  os.makedirs(FLAGS.work_dir, exist_ok=True)
  native = native_bf16()
  print(bench_util.cpu_flags_line(), flush=True)
  lines, notes = [], []
  if FLAGS.models:
    if not native:
      notes.append('this CPU has no bfloat16 instructions (avx512_bf16, amx_bf16): oneDNN would '
                   'emulate bfloat16, so no speed is reported')
    else:
      lines += speed_table(bench_data.make_tfrecords(FLAGS.work_dir))
      notes.append('train_image_classifier.py, batch %d, %d measured steps after %d warm-up '
                   'steps per run, %d alternating rounds; native bfloat16: %s'
                   % (FLAGS.batch, FLAGS.steps, FLAGS.warmup, FLAGS.rounds, ', '.join(native)))
  digits_models = [m for m in FLAGS.digits_models.split(',') if m]
  if digits_models:
    if lines:
      lines.append('')
    lines += digits_table(digits_models)
    notes.append('digits: %d steps of batch %d (Adam %g, decayed linearly to a hundredth), '
                 'batch-norm decay 0.9, lenet preprocessing; held out: 20%% of the sample digits'
                 % (FLAGS.digits_steps, FLAGS.batch, FLAGS.digits_learning_rate))
  if FLAGS.accuracy:
    if lines:
      lines.append('')
    lines += accuracy_table()
  notes.append(bench_util.load_line() + ' at the end')
  print('\n'.join(lines))
  for note in notes:
    print('* ' + note)
  if FLAGS.output:
    bench_data.append_result(FLAGS.output, 'bfloat16', 'python benchmarks/bf16_benchmark.py '
                             + ' '.join(sys.argv[1:]), lines, notes)


if __name__ == '__main__':
  app.run(main)
