r"""Conversion speed: flowers-style JPEG folder to TFRecords, side by side.

  original  written here as the original flowers converter worked: one process, every JPEG decoded
            in a TensorFlow session (`tf.image.decode_jpeg`) to read its height and width, the
            original bytes written;
  parallel  this project's `convert_image_folder.write_splits`: sizes from the header and a
            structural check of each JPEG (complete segments, end-of-image marker after the scan)
            in --num_workers processes, then every image decoded by TensorFlow before it is
            written (`converter_lib.DecodeCheck`: a JPEG made of one clean sequential scan only
            to its first pixel, anything else in full), shards written atomically.

Both convert the same file list into the same shards, alternately, --rounds times; the medians and
their ratio are reported, and the two outputs are checked to hold the same examples (bytes, height,
width, label).

  python benchmarks/convert_benchmark.py --output=benchmarks/results/speed.md
"""
import glob
import os
import shutil
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

flags.DEFINE_integer('num_images', 1000, 'JPEGs to convert.')
flags.DEFINE_integer('num_shards', 5, 'Shards of the output.')
flags.DEFINE_integer('rounds', 3, 'Alternating rounds.')
flags.DEFINE_integer('num_workers', None, 'Worker processes of the parallel converter '
                     '(default: one per CPU).')
flags.DEFINE_string('work_dir', os.path.join(tempfile.gettempdir(), 'slim_convert_bench'),
                    'Where the JPEGs and outputs go.')
flags.DEFINE_string('output', '', 'Append the Markdown results to this file.')
FLAGS = flags.FLAGS


def _items(images_dir):
  classes = sorted(d for d in os.listdir(images_dir) if os.path.isdir(os.path.join(images_dir, d)))
  items = []
  for label, name in enumerate(classes):
    items.extend((path, label) for path in sorted(glob.glob(os.path.join(images_dir, name, '*'))))
  return items


def convert_original(items, out_dir, num_shards):
  """One process; each image decoded in a TensorFlow session for its size (the original way)."""
  import tensorflow.compat.v1 as tf
  from datasets import convert_image_folder, dataset_utils
  with tf.Graph().as_default():
    data = tf.placeholder(tf.string)
    decoded = tf.image.decode_jpeg(data, channels=3)
    with tf.Session() as session:
      for shard_id, (start, end) in enumerate(
          convert_image_folder.shard_ranges(len(items), num_shards)):
        path = dataset_utils.shard_filename(out_dir, 'custom', 'train', shard_id, num_shards)
        with tf.io.TFRecordWriter(path) as writer:
          for filename, label in items[start:end]:
            with tf.io.gfile.GFile(filename, 'rb') as f:
              encoded = f.read()
            image = session.run(decoded, {data: encoded})
            example = dataset_utils.image_to_tfexample(encoded, b'jpg', image.shape[0],
                                                       image.shape[1], label)
            writer.write(example.SerializeToString())


def convert_parallel(items, out_dir, num_shards, num_workers):
  from datasets import convert_image_folder
  convert_image_folder.write_splits([('train', items, num_shards)], out_dir, 'custom',
                                    num_workers=num_workers, progress=False)


def _cpu_seconds():
  import resource
  return sum(usage.ru_utime + usage.ru_stime for usage in (
      resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def _examples(out_dir):
  import tensorflow.compat.v1 as tf
  found = []
  for path in sorted(glob.glob(os.path.join(out_dir, '*.tfrecord'))):
    for record in tf.io.tf_record_iterator(path):
      example = tf.train.Example.FromString(record)
      feature = example.features.feature
      found.append((feature['image/encoded'].bytes_list.value[0],
                    feature['image/height'].int64_list.value[0],
                    feature['image/width'].int64_list.value[0],
                    feature['image/class/label'].int64_list.value[0]))
  return found


def main(argv):
  del argv
  from image_classifier import process
  process.configure(sys.argv)
  images_dir = bench_data.make_jpeg_folder(os.path.join(FLAGS.work_dir, 'jpegs'), FLAGS.num_images)
  items = _items(images_dir)
  times = {'original': [], 'parallel': []}
  cpu = {'original': [], 'parallel': []}  # this process and its (joined) workers
  for round_index in range(FLAGS.rounds):
    for name in ('original', 'parallel'):
      out_dir = os.path.join(FLAGS.work_dir, 'out_%s' % name)
      shutil.rmtree(out_dir, ignore_errors=True)
      os.makedirs(out_dir)
      start, start_cpu = time.time(), _cpu_seconds()
      if name == 'original':
        convert_original(items, out_dir, FLAGS.num_shards)
      else:
        convert_parallel(items, out_dir, FLAGS.num_shards, FLAGS.num_workers)
      times[name].append(time.time() - start)
      cpu[name].append(_cpu_seconds() - start_cpu)
      print('round %d %s: %.2f s (%.0f images/sec), CPU %.2f s' % (
          round_index, name, times[name][-1], len(items) / times[name][-1], cpu[name][-1]),
            flush=True)
  same = _examples(os.path.join(FLAGS.work_dir, 'out_original')) == _examples(
      os.path.join(FLAGS.work_dir, 'out_parallel'))
  original, parallel = statistics.median(times['original']), statistics.median(times['parallel'])
  ratios = sorted(o / p for o, p in zip(times['original'], times['parallel']))
  lines = ['| converter | seconds (median) | images/sec | speed-up | CPU seconds (median) |',
           '|---|---|---|---|---|',
           '| original (1 process, TF-session decode) | %.2f | %.0f | 1.00x | %.2f |' % (
               original, len(items) / original, statistics.median(cpu['original'])),
           '| parallel (write_splits, %s workers) | %.2f | %.0f | %.2fx (rounds %.2f-%.2fx) | '
           '%.2f |' % (FLAGS.num_workers or os.cpu_count(), parallel, len(items) / parallel,
                       original / parallel, ratios[0], ratios[-1],
                       statistics.median(cpu['parallel']))]
  from datasets import converter_lib
  quick = sum(converter_lib.is_single_clean_scan(open(path, 'rb').read()) for path, _ in items)
  notes = ['%d photo-sized JPEGs (320x240 to 640x480), %d shards, %d alternating rounds' % (
      len(items), FLAGS.num_shards, FLAGS.rounds),
           'seconds per round: original %s; parallel %s' % (
               ', '.join('%.2f' % t for t in times['original']),
               ', '.join('%.2f' % t for t in times['parallel'])),
           'parallel: every image decoded by TensorFlow before it is written, %d of %d only to '
           'their first pixel (one clean sequential scan)' % (quick, len(items)),
           'both outputs hold the same examples (bytes, height, width, label): %s' % same]
  print('\n'.join(lines))
  for note in notes:
    print('* ' + note)
  if FLAGS.output:
    bench_data.append_result(FLAGS.output, 'Conversion', 'python benchmarks/convert_benchmark.py '
                             + ' '.join(sys.argv[1:]), lines, notes)


if __name__ == '__main__':
  app.run(main)
