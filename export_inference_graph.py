r"""Writes a network's inference GraphDef (an `input` placeholder, no weights) for freezing.

  python export_inference_graph.py --model_name=inception_v3 --output_file=/tmp/inception_v3_inf_graph.pb
"""
from absl import flags

from image_classifier import cli
from image_classifier import shared_flags

shared_flags.define_model_flags()
flags.DEFINE_bool('is_training', False, 'Export the training-mode graph (batch norm and dropout '
                  'in training mode).')
shared_flags.define_image_size_flag('image_size', 'Side of the input placeholder.')
flags.DEFINE_integer('batch_size', None, 'Batch dimension of the input placeholder (default: any).', lower_bound=1)
shared_flags.define_dataset_name_flag('Data set whose class count sizes the logits.')
flags.DEFINE_string('output_file', '', 'Where to write the GraphDef.')
flags.DEFINE_string('dataset_dir', '', 'Folder of the data set (only its class count is used).')
flags.DEFINE_bool('quantize', False, 'Whether to export the quantized graph (for a checkpoint '
                  'trained with --quantize_delay; freeze_graph.py keeps its FakeQuant ops).')
flags.DEFINE_bool('is_video_model', False, 'The network takes 5-D video input.')
flags.DEFINE_integer('num_frames', None, 'Frames per clip of a video model.', lower_bound=1)
flags.DEFINE_bool('write_text_graphdef', False, 'Write a text GraphDef instead of a binary one.')
flags.DEFINE_string('final_endpoint', None, '(new) Make this end point the output node instead of '
                    'the predictions.')
flags.DEFINE_integer('num_classes', None, '(new) Class count of the logits, instead of the data '
                     'set\'s (minus --labels_offset).', lower_bound=1)

FLAGS = flags.FLAGS


@cli.script_main
def main(_):
  from image_classifier import exporting
  from image_classifier import model_info
  # Only the class count is needed: the split's files need not exist.
  num_classes = FLAGS.num_classes or (
      model_info.dataset_num_classes(FLAGS.dataset_name, FLAGS.dataset_dir) - FLAGS.labels_offset)
  info = exporting.export_graph(
      FLAGS.model_name, FLAGS.output_file, num_classes, is_training=FLAGS.is_training,
      image_size=FLAGS.image_size, batch_size=FLAGS.batch_size, use_grayscale=FLAGS.use_grayscale,
      is_video_model=FLAGS.is_video_model, num_frames=FLAGS.num_frames,
      final_endpoint=FLAGS.final_endpoint, write_text_graphdef=FLAGS.write_text_graphdef,
      extra_info={'dataset_name': FLAGS.dataset_name, 'dataset_dir': FLAGS.dataset_dir,
                  'labels_offset': FLAGS.labels_offset}, quantized=FLAGS.quantize)
  print('Wrote %s (%s, %d classes)\n  input node:  %s %s\n  output node: %s\n  node names: %s'
        % (FLAGS.output_file, FLAGS.model_name, num_classes, info['input'], info['input_shape'],
           info['output'], exporting.nodes_file(FLAGS.output_file)))


def entry_point():
  cli.run(main)


if __name__ == '__main__':
  entry_point()
