r"""Labels an image with a frozen graph, a SavedModel or a TFLite model; prints the top-5 classes with
their scores.

  python label_image.py --graph=/tmp/frozen_inception_v3.pb --labels=/tmp/imagenet/labels.txt \
      --image=photo.jpg --input_layer=input --output_layer=InceptionV3/Predictions/Reshape_1 \
      --input_mean=128 --input_std=128 --input_width=299 --input_height=299

The flags are those of TensorFlow's label_image example. Node names and the input size default to
what export_inference_graph.py / freeze_graph.py / export_model.py recorded next to the graph.
A SavedModel from export_model.py receives the photo's bytes (its preprocessing is inside). For a
graph or TFLite file whose model is recorded, the model's own evaluation preprocessing is used unless
--input_mean or --input_std is given (then: bilinear resize and (pixel - mean) / std, as the example).
"""
import os

from absl import flags

from image_classifier import cli  # first: it prepares the process before TensorFlow loads

import tensorflow.compat.v1 as tf  # noqa: E402,I100

flags.DEFINE_string('graph', '', 'Frozen GraphDef (.pb), SavedModel folder or .tflite file to run.')
flags.DEFINE_string('labels', '', 'Labels file: slim `id:name` lines or one name per line '
                    '(default: labels.txt of the data set recorded at export, if found).')
flags.DEFINE_string('image', '', 'Image to label (JPEG, PNG, GIF or BMP).')
flags.DEFINE_string('input_layer', None, 'Input node (default: recorded, else `input`).')
flags.DEFINE_string('output_layer', None, 'Output node (default: recorded, else '
                    'InceptionV3/Predictions/Reshape_1).')
flags.DEFINE_float('input_mean', 0, 'Subtracted from every pixel value (0..255).')
flags.DEFINE_float('input_std', 255, 'Pixel values are divided by this after the mean.')
flags.register_validator('input_std', lambda value: value != 0, '--input_std must not be 0')
flags.DEFINE_integer('input_height', None, 'Height the image is resized to (default: recorded, '
                     'else 299).', lower_bound=1)
flags.DEFINE_integer('input_width', None, 'Width the image is resized to (default: recorded, '
                     'else 299).', lower_bound=1)
flags.DEFINE_integer('top_k', 5, '(new) How many classes to print.', lower_bound=1)
flags.DEFINE_integer('labels_offset', None, '(new) Label id of the model\'s first output in the '
                     'labels file (1 for a 1000-class model with 1001 ImageNet labels; default: '
                     'recorded at export, else 0).', lower_bound=0)

FLAGS = flags.FLAGS


def _default_labels(recorded):
  candidates = [os.path.join(os.path.dirname(FLAGS.graph), 'labels.txt')]
  if recorded.get('dataset_dir'):
    candidates.insert(0, os.path.join(recorded['dataset_dir'], 'labels.txt'))
  return next((c for c in candidates if os.path.exists(c)), None)


def _labels(recorded):
  from foundation.errors import UserError
  from image_classifier import serving
  if FLAGS.labels and not os.path.exists(FLAGS.labels):
    raise UserError('labels file %s not found' % FLAGS.labels)
  labels_path = FLAGS.labels or _default_labels(recorded)
  return serving.read_labels(labels_path) if labels_path else {}


def _offset(recorded):
  return FLAGS.labels_offset if FLAGS.labels_offset is not None else recorded.get('labels_offset', 0)


def _print(pairs, labels, offset):
  for index, score in pairs:
    print('%s (%d): %.5f' % (labels.get(index + offset, '?'), index, score))


def _label_saved_model():
  from image_classifier import serving
  from foundation import errors
  from foundation.errors import UserError
  model = serving.SavedModel(FLAGS.graph)
  with open(FLAGS.image, 'rb') as f:
    try:
      result = model.classify([f.read()])
    except tf.errors.OpError as e:
      raise UserError('cannot decode image %s: %s' % (FLAGS.image, errors.reason(e)))
  labels = _labels({}) if FLAGS.labels else {}  # else the names the model returns
  offset = _offset({'labels_offset': model.info.labels_offset if model.info else 0})
  serving.check_labels(labels, result['logits'].shape[-1], offset, FLAGS.labels)
  for cls, name, score in list(zip(result['classes'][0], result['names'][0],
                                   result['scores'][0]))[:FLAGS.top_k]:
    name = labels.get(int(cls), '?') if FLAGS.labels else name.decode('utf-8')
    print('%s (%d): %.5f' % (name, int(cls) - offset, score))


@cli.script_main
def main(_):
  from foundation import errors
  from foundation.errors import UserError
  from image_classifier import exporting
  from image_classifier import serving
  if not FLAGS.graph or not FLAGS.image:
    raise UserError('--graph and --image are required')
  if not os.path.exists(FLAGS.image):
    raise UserError('image %s not found' % FLAGS.image)
  form = serving.form_of(FLAGS.graph)
  if form == 'saved_model':
    return _label_saved_model()
  recorded = exporting.read_nodes(FLAGS.graph)
  if form == 'tflite':
    model = serving.TFLiteModel(FLAGS.graph)
  else:
    model = serving.FrozenModel(FLAGS.graph, input_node=FLAGS.input_layer,
                                output_node=FLAGS.output_layer)
  size = model.image_size or recorded.get('image_size', 299)
  height = FLAGS.input_height or size
  width = FLAGS.input_width or size
  channels = (recorded.get('input_shape') or [0, 0, 0, 3])[-1]
  own_preprocessing = (model.info is not None and channels == 3 and height == width == size
                       and not FLAGS['input_mean'].present and not FLAGS['input_std'].present)
  if own_preprocessing:
    batch = serving.preprocess_files(model.info, [FLAGS.image])
  else:
    batch = serving.load_image(FLAGS.image, height, width, FLAGS.input_mean, FLAGS.input_std,
                                 channels=channels)
  try:
    scores = model.scores(batch)
  except (tf.errors.OpError, RuntimeError, ValueError) as e:
    raise UserError('cannot run %s on image %s: %s' % (FLAGS.graph, FLAGS.image,
                                                        errors.reason(e)))
  offset = _offset(recorded)
  labels = _labels(recorded)
  source = FLAGS.labels or _default_labels(recorded)
  if not labels and model.info:
    labels, source = model.info.labels, 'the labels recorded with the model'
  serving.check_labels(labels, scores.shape[-1], offset, source)
  _print(serving.top_k(scores, FLAGS.top_k), labels, offset)


def entry_point():
  cli.run(main)


if __name__ == '__main__':
  entry_point()
