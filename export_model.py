r"""One command from a checkpoint to a served model: a SavedModel, a TFLite file or a frozen graph.

  python export_model.py --model_name=mobilenet_v2 --checkpoint_path=/tmp/mobilenet_v2_1.0_224.ckpt \
      --dataset_name=imagenet --dataset_dir=/tmp/imagenet --format=saved_model --output_file=/tmp/mnv2

  python export_model.py ... --format=tflite --tflite_quantization=int8 --output_file=/tmp/mnv2.tflite

  python export_model.py ... --checkpoint_path=/tmp/qat_train --format=tflite --quantize \
      --tflite_quantization=uint8 --output_file=/tmp/mnv1_uint8.tflite

The SavedModel's `serving_default` signature takes encoded photos (`image_bytes`) and returns the
top-5 `classes`, `names`, `scores` and the `logits`, with the model's evaluation preprocessing inside.
The TFLite model takes a preprocessed float image batch; int8 quantisation is calibrated on images of
--dataset_split_name. With --quantize (a checkpoint trained with --quantize_delay) the model is fully
integer (int8 or uint8 input and output) from the ranges learned in training, with no calibration.
Compare the forms' accuracy with eval_exported_model.py.
"""
from absl import flags

from image_classifier import cli
from image_classifier import shared_flags

shared_flags.define_model_flags()
shared_flags.define_moving_average_flag()
flags.DEFINE_string('checkpoint_path', None, 'Checkpoint prefix, or a training folder (its latest '
                    'checkpoint).')
shared_flags.define_dataset_name_flag('Data set the model was trained on (class count, class '
                                      'names, calibration images).')
flags.DEFINE_string('dataset_dir', None, 'Folder of the data set: labels.txt names the classes; '
                    'int8 quantisation reads images from its TFRecords.')
flags.DEFINE_enum('format', 'saved_model', ['saved_model', 'tflite', 'frozen_graph'],
                  'What to write.')
flags.DEFINE_string('output_file', None, 'Output path (a new folder for a SavedModel).')
flags.DEFINE_enum('tflite_quantization', 'none', ['none', 'float16', 'int8', 'uint8'],
                  'TFLite weights: float32 (none), float16, or full-integer int8 (post-training, '
                  'calibrated on the data set); with --quantize, int8 or uint8 from the learned '
                  'ranges.')
flags.DEFINE_bool('quantize', False, 'The checkpoint comes from quantization-aware training '
                  '(--quantize_delay): with --format=tflite, a fully integer model from its ranges.')
shared_flags.define_image_size_flag('image_size', 'Input side.')
flags.DEFINE_enum('preprocessing_name', None, shared_flags.PREPROCESSING_NAMES,
                  'Preprocessing (default: the model\'s own).')
flags.DEFINE_integer('num_classes', None, 'Class count of the logits, instead of the data set\'s '
                     '(minus --labels_offset).', lower_bound=1)
flags.DEFINE_string('dataset_split_name', 'train', 'Split whose images calibrate int8 quantisation.')
flags.DEFINE_integer('num_calibration_images', 100, 'Images calibrating int8 quantisation.', lower_bound=1)

FLAGS = flags.FLAGS


@cli.script_main
def main(_):
  from image_classifier import exporting
  from image_classifier import model_info
  info = model_info.describe(FLAGS.model_name, FLAGS.dataset_name, FLAGS.dataset_dir,
                             labels_offset=FLAGS.labels_offset, image_size=FLAGS.image_size,
                             preprocessing_name=FLAGS.preprocessing_name,
                             num_classes=FLAGS.num_classes)
  print(exporting.export(info, FLAGS.checkpoint_path, FLAGS.output_file, FLAGS.format,
                         quantization=FLAGS.tflite_quantization,
                         moving_average_decay=FLAGS.moving_average_decay,
                         dataset_split_name=FLAGS.dataset_split_name,
                         num_calibration_images=FLAGS.num_calibration_images,
                         quantized=FLAGS.quantize))


def entry_point():
  cli.run(main)


if __name__ == '__main__':
  entry_point()
