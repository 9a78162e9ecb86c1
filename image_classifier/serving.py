"""Serving forms of a trained classifier, built from a checkpoint in one call, and running them.

* SavedModel: signature `serving_default` takes encoded photos (a batch of JPEG/PNG strings,
  input key `image_bytes`) and returns the top-k `classes`, their `names` and `scores` (softmax) and the
  `logits`; the model's own evaluation preprocessing runs inside. A second signature, `predict_images`,
  takes already preprocessed float images. Loads with `tf.saved_model.load` and TF Serving.
* TFLite: float32, float16 weights, or full-integer int8 (post-training quantisation calibrated on
  images of the data set, decoded and preprocessed as at evaluation). Input: one preprocessed image
  batch `input`; outputs `logits` and `probabilities`.
* Frozen GraphDef (`input` -> `logits`, `probabilities`), as freeze_graph.py writes.

Every form carries a small JSON description (model, image size, preprocessing, labels offset, data
set) so that label_image.py and the exported-model evaluation know how to feed it.
"""
import collections
import functools
import json
import os

import numpy as np
import tensorflow.compat.v1 as tf

from image_classifier import checkpoints
from image_classifier import exporting
from foundation.errors import UserError

FORMATS = ('saved_model', 'tflite', 'frozen_graph')
QUANTIZATIONS = ('none', 'float16', 'int8')
INPUT = 'input'
LOGITS = 'logits'
PROBABILITIES = 'probabilities'
BYTES_KEY = 'image_bytes'
SAVED_MODEL_INFO = os.path.join('assets.extra', 'slim_model.json')


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


def describe(model_name, dataset_name, dataset_dir, labels_offset=0, image_size=None,
             preprocessing_name=None, num_classes=None):
  """ModelInfo for a model of the factory trained on a data set (only its metadata is read)."""
  from datasets import dataset_factory
  from datasets import dataset_utils
  from nets import nets_factory
  spec = nets_factory.network_spec(model_name)
  if num_classes is None:
    # Only the class count is read: the split's files need not exist.
    try:
      dataset = dataset_factory.get_dataset(dataset_name, 'train', dataset_dir, require_files=False)
    except dataset_utils.DatasetError:  # a custom data set converted without a train split
      dataset = dataset_factory.get_dataset(dataset_name, 'validation', dataset_dir,
                                            require_files=False)
    num_classes = dataset.num_classes - labels_offset
  labels = {}
  if dataset_dir and dataset_utils.has_labels(dataset_dir):
    labels = dataset_utils.read_label_file(dataset_dir)
  size = image_size or nets_factory.get_network_fn(model_name, num_classes).default_image_size
  return ModelInfo(model_name, int(num_classes), int(size),
                   preprocessing_name or spec.preprocessing or model_name, int(labels_offset),
                   dataset_name, dataset_dir, labels)


def info_from_json(data):
  """ModelInfo from a recorded description (export_model.py's, or export_inference_graph.py's,
  which lacks the preprocessing and labels: those come from the factory and the data set folder)."""
  from datasets import dataset_utils
  from nets import nets_factory
  fields = {k: data.get(k) for k in ModelInfo._fields}
  fields['labels'] = {int(k): v for k, v in (data.get('labels') or {}).items()}
  fields['labels_offset'] = fields['labels_offset'] or 0
  if not fields['preprocessing_name']:
    try:
      spec = nets_factory.network_spec(fields['model_name'])
      fields['preprocessing_name'] = spec.preprocessing or fields['model_name']
    except UserError:
      fields['preprocessing_name'] = fields['model_name']
  if not fields['labels'] and fields['dataset_dir'] and dataset_utils.has_labels(
      fields['dataset_dir']):
    fields['labels'] = dataset_utils.read_label_file(fields['dataset_dir'])
  return ModelInfo(**fields)


def preprocess_fn(info):
  """The model's evaluation transform: uint8 [H, W, 3] image -> float [size, size, 3]."""
  from preprocessing import preprocessing_factory
  transform = preprocessing_factory.get_preprocessing(info.preprocessing_name, is_training=False)
  return lambda image: transform(image, info.image_size, info.image_size)


def decode_and_preprocess(info, encoded):
  """Encoded JPEG/PNG/GIF/BMP string -> the preprocessed float image the network expects."""
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  image.set_shape([None, None, 3])
  return preprocess_fn(info)(image)


def network_outputs(info, images):
  """(logits [B, classes], probabilities) of the network in evaluation mode, as named nodes."""
  from nets import nets_factory
  network_fn = nets_factory.get_network_fn(info.model_name, num_classes=info.num_classes,
                                           is_training=False)
  logits, _ = network_fn(images)
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


def _session_with_model(info, checkpoint, moving_average_decay, batch_size=None):
  """A graph + session with `input` -> network, weights restored. Returns (session, input, logits,
  probabilities); the caller closes the session."""
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [batch_size, info.image_size, info.image_size, 3],
                            name=INPUT)
    logits, probabilities = network_outputs(info, images)
    session = tf.Session(graph=graph)
    restore(session, checkpoint, moving_average_decay)
  return session, images, logits, probabilities


def export_saved_model(info, checkpoint, output_dir, moving_average_decay=None, top_k=5):
  """Writes a SavedModel (signatures `serving_default` and `predict_images`) to `output_dir`."""
  if tf.io.gfile.exists(output_dir):
    if tf.io.gfile.listdir(output_dir):
      raise UserError('%s exists and is not empty: a SavedModel needs a new folder' % output_dir)
    tf.io.gfile.rmtree(output_dir)
  k = min(top_k, info.num_classes)
  names = [info.labels.get(i + info.labels_offset, str(i + info.labels_offset))
           for i in range(info.num_classes)]
  with tf.Graph().as_default():
    image_bytes = tf.placeholder(tf.string, [None], name=BYTES_KEY)
    decoded = tf.map_fn(functools.partial(decode_and_preprocess, info), image_bytes,
                        fn_output_signature=tf.float32, back_prop=False)
    # Fed directly by `predict_images`; fed from the decoded photos by `serving_default`.
    images = tf.placeholder_with_default(
        decoded, [None, info.image_size, info.image_size, 3], name=INPUT)
    logits, probabilities = network_outputs(info, images)
    scores, indices = tf.nn.top_k(probabilities, k)
    classes = tf.cast(indices, tf.int64) + info.labels_offset
    class_names = tf.gather(tf.constant(names), indices)
    info_t = tf.saved_model.utils.build_tensor_info
    serving = tf.saved_model.signature_def_utils.build_signature_def(
        inputs={BYTES_KEY: info_t(image_bytes)},
        outputs={'classes': info_t(classes), 'names': info_t(class_names),
                 'scores': info_t(scores), 'logits': info_t(logits)},
        method_name=tf.saved_model.signature_constants.PREDICT_METHOD_NAME)
    predict = tf.saved_model.signature_def_utils.build_signature_def(
        inputs={'images': info_t(images)},
        outputs={'logits': info_t(logits), 'probabilities': info_t(probabilities)},
        method_name=tf.saved_model.signature_constants.PREDICT_METHOD_NAME)
    with tf.Session() as session:
      restore(session, checkpoint, moving_average_decay)
      builder = tf.saved_model.Builder(output_dir)
      builder.add_meta_graph_and_variables(
          session, [tf.saved_model.tag_constants.SERVING],
          signature_def_map={'serving_default': serving, 'predict_images': predict},
          strip_default_attrs=True)
      builder.save()
  _write_json(os.path.join(output_dir, SAVED_MODEL_INFO),
              info.as_json(format='saved_model', checkpoint=checkpoint, top_k=k))


def representative_images(info, dataset_split_name='train', num_images=100):
  """Up to `num_images` images of the data set's split, decoded and preprocessed as at evaluation
  (the calibration set of int8 quantisation)."""
  from datasets import dataset_factory
  from image_classifier import inputs
  dataset = dataset_factory.get_dataset(info.dataset_name, dataset_split_name, info.dataset_dir)
  with tf.Graph().as_default():
    next_batch = inputs.batches(dataset, lambda image, h, w: preprocess_fn(info)(image),
                                info.image_size, min(num_images, 32), is_training=False,
                                num_epochs=1, num_readers=1, num_threads=2)
    images, _ = next_batch()
    out = []
    with tf.Session() as session:
      while sum(len(b) for b in out) < num_images:
        try:
          out.append(session.run(images))
        except tf.errors.OutOfRangeError:
          break
  if not out:
    raise UserError('no images in split %s of %s (%s): int8 quantisation needs a calibration set'
                    % (dataset_split_name, info.dataset_name, info.dataset_dir))
  return np.concatenate(out)[:num_images]


def export_tflite(info, checkpoint, output_file, quantization='none', moving_average_decay=None,
                  calibration_images=None):
  """Writes a TFLite flatbuffer: `input` [N, size, size, 3] -> `logits`, `probabilities`."""
  if quantization not in QUANTIZATIONS:
    raise UserError('--tflite_quantization=%s: use one of %s' % (quantization, ', '.join(QUANTIZATIONS)))
  if quantization == 'int8' and calibration_images is None:
    raise UserError('int8 quantisation needs calibration images (--dataset_dir with TFRecords)')
  session, images, logits, probabilities = _session_with_model(info, checkpoint, moving_average_decay)
  with session:
    converter = tf.lite.TFLiteConverter.from_session(session, [images], [logits, probabilities])
    if quantization == 'float16':
      converter.optimizations = [tf.lite.Optimize.DEFAULT]
      converter.target_spec.supported_types = [tf.float16]
    elif quantization == 'int8':
      converter.optimizations = [tf.lite.Optimize.DEFAULT]
      converter.representative_dataset = lambda: ([x[None]] for x in calibration_images)
      converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
      converter.inference_input_type = tf.int8
      converter.inference_output_type = tf.int8
    try:
      data = converter.convert()
    except Exception as e:  # the converter's message names the unsupported op
      raise UserError('TFLite conversion of %s failed: %s' % (info.model_name,
                                                               str(e).strip().splitlines()[-1]))
  tf.io.gfile.makedirs(os.path.dirname(output_file) or '.')
  exporting.write_atomically(output_file, data)
  _write_json(exporting.nodes_file(output_file),
              info.as_json(format='tflite', quantization=quantization, checkpoint=checkpoint))


def export_frozen_graph(info, checkpoint, output_file, moving_average_decay=None):
  """Writes a frozen GraphDef `input` -> `logits`, `probabilities` (weights as constants)."""
  session, _, _, _ = _session_with_model(info, checkpoint, moving_average_decay)
  with session:
    graph_def = tf.graph_util.convert_variables_to_constants(
        session, session.graph.as_graph_def(), [LOGITS, PROBABILITIES])
  graph_def = tf.graph_util.remove_training_nodes(graph_def, protected_nodes=[LOGITS, PROBABILITIES])
  tf.io.gfile.makedirs(os.path.dirname(output_file) or '.')
  exporting.write_atomically(output_file, graph_def.SerializeToString())
  _write_json(exporting.nodes_file(output_file),
              info.as_json(format='frozen_graph', checkpoint=checkpoint))


def export(info, checkpoint_path, output_file, fmt, quantization='none', moving_average_decay=None,
           dataset_split_name='train', num_calibration_images=100):
  """One call from a checkpoint (file or training folder) to a served form. Returns a summary line."""
  if fmt not in FORMATS:
    raise UserError('--format=%s: use one of %s' % (fmt, ', '.join(FORMATS)))
  if not output_file:
    raise UserError('--output_file is required')
  if quantization != 'none' and fmt != 'tflite':
    raise UserError('--tflite_quantization=%s applies to --format=tflite only' % quantization)
  checkpoint = checkpoints.resolve(checkpoint_path)
  if fmt == 'saved_model':
    export_saved_model(info, checkpoint, output_file, moving_average_decay)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(output_file)
               for f in files)
  elif fmt == 'tflite':
    calibration = (representative_images(info, dataset_split_name, num_calibration_images)
                   if quantization == 'int8' else None)
    export_tflite(info, checkpoint, output_file, quantization, moving_average_decay, calibration)
    size = os.path.getsize(output_file)
  else:
    export_frozen_graph(info, checkpoint, output_file, moving_average_decay)
    size = os.path.getsize(output_file)
  return ('Wrote %s (%s%s, %s from %s, %.1f MB)'
          % (output_file, fmt, '' if quantization == 'none' else ' ' + quantization,
             info.model_name, checkpoint, size / 2 ** 20))


def _write_json(path, data):
  tf.io.gfile.makedirs(os.path.dirname(path))
  with open(path, 'w') as f:
    json.dump(data, f, indent=1)


# ---------------------------------------------------------------------------------------------
# Running an exported model.

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
    self.session, self._input, self._logits, _ = _session_with_model(
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
    self.info = info or (info_from_json(recorded) if recorded.get('model_name') else None)
    graph_def = exporting.load_graph_def(path)
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
    info_path = os.path.join(path, SAVED_MODEL_INFO)
    self.info = None
    if os.path.exists(info_path):
      with open(info_path) as f:
        self.info = info_from_json(json.load(f))

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
  """A .tflite model run by the TFLite interpreter; int8 inputs/outputs are (de)quantised here."""

  form = 'tflite'

  def __init__(self, path, num_threads=None):
    recorded = exporting.read_nodes(path)
    self.info = info_from_json(recorded) if recorded.get('model_name') else None
    self.quantization = recorded.get('quantization')
    self.interpreter = tf.lite.Interpreter(model_path=path, num_threads=num_threads)
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
    image = decode_and_preprocess(info, data)
    with tf.Session() as session:
      out = []
      for path in paths:
        if not os.path.exists(path):
          raise UserError('image %s not found' % path)
        with open(path, 'rb') as f:
          try:
            out.append(session.run(image, {data: f.read()}))
          except tf.errors.InvalidArgumentError as e:
            raise UserError('cannot decode image %s: %s' % (path, e.message.splitlines()[0]))
  return np.stack(out)


# ---------------------------------------------------------------------------------------------
# Accuracy of exported models over a TFRecord split.

def evaluate(models, dataset_name, dataset_dir, dataset_split_name='validation', batch_size=32,
             max_num_batches=None, info=None):
  """Top-1 / top-5 accuracy of each model over the split; {form name: {'accuracy', 'recall_5', 'n'}}.

  `models`: {display name: loaded model}. SavedModels receive the encoded photos (their own
  preprocessing runs); the other forms receive the images decoded and preprocessed as at evaluation.
  """
  from datasets import dataset_factory
  from image_classifier import inputs
  info = info or next((m.info for m in models.values() if m.info), None)
  if info is None:
    raise UserError('cannot tell the model\'s image size and preprocessing: give --model_name '
                    '(the exported files carry no description)')
  dataset = dataset_factory.get_dataset(dataset_name, dataset_split_name, dataset_dir)
  files = inputs.data_files(dataset)
  with tf.Graph().as_default():
    def parse(serialized):
      image, label = dataset.decoder.decode(serialized, ['image', 'label'])
      encoded = tf.io.parse_single_example(
          serialized, {'image/encoded': tf.FixedLenFeature((), tf.string)})['image/encoded']
      image.set_shape([None, None, 3])
      return encoded, preprocess_fn(info)(image), tf.reshape(label, []) - info.labels_offset
    ds = tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=2).batch(batch_size)
    next_batch = tf.data.make_one_shot_iterator(ds).get_next()
    totals = {name: np.zeros(3, np.int64) for name in models}
    with tf.Session() as session:
      batches = 0
      while not max_num_batches or batches < max_num_batches:
        try:
          encoded, images, labels = session.run(next_batch)
        except tf.errors.OutOfRangeError:
          break
        batches += 1
        for name, model in models.items():
          if isinstance(model, SavedModel):
            scores = model.classify(list(encoded))['logits']
          else:
            scores = model.logits(images)
          top5 = np.argsort(-scores, axis=1)[:, :5]
          totals[name] += [np.sum(top5[:, 0] == labels),
                           np.sum(np.any(top5 == labels[:, None], axis=1)), len(labels)]
  return {name: {'accuracy': t[0] / max(t[2], 1), 'recall_5': t[1] / max(t[2], 1), 'n': int(t[2])}
          for name, t in totals.items()}
