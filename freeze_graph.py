r"""Folds a checkpoint's weights into an exported GraphDef as constants (a frozen graph).

  python freeze_graph.py --input_graph=/tmp/inception_v3_inf_graph.pb --input_binary=true \
      --input_checkpoint=/tmp/checkpoints/inception_v3.ckpt \
      --output_graph=/tmp/frozen_inception_v3.pb --output_node_names=InceptionV3/Predictions/Reshape_1

Takes the flags of TensorFlow's freeze_graph tool. --output_node_names defaults to the output node
that export_inference_graph.py recorded next to the graph.
"""
import os

from absl import flags

from image_classifier import cli
from image_classifier import shared_flags

flags.DEFINE_string('input_graph', '', 'GraphDef file to freeze.')
flags.DEFINE_string('input_saver', '', 'Ignored (the checkpoint is read directly).')
flags.DEFINE_boolean('input_binary', None, 'The input graph is binary (default: detect).')
flags.DEFINE_string('input_checkpoint', '', 'Checkpoint prefix, or a training folder (its latest '
                    'checkpoint).')
flags.DEFINE_string('output_node_names', '', 'Comma-separated output nodes to keep (default: the '
                    'exported graph\'s prediction node).')
flags.DEFINE_string('restore_op_name', 'save/restore_all', 'Unused, kept for compatibility.')
flags.DEFINE_string('filename_tensor_name', 'save/Const:0', 'Unused, kept for compatibility.')
flags.DEFINE_string('output_graph', '', 'Where to write the frozen GraphDef.')
flags.DEFINE_boolean('clear_devices', True, 'Remove device placements from the frozen graph.')
flags.DEFINE_string('initializer_nodes', '', 'Unused, kept for compatibility.')
flags.DEFINE_string('variable_names_whitelist', '', 'Freeze only these variables (comma-separated).')
flags.DEFINE_string('variable_names_blacklist', '', 'Do not freeze these variables.')
flags.DEFINE_string('input_meta_graph', '', 'Not supported here: freeze an exported GraphDef.')
flags.DEFINE_string('input_saved_model_dir', '', 'Not supported here: a SavedModel needs no '
                    'freezing.')
flags.DEFINE_string('saved_model_tags', 'serve', 'Unused, kept for compatibility.')
flags.DEFINE_integer('checkpoint_version', 2, 'Unused: both checkpoint versions are read.')
flags.DEFINE_float('moving_average_decay', None, '(new) Freeze the moving-average weights where '
                   'the checkpoint has them.')

FLAGS = flags.FLAGS


@cli.script_main
def main(_):
  from foundation import fileio
  from foundation.errors import UserError
  from image_classifier import checkpoints
  from image_classifier import exporting
  if FLAGS.input_meta_graph or FLAGS.input_saved_model_dir:
    raise UserError('freeze a GraphDef from export_inference_graph.py (--input_graph); '
                    'SavedModels need no freezing')
  if not FLAGS.input_graph or not FLAGS.output_graph:
    raise UserError('--input_graph and --output_graph are required')
  recorded = exporting.read_nodes(FLAGS.input_graph)
  output_nodes = shared_flags.split_list(FLAGS.output_node_names) or ([recorded['output']] if recorded else [])
  if not output_nodes:
    raise UserError('--output_node_names is required (no %s found next to the graph)'
                    % exporting.nodes_file(FLAGS.input_graph))
  checkpoint = checkpoints.resolve(FLAGS.input_checkpoint, '--input_checkpoint')
  graph_def = exporting.load_graph_def(FLAGS.input_graph, FLAGS.input_binary)
  if FLAGS.clear_devices:
    for node in graph_def.node:
      node.device = ''
  frozen, count = exporting.freeze(
      graph_def, checkpoint, output_nodes, moving_average_decay=FLAGS.moving_average_decay,
      blacklist=set(shared_flags.split_list(FLAGS.variable_names_blacklist)),
      whitelist=set(shared_flags.split_list(FLAGS.variable_names_whitelist)) or None)
  fileio.write_atomically(FLAGS.output_graph, frozen.SerializeToString())
  exporting.write_nodes(FLAGS.output_graph, dict(recorded, output=output_nodes[0],
                                                 checkpoint=checkpoint))
  print('Froze %d variables from %s into %s (%d nodes, %.1f MB); output node %s'
        % (count, checkpoint, FLAGS.output_graph, len(frozen.node),
           os.path.getsize(FLAGS.output_graph) / 2 ** 20, ', '.join(output_nodes)))


def entry_point():
  cli.run(main)


if __name__ == '__main__':
  entry_point()
