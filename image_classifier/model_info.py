"""What a trained classifier is besides its weights, and building it from the factories.

`ModelInfo` describes a model (network, class count, image size, preprocessing, labels offset,
data set, class names); every exported form carries it as JSON so that the tools that run a form
know how to feed it. The functions here are the application's one way into `nets_factory` and
`preprocessing_factory`: the names they are given come from flags, so a lookup that fails is the
user's mistake (a UserError naming the valid names), not a crash.
"""
import collections
import contextlib

import tensorflow.compat.v1 as tf
import tf_slim as slim

from datasets import dataset_factory
from datasets import dataset_utils
from foundation import errors
from foundation import internals
from foundation.errors import UserError
from nets import nets_factory
from nets import shufflenet_utils
from preprocessing import preprocessing_factory
from image_classifier import checkpoints
import quantize

INPUT = 'input'
LOGITS = 'logits'
PROBABILITIES = 'probabilities'


def network_spec(model_name):
  """The factory's record of a network (default size, preprocessing, logits scopes)."""
  with errors.as_user_error('--model_name: '):
    return nets_factory.network_spec(model_name)


def network_fn(model_name, num_classes, weight_decay=0.0, is_training=False):
  """nets_factory.get_network_fn, with an unknown name as a UserError."""
  with errors.as_user_error('--model_name: '):
    return nets_factory.get_network_fn(model_name, num_classes=num_classes,
                                       weight_decay=weight_decay, is_training=is_training)


def preprocessing_fn(name, is_training, use_grayscale=False):
  """preprocessing_factory.get_preprocessing, with an unknown name as a UserError."""
  with errors.as_user_error('--preprocessing_name: '):
    return preprocessing_factory.get_preprocessing(name, is_training=is_training,
                                                   use_grayscale=use_grayscale)


def preprocessing_name(model_name, given=None):
  """--preprocessing_name, else the network's own preprocessing."""
  return given or network_spec(model_name).preprocessing or model_name


class ModelInfo(collections.namedtuple('ModelInfo', [
    'model_name', 'num_classes', 'image_size', 'preprocessing_name', 'labels_offset',
    'dataset_name', 'dataset_dir', 'labels'])):
  """What a served model needs besides its weights. `labels`: {dataset label id: name}."""

  def as_json(self, **extra):
    out = dict(self._asdict(), input=INPUT, output=PROBABILITIES, logits=LOGITS,
               input_shape=[None, self.image_size, self.image_size, 3])
    out['labels'] = {str(k): v for k, v in (self.labels or {}).items()}
    out.update(extra)
    return out


def dataset_num_classes(dataset_name, dataset_dir):
  """A data set's class count, read from its metadata only (its split files need not exist)."""
  try:
    dataset = dataset_factory.get_dataset(dataset_name, 'train', dataset_dir, require_files=False)
  except dataset_utils.DatasetError:  # a custom data set converted without a train split
    dataset = dataset_factory.get_dataset(dataset_name, 'validation', dataset_dir,
                                          require_files=False)
  return dataset.num_classes


def describe(model_name, dataset_name, dataset_dir, labels_offset=0, image_size=None,
             preprocessing_name=None, num_classes=None):
  """ModelInfo for a model of the factory trained on a data set (only its metadata is read)."""
  spec = network_spec(model_name)
  if num_classes is None:
    num_classes = dataset_num_classes(dataset_name, dataset_dir) - labels_offset
  labels = {}
  if dataset_dir and dataset_utils.has_labels(dataset_dir):
    labels = dataset_utils.read_label_file(dataset_dir)
  size = image_size or network_fn(model_name, num_classes).default_image_size
  return ModelInfo(model_name, int(num_classes), int(size),
                   preprocessing_name or spec.preprocessing or model_name, int(labels_offset),
                   dataset_name, dataset_dir, labels)


def info_from_json(data):
  """ModelInfo from a recorded description (export_model.py's, or export_inference_graph.py's,
  which lacks the preprocessing and labels: those come from the factory and the data set folder)."""
  fields = {k: data.get(k) for k in ModelInfo._fields}
  fields['labels'] = {int(k): v for k, v in (data.get('labels') or {}).items()}
  fields['labels_offset'] = fields['labels_offset'] or 0
  if not fields['preprocessing_name']:
    try:
      fields['preprocessing_name'] = preprocessing_name(fields['model_name'])
    except UserError:
      fields['preprocessing_name'] = fields['model_name']
  if not fields['labels'] and fields['dataset_dir'] and dataset_utils.has_labels(
      fields['dataset_dir']):
    fields['labels'] = dataset_utils.read_label_file(fields['dataset_dir'])
  return ModelInfo(**fields)


def preprocess_fn(info):
  """The model's evaluation transform: uint8 [H, W, 3] image -> float [size, size, 3]."""
  transform = preprocessing_fn(info.preprocessing_name, is_training=False)
  return lambda image: transform(image, info.image_size, info.image_size)


def decode_and_preprocess(info, encoded):
  """Encoded JPEG/PNG/GIF/BMP string -> the preprocessed float image the network expects."""
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  image.set_shape([None, None, 3])
  return preprocess_fn(info)(image)


def network_outputs(info, images):
  """(logits [B, classes], probabilities) of the network in evaluation mode, as named nodes."""
  logits, _ = network_fn(info.model_name, info.num_classes)(images)
  logits = tf.reshape(logits, [-1, info.num_classes])
  return (tf.identity(logits, name=LOGITS),
          tf.nn.softmax(logits, name=PROBABILITIES))


def restore(session, checkpoint, moving_average_decay=None):
  """Restores the graph's variables from `checkpoint` (moving-average shadows where it has them)."""
  shapes = checkpoints.shapes_in(checkpoint)
  var_map = {}
  for var in tf.global_variables():
    name = var.op.name
    shadow = name + '/ExponentialMovingAverage'
    var_map[shadow if moving_average_decay and shadow in shapes else name] = var
  var_map = checkpoints.check_fits(checkpoint, var_map, fix_flag=None)
  tf.train.Saver(var_map).restore(session, checkpoint)


def grouped_conv_formulation(native):
  """The arg scope that builds ShuffleNet's grouped convolutions as TensorFlow's grouped `Conv2D`
  when `native` (same variables, same outputs), or a no-op scope."""
  return (slim.arg_scope([shufflenet_utils.grouped_conv2d], formulation='grouped')
          if native else contextlib.nullcontext())


def native_grouped_convs_run_here():
  """True when this process's TensorFlow runs a grouped `Conv2D` with its batch norm fused.

  Its remapper fuses conv + batch norm; with oneDNN on, the fused CPU kernel takes groups (and
  does a third of the block-diagonal kernel's work for ShuffleNet V1 g3); with oneDNN off it
  fails. Only CPU-only processes (a GPU would take the convolutions, untested here), and only
  with the speed-ups (SLIM_TF_SPEEDUPS=0 keeps the graphs as built).
  """
  return (internals.SPEEDUPS and internals.onednn_enabled()
          and not tf.config.list_physical_devices('GPU'))


def inference_graph(info, batch_size=None, quantized=False, native_grouped_convs=False):
  """A new graph with the `input` placeholder -> network; returns (graph, input, logits, probs).

  `quantized`: rewritten by `quantize.create_eval_graph` once the outputs exist (so that they read
  the fake-quantised logits), to restore a quantization-aware training checkpoint.
  `native_grouped_convs`: ShuffleNet's grouped convolutions as TensorFlow's grouped `Conv2D`
  (same variables, same outputs), for a graph that a converter reads rather than TensorFlow runs.
  """
  graph = tf.Graph()
  with graph.as_default(), grouped_conv_formulation(native_grouped_convs):
    images = tf.placeholder(tf.float32, [batch_size, info.image_size, info.image_size, 3],
                            name=INPUT)
    logits, probabilities = network_outputs(info, images)
    if quantized:
      quantize.create_eval_graph()
  return graph, images, logits, probabilities


def session_with_model(info, checkpoint, moving_average_decay=None, batch_size=None,
                       quantized=False, native_grouped_convs=False):
  """`inference_graph` in a session with the weights restored: (session, input, logits,
  probabilities); the caller closes the session."""
  graph, images, logits, probabilities = inference_graph(info, batch_size, quantized,
                                                         native_grouped_convs)
  session = tf.Session(graph=graph)
  with graph.as_default():
    restore(session, checkpoint, moving_average_decay)
  return session, images, logits, probabilities
