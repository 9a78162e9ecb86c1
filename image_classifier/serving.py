"""Running what `exporting` writes: a SavedModel, a TFLite file, a frozen graph, or (as the
reference they are compared with) the checkpoint's own graph, all behind one small interface:
`logits(images)`, `scores(images)`, `close()`, and `info` (the model's description, when recorded).

Also the helpers of label_image.py: labels files, loading one image as TensorFlow's label_image
example does, top-k.
"""
import json
import os

import numpy as np
import tensorflow.compat.v1 as tf

from foundation import errors
from foundation.errors import UserError
from nets import shufflenet_utils
from image_classifier import checkpoints
from image_classifier import exporting
from image_classifier import model_info
from image_classifier.model_info import INPUT, LOGITS, PROBABILITIES


def form_of(path):
  """'saved_model', 'tflite' or 'frozen_graph' from what is at `path`."""
  if tf.io.gfile.isdir(path):
    if tf.io.gfile.exists(os.path.join(path, 'saved_model.pb')):
      return 'saved_model'
    raise UserError('%s is a folder without saved_model.pb (not a SavedModel)' % path)
  if not tf.io.gfile.exists(path):
    raise UserError('model %s not found' % path)
  with tf.io.gfile.GFile(path, 'rb') as f:
    head = f.read(8)
  return 'tflite' if head[4:8] == b'TFL3' else 'frozen_graph'


class CheckpointModel(object):
  """The checkpoint's own graph (the reference the exported forms are compared with)."""

  form = 'checkpoint'

  def __init__(self, info, checkpoint_path, moving_average_decay=None):
    self.info = info
    self.session, self._input, self._logits, _ = model_info.session_with_model(
        info, checkpoints.resolve(checkpoint_path), moving_average_decay)

  def logits(self, images):
    return self.session.run(self._logits, {self._input: images})

  def close(self):
    self.session.close()


class FrozenModel(object):
  """A frozen GraphDef with a recorded (or given) input and logits/output node."""

  form = 'frozen_graph'

  def __init__(self, path, info=None, input_node=None, output_node=None):
    recorded = exporting.read_nodes(path)
    self.info = info or (model_info.info_from_json(recorded) if recorded.get('model_name') else None)
    graph_def = exporting.load_graph_def(path)
    if model_info.native_grouped_convs_run_here():
      # ShuffleNet V1's block-diagonal kernels as the grouped convolutions they stand for.
      shufflenet_utils.grouped_convs_from_block_diagonal(graph_def)
    names = {n.name for n in graph_def.node}
    recorded_output = recorded.get('output', 'InceptionV3/Predictions/Reshape_1')
    logits_node = output_node or (LOGITS if LOGITS in names else recorded_output)
    scores_node = output_node or (PROBABILITIES if PROBABILITIES in names else recorded_output)
    input_node = input_node or recorded.get('input', INPUT)
    graph = tf.Graph()
    with graph.as_default():
      tf.import_graph_def(graph_def, name='')
    try:
      self._input = graph.get_tensor_by_name(input_node + ':0')
      self._logits = graph.get_tensor_by_name(logits_node + ':0')
      self._scores = graph.get_tensor_by_name(scores_node + ':0')
    except (KeyError, TypeError, ValueError) as e:
      raise UserError('%s (check --input_layer / --output_layer)' % e)
    self.image_size = self._input.shape.as_list()[1]
    self.session = tf.Session(graph=graph)

  def logits(self, images):
    """Logits when the graph has them, else what its output node computes (same ranking)."""
    return self.session.run(self._logits, {self._input: images})

  def scores(self, images):
    """Class probabilities (or the output node's values for a graph without them)."""
    return self.session.run(self._scores, {self._input: images})

  def close(self):
    self.session.close()


class SavedModel(object):
  """A SavedModel written by export_saved_model, run through its signatures."""

  form = 'saved_model'

  def __init__(self, path):
    self.session = tf.Session(graph=tf.Graph())
    with self.session.graph.as_default():
      meta = tf.saved_model.loader.load(self.session, [tf.saved_model.tag_constants.SERVING], path)
    self.signatures = meta.signature_def
    if 'serving_default' not in self.signatures:
      raise UserError('SavedModel %s has no serving_default signature' % path)
    info_path = os.path.join(path, exporting.SAVED_MODEL_INFO)
    self.info = None
    if os.path.exists(info_path):
      with open(info_path) as f:
        self.info = model_info.info_from_json(json.load(f))

  def run(self, signature, feeds, outputs):
    sig = self.signatures[signature]
    graph = self.session.graph
    feed_dict = {graph.get_tensor_by_name(sig.inputs[k].name): v for k, v in feeds.items()}
    fetches = {k: graph.get_tensor_by_name(sig.outputs[k].name) for k in outputs}
    return self.session.run(fetches, feed_dict)

  def classify(self, encoded_images):
    """Top-k {'classes', 'names', 'scores', 'logits'} for a list of encoded photos."""
    sig = self.signatures['serving_default']
    key = next(iter(sig.inputs))
    return self.run('serving_default', {key: list(encoded_images)}, list(sig.outputs))

  def logits(self, images):
    return self.run('predict_images', {'images': images}, ['logits'])['logits']

  def scores(self, images):
    return self.run('predict_images', {'images': images}, ['probabilities'])['probabilities']

  def close(self):
    self.session.close()


class TFLiteModel(object):
  """A .tflite model run by the TFLite interpreter; int8 / uint8 inputs and outputs are
  (de)quantised here."""

  form = 'tflite'

  def __init__(self, path, num_threads=None):
    recorded = exporting.read_nodes(path)
    self.info = model_info.info_from_json(recorded) if recorded.get('model_name') else None
    self.quantization = recorded.get('quantization')
    try:
      self.interpreter = tf.lite.Interpreter(model_path=path, num_threads=num_threads)
    except ValueError as e:  # not a flatbuffer the interpreter can read
      raise UserError('cannot read TFLite model %s: %s' % (path, errors.reason(e)))
    try:
      self.interpreter.allocate_tensors()
    except RuntimeError as e:
      if 'delegate' not in str(e):
        raise
      # XNNPACK (the default delegate) refuses some integer models, e.g. uint8 convolutions with
      # asymmetric weight ranges (quantization-aware training): the built-in kernels run them.
      self.interpreter = tf.lite.Interpreter(
          model_path=path, num_threads=num_threads,
          experimental_op_resolver_type=(
              tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    self._input = self.interpreter.get_input_details()[0]
    outputs = self.interpreter.get_output_details()
    by_name = {d['name']: d for d in outputs}
    self._logits = by_name.get(LOGITS, outputs[0])
    self._scores = by_name.get(PROBABILITIES, outputs[-1])
    self.image_size = int(self._input['shape'][1])
    self._batch = None

  def _resize(self, batch):
    if batch != self._batch:
      shape = list(self._input['shape'])
      shape[0] = batch
      self.interpreter.resize_tensor_input(self._input['index'], shape)
      self.interpreter.allocate_tensors()
      self._batch = batch

  def logits(self, images):
    return self._run(images, self._logits)

  def scores(self, images):
    return self._run(images, self._scores)

  def _run(self, images, output):
    images = np.asarray(images, np.float32)
    self._resize(len(images))
    detail = self._input
    if detail['dtype'] != np.float32:
      scale, zero = detail['quantization']
      info = np.iinfo(detail['dtype'])
      images = np.clip(np.round(images / scale + zero), info.min, info.max).astype(detail['dtype'])
    self.interpreter.set_tensor(detail['index'], images)
    self.interpreter.invoke()
    out = self.interpreter.get_tensor(output['index'])
    if out.dtype != np.float32:
      scale, zero = output['quantization']
      out = (out.astype(np.float32) - zero) * scale
    return out

  def close(self):
    pass


def load(path, **kwargs):
  """The exported model at `path` (a SavedModel folder, a .tflite file or a frozen .pb)."""
  form = form_of(path)
  if form == 'saved_model':
    return SavedModel(path)
  if form == 'tflite':
    return TFLiteModel(path)
  return FrozenModel(path, **kwargs)


def preprocess_files(info, paths):
  """The photos at `paths`, decoded and preprocessed as at evaluation: float [N, size, size, 3]."""
  with tf.Graph().as_default():
    data = tf.placeholder(tf.string, [])
    image = model_info.decode_and_preprocess(info, data)
    with tf.Session() as session:
      out = []
      for path in paths:
        if not os.path.exists(path):
          raise UserError('image %s not found' % path)
        with open(path, 'rb') as f:
          try:
            out.append(session.run(image, {data: f.read()}))
          except tf.errors.InvalidArgumentError as e:
            raise UserError('cannot decode image %s: %s' % (path, errors.reason(e)))
  return np.stack(out)


def check_labels(labels, num_outputs, labels_offset, source):
  """A labels table must name every output of the model: ids labels_offset .. + num_outputs - 1."""
  if not labels:
    return
  if len(labels) != num_outputs + labels_offset:
    raise UserError(
        '%s has %d names but the model has %d outputs%s: give the labels of the data set the '
        'model was trained on, or --labels_offset=%d if its first %d name(s) have no output'
        % (source, len(labels), num_outputs,
           ' and --labels_offset=%d' % labels_offset if labels_offset else '',
           max(0, len(labels) - num_outputs), max(0, len(labels) - num_outputs)))


def read_labels(path):
  """{index: name} from slim's `id:name` labels.txt or a plain one-name-per-line file."""
  with open(path, encoding='utf-8') as f:
    lines = [line.rstrip('\n') for line in f if line.strip()]
  labels = {}
  for i, line in enumerate(lines):
    head, sep, tail = line.partition(':')
    if sep and head.strip().isdigit():
      labels[int(head)] = tail
    else:
      labels[i] = line.strip()
  return labels


def load_image(path, height, width, mean, std, channels=3):
  """Decodes, resizes (bilinear) and normalises one image as the label_image example does."""
  if not os.path.exists(path):
    raise UserError('image %s not found' % path)
  with tf.Graph().as_default():
    data = tf.io.read_file(path)
    image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    image = tf.expand_dims(tf.cast(image, tf.float32), 0)
    image = tf.image.resize_bilinear(image, [height, width])
    image = (image - mean) / std
    with tf.Session() as session:
      try:
        return session.run(image)
      except tf.errors.InvalidArgumentError as e:
        raise UserError('cannot decode image %s: %s' % (path, errors.reason(e)))


def run_graph(graph_def, input_layer, output_layer, batch):
  with tf.Graph().as_default() as graph:
    tf.import_graph_def(graph_def, name='')
    try:
      inp = graph.get_tensor_by_name(input_layer + ':0')
      out = graph.get_tensor_by_name(output_layer + ':0')
    except KeyError as e:
      raise UserError('%s (check --input_layer / --output_layer)' % e)
    with tf.Session() as session:
      return session.run(out, {inp: batch})


def top_k(scores, k=5):
  scores = np.asarray(scores).reshape(-1)
  order = np.argsort(-scores)[:k]
  return [(int(i), float(scores[i])) for i in order]
