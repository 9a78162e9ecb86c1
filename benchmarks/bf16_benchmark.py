r"""bfloat16 across the zoo: training speed-up of --mixed_precision=bfloat16 over float32, and the
accuracy difference of the real checkpoints' inference in bfloat16.

Speed: train_image_classifier.py itself, as a user runs it (batch --batch, the factory's
preprocessing, RMSProp, the script's defaults) on the synthetic photo-like JPEG TFRecords of
bench_data, once with float32 and once with --mixed_precision=bfloat16, alternately for --rounds
rounds; images/sec = batch / median step time after --warmup steps. On a CPU without bfloat16
instructions (avx512_bf16 / amx_bf16) oneDNN emulates bfloat16: the speed column is skipped.

Accuracy (--accuracy): the real ImageNet checkpoints of ../shared/data/pretrained (mobilenet_v1_025,
mobilenet_v2) classify the photos of ../shared/data/images in float32 and in bfloat16 (the same
rewrite, inference graph); top-1 agreement and the largest softmax difference are printed.

  python benchmarks/bf16_benchmark.py --models=mobilenet_v1,mobilenet_v2 --rounds=2
  python benchmarks/bf16_benchmark.py --accuracy --models=

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
flags.DEFINE_string('worker', '', 'Internal: precision of the accuracy worker.')
FLAGS = flags.FLAGS

_STEP_LINE = re.compile(r'global step (\d+): loss = \S+ \(([0-9.]+) sec/step')
_SHARED = os.path.join(os.path.dirname(ROOT), 'shared', 'data')
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


def main(argv):
  del argv
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
