"""Labels an image with a frozen graph and prints the top-5 classes with their scores.

  python label_image.py --graph=/tmp/frozen_inception_v3.pb --labels=/tmp/imagenet/labels.txt \
      --image=photo.jpg --input_layer=input --output_layer=InceptionV3/Predictions/Reshape_1 \
      --input_mean=128 --input_std=128 --input_width=299 --input_height=299

The flags are those of TensorFlow's label_image example. Node names and the input size default to
what export_inference_graph.py / freeze_graph.py recorded next to the graph.
"""
import os

from absl import flags

from slimlib import cli

flags.DEFINE_string('graph', '', 'Frozen GraphDef (.pb) to run.')
flags.DEFINE_string('labels', '', 'Labels file: slim `id:name` lines or one name per line '
                    '(default: labels.txt of the data set recorded at export, if found).')
flags.DEFINE_string('image', '', 'Image to label (JPEG, PNG, GIF or BMP).')
flags.DEFINE_string('input_layer', None, 'Input node (default: recorded, else `input`).')
flags.DEFINE_string('output_layer', None, 'Output node (default: recorded, else '
                    'InceptionV3/Predictions/Reshape_1).')
flags.DEFINE_float('input_mean', 0, 'Subtracted from every pixel value (0..255).')
flags.DEFINE_float('input_std', 255, 'Pixel values are divided by this after the mean.')
flags.DEFINE_integer('input_height', None, 'Height the image is resized to (default: recorded, '
                     'else 299).')
flags.DEFINE_integer('input_width', None, 'Width the image is resized to (default: recorded, '
                     'else 299).')
flags.DEFINE_integer('top_k', 5, '(new) How many classes to print.')

FLAGS = flags.FLAGS


def _default_labels(recorded):
  candidates = [os.path.join(os.path.dirname(FLAGS.graph), 'labels.txt')]
  if recorded.get('dataset_dir'):
    candidates.insert(0, os.path.join(recorded['dataset_dir'], 'labels.txt'))
  return next((c for c in candidates if os.path.exists(c)), None)


def main(_):
  from slimlib import exporting
  from slimlib.errors import UserError
  if not FLAGS.graph or not FLAGS.image:
    raise UserError('--graph and --image are required')
  recorded = exporting.read_nodes(FLAGS.graph)
  size = recorded.get('image_size', 299)
  height = FLAGS.input_height or size
  width = FLAGS.input_width or size
  channels = (recorded.get('input_shape') or [0, 0, 0, 3])[-1]
  batch = exporting.load_image(FLAGS.image, height, width, FLAGS.input_mean, FLAGS.input_std,
                               channels=channels)
  graph_def = exporting.load_graph_def(FLAGS.graph)
  scores = exporting.run_graph(
      graph_def, FLAGS.input_layer or recorded.get('input', 'input'),
      FLAGS.output_layer or recorded.get('output', 'InceptionV3/Predictions/Reshape_1'), batch)
  labels_path = FLAGS.labels or _default_labels(recorded)
  if FLAGS.labels and not os.path.exists(FLAGS.labels):
    raise UserError('labels file %s not found' % FLAGS.labels)
  labels = exporting.read_labels(labels_path) if labels_path else {}
  offset = recorded.get('labels_offset', 0)
  for index, score in exporting.top_k(scores, FLAGS.top_k):
    print('%s (%d): %.5f' % (labels.get(index + offset, '?'), index, score))


def entry_point():
  cli.run(main)


if __name__ == '__main__':
  entry_point()
