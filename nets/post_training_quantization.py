r"""Post-training int8 quantisation of a float checkpoint (the original's script): a TFLite model
with int8 weights, activations, input and output, calibrated on images of a data set's split.

  python nets/post_training_quantization.py --model_name=mobilenet_v1 \
      --checkpoint_path=/tmp/mobilenet_v1_1.0_224.ckpt --dataset_dir=/tmp/imagenet \
      --output_tflite=/tmp/mobilenet_v1_int8.tflite

The original read its calibration images from tensorflow_datasets; here they come from the
TFRecords of --dataset_name in --dataset_dir (imagenet2012 is the factory's imagenet), preprocessed
as the model is evaluated.
"""

if __name__ == '__main__':
  import os
  import sys
  # Run as `python nets/post_training_quantization.py`: the repository root is the import root.
  sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

  from absl import flags

  from image_classifier import cli  # first: it prepares the process before TensorFlow loads
  from image_classifier import shared_flags

  flags.DEFINE_enum('model_name', None, shared_flags.MODEL_NAMES,
                    'The name of the architecture to quantize.')
  flags.DEFINE_string('checkpoint_path', None, 'Path to the training checkpoint.')
  flags.DEFINE_enum('dataset_name', 'imagenet2012',
                    ['imagenet2012'] + shared_flags.DATASET_NAMES,
                    'Name of the dataset to use for quantization calibration (dataset_factory; '
                    'imagenet2012 = imagenet).')
  flags.DEFINE_string('dataset_dir', None, 'Dataset location (its TFRecords).')
  flags.DEFINE_string('dataset_split', 'train',
                      'The dataset split (train, validation etc.) to use for calibration.')
  flags.DEFINE_string('output_tflite', None, 'Path to output tflite file.')
  flags.DEFINE_boolean('use_model_specific_preprocessing', False,
                       'Accepted for the original\'s command lines: the calibration images are '
                       'always preprocessed with the model\'s own evaluation preprocessing.')
  flags.DEFINE_boolean('enable_ema', True,
                       'Load exponential moving average version of variables (where the '
                       'checkpoint has them).')
  flags.DEFINE_integer('num_steps', 1000,
                       'Number of post-training quantization calibration steps to run (images).',
                       lower_bound=1)
  flags.DEFINE_integer('image_size', 224, 'Size of the input image.', lower_bound=1)
  flags.DEFINE_integer('num_classes', 1001, 'Number of output classes for the model.')

  @cli.script_main
  def main(_):
    from image_classifier import mobilenet_v1_jobs
    mobilenet_v1_jobs.post_training_quantize(flags.FLAGS)

  cli.run(main)
