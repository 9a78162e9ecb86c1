"""Everything the project writes for inference, from a network or a checkpoint.

* The inference GraphDef of export_inference_graph.py (a float `input` placeholder, no weights)
  and freezing it with a checkpoint (freeze_graph.py): `export_graph`, `freeze`.
* The served forms of export_model.py, each from a checkpoint in one call (`export`):
  - SavedModel: signature `serving_default` takes encoded photos (a batch of JPEG/PNG strings,
    input key `image_bytes`) and returns the top-k `classes`, their `names` and `scores` (softmax)
    and the `logits`, with the model's own evaluation preprocessing inside; `predict_images` takes
    already preprocessed float images. Loads with `tf.saved_model.load` and TF Serving.
  - TFLite: float32, float16 weights, or full-integer int8 (post-training quantisation calibrated on
    images of the data set, decoded and preprocessed as at evaluation). Input: one preprocessed
    image batch `input`; outputs `logits` and `probabilities`. From a quantization-aware training
    checkpoint (`quantized`): full-integer int8 or uint8 from the learned ranges, no calibration.
  - Frozen GraphDef (`input` -> `logits`, `probabilities`): the inference graph frozen by `freeze`.

Every file gets a JSON description beside it (`nodes_file`) so that label_image.py and the exported
model evaluation know how to feed it; every output is written atomically.
"""
import functools
import json
import os

import numpy as np
import tensorflow.compat.v1 as tf
from google.protobuf import text_format

from datasets import dataset_factory
from foundation import fileio
from foundation.errors import UserError
from image_classifier import checkpoints
from image_classifier import inputs
from image_classifier import model_info
from image_classifier.model_info import INPUT, LOGITS, PROBABILITIES
from preprocessing import preprocessing_factory
import quantize
from quantize import ranges

FORMATS = ('saved_model', 'tflite', 'frozen_graph')
QUANTIZATIONS = ('none', 'float16', 'int8')
QAT_QUANTIZATIONS = ('int8', 'uint8')  # from the ranges of a quantization-aware checkpoint
# Preprocessings whose output is the pixels scaled to [-1, 1] ((v - 127.5) / 127.5 or
# (v - 128) / 128): the one input range an integer model can be told without calibration data.
_UNIT_RANGE_PREPROCESSINGS = ('inception_preprocessing', 'lenet_preprocessing')
# quantized_input_stats (mean, std), real = (q - mean) / std, of a [-1, 1] input.
_UNIT_RANGE_STATS = {'uint8': (128.0, 127.5), 'int8': (0.0, 127.5)}
BYTES_KEY = 'image_bytes'
SAVED_MODEL_INFO = os.path.join('assets.extra', 'slim_model.json')
INPUT_NODE = INPUT
_VARIABLE_OPS = ('VariableV2', 'Variable', 'VarHandleOp')


def nodes_file(graph_path):
  """Where the description of an exported graph or TFLite file is written: beside it."""
  return graph_path + '.nodes.json'


def read_nodes(graph_path):
  """The recorded description of an exported file ({} when there is none)."""
  path = nodes_file(graph_path)
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return {}


def write_nodes(graph_path, info):
  fileio.write_json_atomically(nodes_file(graph_path), info)


# ---------------------------------------------------------------------------------------------
# Inference graphs and freezing.

def prediction_node(end_points, logits):
  """Name of the op a user fetches for class probabilities (logits for nets without softmax)."""
  for key in ('Predictions', 'predictions'):
    if key in end_points:
      return end_points[key].op.name
  return logits.op.name


def export_graph(model_name, output_file, num_classes, is_training=False, image_size=None,
                 batch_size=None, use_grayscale=False, is_video_model=False, num_frames=None,
                 final_endpoint=None, write_text_graphdef=False, extra_info=None, quantized=False):
  """Writes the network's inference GraphDef with a float `input` placeholder; returns node names.

  `quantized` (--quantize): rewritten by `quantize.create_eval_graph`, for a quantization-aware
  training checkpoint; `freeze` then turns the learned ranges into constants of the FakeQuant ops.
  """
  if not output_file:
    raise UserError('You must supply the path to save to with --output_file')
  if is_video_model and not num_frames:
    raise UserError('--num_frames is required with --is_video_model')
  network_fn = model_info.network_fn(model_name, num_classes, is_training=is_training)
  size = image_size or network_fn.default_image_size
  channels = 1 if use_grayscale else 3
  shape = ([batch_size, num_frames, size, size, channels] if is_video_model
           else [batch_size, size, size, channels])
  with tf.Graph().as_default() as graph:
    images = tf.placeholder(tf.float32, shape=shape, name=INPUT_NODE)
    logits, end_points = network_fn(images)
    if final_endpoint:
      if final_endpoint not in end_points:
        raise UserError('--final_endpoint=%s is not an end point of %s; it has: %s'
                        % (final_endpoint, model_name, ', '.join(sorted(end_points))))
      output = end_points[final_endpoint].op.name
    else:
      output = prediction_node(end_points, logits)
    if quantized:
      quantize.create_eval_graph()
    graph_def = graph.as_graph_def()
  directory = os.path.dirname(output_file) or '.'
  tf.io.gfile.makedirs(directory)
  fileio.write_atomically(output_file, text_format.MessageToString(graph_def, float_format='')
                          if write_text_graphdef else graph_def.SerializeToString())
  info = {'model_name': model_name, 'input': INPUT_NODE, 'output': output,
          'input_shape': shape, 'num_classes': num_classes, 'image_size': size}
  if quantized:
    info['quantize'] = True
  info.update(extra_info or {})
  write_nodes(output_file, info)
  return info


def load_graph_def(path, binary=None):
  """A GraphDef from a binary or text file (auto-detected when `binary` is None)."""
  if not tf.io.gfile.exists(path):
    raise UserError('graph file %s not found' % path)
  with tf.io.gfile.GFile(path, 'rb') as f:
    data = f.read()
  graph_def = tf.GraphDef()
  attempts = [binary] if binary is not None else [True, False]
  for as_binary in attempts:
    try:
      if as_binary:
        graph_def.ParseFromString(data)
      else:
        text_format.Merge(data.decode('utf-8'), graph_def)
      if graph_def.node:
        return graph_def
    except Exception:  # try the other encoding
      graph_def = tf.GraphDef()
  raise UserError('%s is not a %sGraphDef' % (path, {True: 'binary ', False: 'text '}.get(binary, '')))


def freeze(graph_def, checkpoint, output_node_names, moving_average_decay=None,
           blacklist=(), whitelist=None):
  """Replaces every variable the outputs need by a constant read from `checkpoint`.

  With `moving_average_decay`, the exponential-moving-average shadow values are used where the
  checkpoint has them. Nodes the outputs do not need (initialisers, savers, training ops) are removed.
  """
  existing = {n.name for n in graph_def.node}
  for name in output_node_names:
    if name not in existing:
      raise UserError('output node %s is not in the graph (--output_node_names)' % name)
  needed = tf.graph_util.extract_sub_graph(graph_def, output_node_names)
  reader = tf.train.NewCheckpointReader(checkpoint)
  in_checkpoint = reader.get_variable_to_shape_map()
  frozen = set()
  out = tf.GraphDef()
  out.versions.CopyFrom(graph_def.versions)
  out.library.CopyFrom(graph_def.library)
  for node in needed.node:
    new = out.node.add()
    if node.op in _VARIABLE_OPS and node.name not in blacklist and (
        whitelist is None or node.name in whitelist):
      source = node.name
      if moving_average_decay and source + '/ExponentialMovingAverage' in in_checkpoint:
        source += '/ExponentialMovingAverage'
      if source not in in_checkpoint:
        raise UserError('variable %s of the graph is not in checkpoint %s (is it the same model and '
                        'class count?)' % (node.name, checkpoint))
      value = reader.get_tensor(source)
      declared = [d.size for d in node.attr['shape'].shape.dim]
      if declared and list(value.shape) != declared:
        raise UserError('variable %s has shape %s in the graph but %s in checkpoint %s (check '
                        '--labels_offset and the data set used at export)'
                        % (node.name, declared, list(value.shape), checkpoint))
      new.op = 'Const'
      new.name = node.name
      dtype = node.attr['dtype']
      new.attr['dtype'].CopyFrom(dtype)
      new.attr['value'].tensor.CopyFrom(tf.make_tensor_proto(value, dtype=dtype.type))
      if node.device:
        new.device = node.device
      frozen.add(node.name)
    elif node.op == 'ReadVariableOp' and node.input[0] in frozen:
      new.CopyFrom(node)
      new.op = 'Identity'
      new.attr['T'].CopyFrom(node.attr['dtype'])
      del new.attr['dtype']
    else:
      new.CopyFrom(node)
  out = tf.graph_util.extract_sub_graph(out, output_node_names)
  return tf.graph_util.remove_training_nodes(out, protected_nodes=output_node_names), len(frozen)


# ---------------------------------------------------------------------------------------------
# Served forms, from a checkpoint.

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
    decoded = tf.map_fn(functools.partial(model_info.decode_and_preprocess, info), image_bytes,
                        fn_output_signature=tf.float32, back_prop=False)
    # Fed directly by `predict_images`; fed from the decoded photos by `serving_default`.
    images = tf.placeholder_with_default(
        decoded, [None, info.image_size, info.image_size, 3], name=INPUT)
    logits, probabilities = model_info.network_outputs(info, images)
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
      model_info.restore(session, checkpoint, moving_average_decay)
      builder = tf.saved_model.Builder(output_dir)
      builder.add_meta_graph_and_variables(
          session, [tf.saved_model.tag_constants.SERVING],
          signature_def_map={'serving_default': serving, 'predict_images': predict},
          strip_default_attrs=True)
      builder.save()
  fileio.write_json_atomically(os.path.join(output_dir, SAVED_MODEL_INFO),
              info.as_json(format='saved_model', checkpoint=checkpoint, top_k=k))


def representative_images(info, dataset_split_name='train', num_images=100):
  """Up to `num_images` images of the data set's split, decoded and preprocessed as at evaluation
  (the calibration set of int8 quantisation)."""
  dataset = dataset_factory.get_dataset(info.dataset_name, dataset_split_name, info.dataset_dir)
  with tf.Graph().as_default():
    next_batch = inputs.batches(dataset, lambda image, h, w: model_info.preprocess_fn(info)(image),
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


def check_quantization(quantization, quantized=False):
  """--tflite_quantization must suit the checkpoint: post-training for a float one (`none`,
  `float16`, `int8`), integer from the learned ranges for a quantization-aware one (--quantize)."""
  allowed = QAT_QUANTIZATIONS if quantized else QUANTIZATIONS
  if quantization not in allowed:
    raise UserError('--tflite_quantization=%s%s: use one of %s'
                    % (quantization, ' with --quantize' if quantized else '', ', '.join(allowed))
                    + ('' if quantized or quantization not in QAT_QUANTIZATIONS else
                       ' (uint8 is for a quantization-aware training checkpoint: add --quantize)'))


def _learned_range_input_stats(info, quantization):
  """quantized_input_stats of the `input` placeholder, which no fake-quant op measures: known for
  the preprocessings that scale the pixels to [-1, 1]."""
  module = preprocessing_factory.get_module(info.preprocessing_name).__name__.rsplit('.', 1)[-1]
  if module not in _UNIT_RANGE_PREPROCESSINGS:
    raise UserError('--quantize: an integer input needs the range of the preprocessed images, '
                    'known only for the preprocessings scaling them to [-1, 1] (inception, lenet); '
                    '%s uses %s' % (info.preprocessing_name, module))
  return {INPUT: _UNIT_RANGE_STATS[quantization]}


def _integer_from_learned_ranges(converter, info, quantization):
  """Fully integer conversion of a restored `create_eval_graph` graph (quantize.ranges says why)."""
  if quantization == 'int8':
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  dtype = tf.as_dtype(quantization)
  converter.inference_type = dtype
  converter.inference_input_type = dtype
  converter.inference_output_type = dtype
  converter.quantized_input_stats = _learned_range_input_stats(info, quantization)


def export_tflite(info, checkpoint, output_file, quantization='none', moving_average_decay=None,
                  calibration_images=None, quantized=False):
  """Writes a TFLite flatbuffer: `input` [N, size, size, 3] -> `logits`, `probabilities`.

  `quantized`: `checkpoint` comes from quantization-aware training; the graph is rewritten by
  `quantize.create_eval_graph` and converted to an int8 or uint8 model with the learned ranges.
  """
  check_quantization(quantization, quantized)
  if quantization == 'int8' and not quantized and calibration_images is None:
    raise UserError('int8 quantisation needs calibration images (--dataset_dir with TFRecords)')
  # The float forms keep ShuffleNet's grouped convolutions grouped (TFLite runs them natively);
  # the integer ones keep the block-diagonal kernel that the quantisers have always seen.
  session, images, logits, probabilities = model_info.session_with_model(
      info, checkpoint, moving_average_decay, quantized=quantized,
      native_grouped_convs=quantization in ('none', 'float16'))
  with session:
    if quantized and quantization == 'int8':
      # The int8 kernels want zero-point-0 weights; before the converter, which freezes the
      # variables' values when it is created.
      with session.graph.as_default():
        ranges.make_weight_ranges_symmetric(session)
    converter = tf.lite.TFLiteConverter.from_session(session, [images], [logits, probabilities])
    if quantized:
      _integer_from_learned_ranges(converter, info, quantization)
    elif quantization == 'float16':
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
  fileio.write_atomically(output_file, data)
  write_nodes(output_file, info.as_json(format='tflite', quantization=quantization,
                                        checkpoint=checkpoint,
                                        **({'quantize': True} if quantized else {})))


def export_frozen_graph(info, checkpoint, output_file, moving_average_decay=None):
  """Writes a frozen GraphDef `input` -> `logits`, `probabilities` (weights as constants)."""
  graph = model_info.inference_graph(info)[0]
  outputs = [LOGITS, PROBABILITIES]
  graph_def, _ = freeze(graph.as_graph_def(), checkpoint, outputs, moving_average_decay)
  tf.io.gfile.makedirs(os.path.dirname(output_file) or '.')
  fileio.write_atomically(output_file, graph_def.SerializeToString())
  write_nodes(output_file, info.as_json(format='frozen_graph', checkpoint=checkpoint))


def export(info, checkpoint_path, output_file, fmt, quantization='none', moving_average_decay=None,
           dataset_split_name='train', num_calibration_images=100, quantized=False):
  """One call from a checkpoint (file or training folder) to a served form. Returns a summary line.

  `quantized` (--quantize): a quantization-aware training checkpoint to an integer TFLite model.
  """
  if fmt not in FORMATS:
    raise UserError('--format=%s: use one of %s' % (fmt, ', '.join(FORMATS)))
  if not output_file:
    raise UserError('--output_file is required')
  if quantization != 'none' and fmt != 'tflite':
    raise UserError('--tflite_quantization=%s applies to --format=tflite only' % quantization)
  if quantized and fmt != 'tflite':
    raise UserError('--quantize applies to --format=tflite only (for a frozen graph: '
                    'export_inference_graph.py --quantize, then freeze_graph.py)')
  if fmt == 'tflite':
    check_quantization(quantization, quantized)
  checkpoint = checkpoints.resolve(checkpoint_path)
  if fmt == 'saved_model':
    export_saved_model(info, checkpoint, output_file, moving_average_decay)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(output_file)
               for f in files)
  elif fmt == 'tflite':
    calibration = (representative_images(info, dataset_split_name, num_calibration_images)
                   if quantization == 'int8' and not quantized else None)
    export_tflite(info, checkpoint, output_file, quantization, moving_average_decay, calibration,
                  quantized)
    size = os.path.getsize(output_file)
  else:
    export_frozen_graph(info, checkpoint, output_file, moving_average_decay)
    size = os.path.getsize(output_file)
  return ('Wrote %s (%s%s, %s from %s, %.1f MB)'
          % (output_file, fmt, ('' if quantization == 'none' else ' ' + quantization)
             + (' from the learned ranges' if quantized else ''),
             info.model_name, checkpoint, size / 2 ** 20))
