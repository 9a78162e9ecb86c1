r"""Evaluates MobileNet V1 (the original's stand-alone script): Accuracy and Recall_5 of the latest
checkpoint of --checkpoint_dir on the validation split; with --quantize, the quantized eval graph.

  python nets/mobilenet_v1_eval.py --dataset_dir=/tmp/imagenet --checkpoint_dir=/tmp/mobilenet \
      --eval_dir=/tmp/mobilenet-eval --quantize

Reads the TFRecords of --dataset_name (default imagenet) in --dataset_dir; at most --num_examples
images (rounded up to whole batches).
"""

if __name__ == '__main__':
  import os
  import sys
  # Run as `python nets/mobilenet_v1_eval.py`: the repository root, not nets/, is the import root.
  sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

  from absl import flags

  from image_classifier import cli  # first: it prepares the process before TensorFlow loads
  from image_classifier import shared_flags

  flags.DEFINE_string('master', '', 'Session master')
  flags.DEFINE_integer('batch_size', 250, 'Batch size', lower_bound=1)
  flags.DEFINE_integer('num_classes', 1001, 'Number of classes to distinguish')
  flags.DEFINE_integer('num_examples', 50000, 'Number of examples to evaluate', lower_bound=1)
  flags.DEFINE_integer('image_size', 224, 'Input image resolution', lower_bound=1)
  flags.DEFINE_float('depth_multiplier', 1.0, 'Depth multiplier for mobilenet (1.0, 0.75, 0.5 '
                     'or 0.25: the factory\'s MobileNet V1 widths)')
  flags.DEFINE_bool('quantize', False, 'Quantize training')
  flags.DEFINE_string('checkpoint_dir', '', 'The directory for checkpoints')
  flags.DEFINE_string('eval_dir', '', 'Directory for writing eval event logs (default: '
                      '<checkpoint_dir>/eval)')
  flags.DEFINE_string('dataset_dir', '', 'Location of dataset (its TFRecords)')
  shared_flags.define_dataset_name_flag('(new) Data set name in dataset_factory.')

  @cli.script_main
  def main(_):
    from image_classifier import mobilenet_v1_jobs
    mobilenet_v1_jobs.evaluate(flags.FLAGS)

  cli.run(main)
