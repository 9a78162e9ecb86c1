r"""Trains MobileNet V1 (the original's stand-alone script), with --quantize quantization-aware.

  python nets/mobilenet_v1_train.py --dataset_dir=/tmp/imagenet --checkpoint_dir=/tmp/mobilenet \
      --fine_tune_checkpoint=/tmp/mobilenet_v1_1.0_224.ckpt --quantize

Reads the TFRecords of --dataset_name (default imagenet) in --dataset_dir. Plain SGD at 0.045
(1e-4 when fine-tuning), x0.94 every 2.5 epochs; with --quantize the batch norms are folded and
fake-quant ops inserted, quantising from step 0 when fine-tuning, else from step 250000. A
--fine_tune_checkpoint restores what it has (missing variables start fresh) and the step starts at 0.
"""

if __name__ == '__main__':
  import os
  import sys
  # Run as `python nets/mobilenet_v1_train.py`: the repository root, not nets/, is the import root.
  sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

  from absl import flags

  from image_classifier import cli  # first: it prepares the process before TensorFlow loads
  from image_classifier import shared_flags

  flags.DEFINE_string('master', '', 'Session master')
  flags.DEFINE_integer('task', 0, 'Task')
  flags.DEFINE_integer('ps_tasks', 0, 'Number of ps')
  flags.DEFINE_integer('batch_size', 64, 'Batch size', lower_bound=1)
  flags.DEFINE_integer('num_classes', 1001, 'Number of classes to distinguish')
  flags.DEFINE_integer('number_of_steps', None,
                       'Number of training steps to perform before stopping')
  flags.DEFINE_integer('image_size', 224, 'Input image resolution', lower_bound=1)
  flags.DEFINE_float('depth_multiplier', 1.0, 'Depth multiplier for mobilenet (1.0, 0.75, 0.5 '
                     'or 0.25: the factory\'s MobileNet V1 widths)')
  flags.DEFINE_bool('quantize', False, 'Quantize training')
  flags.DEFINE_string('fine_tune_checkpoint', '', 'Checkpoint from which to start finetuning.')
  flags.DEFINE_string('checkpoint_dir', '', 'Directory for writing training checkpoints and logs')
  flags.DEFINE_string('dataset_dir', '', 'Location of dataset (its TFRecords)')
  shared_flags.define_dataset_name_flag('(new) Data set name in dataset_factory.')
  flags.DEFINE_integer('log_every_n_steps', 100, 'Number of steps per log')
  flags.DEFINE_integer('save_summaries_secs', 100, 'How often to save summaries, secs')
  flags.DEFINE_integer('save_interval_secs', 100, 'How often to save checkpoints, secs')

  @cli.script_main
  def main(_):
    from image_classifier import mobilenet_v1_jobs
    mobilenet_v1_jobs.train(flags.FLAGS)

  cli.run(main)
