"""Inference graphs: export (GraphDef without weights), freeze (weights folded in as constants),
and running a frozen graph on one image.
"""
import json
import os

import numpy as np
import tensorflow.compat.v1 as tf

from image_classifier import checkpoints
from foundation.errors import UserError

INPUT_NODE = 'input'
_VARIABLE_OPS = ('VariableV2', 'Variable', 'VarHandleOp')


def nodes_file(graph_path):
  """Where export_inference_graph records the graph's input/output node names."""
  return graph_path + '.nodes.json'


def read_nodes(graph_path):
  path = nodes_file(graph_path)
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return {}


def prediction_node(end_points, logits):
  """Name of the op a user fetches for class probabilities (logits for nets without softmax)."""
  for key in ('Predictions', 'predictions'):
    if key in end_points:
      return end_points[key].op.name
  return logits.op.name


def export_graph(model_name, output_file, num_classes, is_training=False, image_size=None,
                 batch_size=None, use_grayscale=False, is_video_model=False, num_frames=None,
                 final_endpoint=None, write_text_graphdef=False, extra_info=None):
  """Writes the network's inference GraphDef with a float `input` placeholder; returns node names."""
  from nets import nets_factory
  if not output_file:
    raise UserError('You must supply the path to save to with --output_file')
  if is_video_model and not num_frames:
    raise UserError('--num_frames is required with --is_video_model')
  network_fn = nets_factory.get_network_fn(model_name, num_classes=num_classes,
                                           is_training=is_training)
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
    graph_def = graph.as_graph_def()
  directory = os.path.dirname(output_file) or '.'
  tf.io.gfile.makedirs(directory)
  if write_text_graphdef:
    tf.io.write_graph(graph_def, directory, os.path.basename(output_file), as_text=True)
  else:
    write_atomically(output_file, graph_def.SerializeToString())
  info = {'model_name': model_name, 'input': INPUT_NODE, 'output': output,
          'input_shape': shape, 'num_classes': num_classes, 'image_size': size}
  info.update(extra_info or {})
  with open(nodes_file(output_file), 'w') as f:
    json.dump(info, f, indent=1)
  return info


def write_atomically(path, data):
  tmp = path + '.tmp'
  with tf.io.gfile.GFile(tmp, 'wb') as f:
    f.write(data)
  tf.io.gfile.rename(tmp, path, overwrite=True)


def load_graph_def(path, binary=None):
  """A GraphDef from a binary or text file (auto-detected when `binary` is None)."""
  from google.protobuf import text_format
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
        raise UserError('cannot decode image %s: %s' % (path, e.message.splitlines()[0]))


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
