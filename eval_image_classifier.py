r"""Evaluates a slim image classifier checkpoint: Accuracy and Recall_5 (top-5) over a split.

  python eval_image_classifier.py --checkpoint_path=/tmp/flowers-train --eval_dir=/tmp/flowers-eval \
      --dataset_name=flowers --dataset_split_name=validation --dataset_dir=/tmp/flowers \
      --model_name=inception_v1
"""
from absl import flags

from image_classifier import cli
from image_classifier import shared_flags

shared_flags.define_dataset_flags(split_name='test', batch_size=100)
shared_flags.define_master_flag()
shared_flags.define_moving_average_flag()

flags.DEFINE_integer('max_num_batches', None, 'Evaluate at most this many batches (default: the '
                     'whole split once).', lower_bound=0)
flags.DEFINE_string('checkpoint_path', '/tmp/tfmodel/',
                    'Checkpoint file, or a folder whose latest checkpoint is evaluated.')
flags.DEFINE_string('eval_dir', '/tmp/tfmodel/',
                    'Folder for the TensorBoard summaries and per_class_accuracy.json.')
shared_flags.define_image_size_flag('eval_image_size', 'Side of the evaluated images.')
flags.DEFINE_bool('quantize', False, 'Whether to evaluate the quantized graph (of a '
                  'checkpoint trained with --quantize_delay).')
flags.DEFINE_integer('eval_interval_secs', 0, '(new) With a --checkpoint_path folder: keep '
                     'evaluating each new checkpoint, waiting at least this many seconds between '
                     'evaluations (0 = evaluate once).', lower_bound=0)
flags.DEFINE_integer('timeout', None, '(new) In continuous mode, stop after waiting this many '
                     'seconds for a new checkpoint.', lower_bound=0)
flags.DEFINE_integer('max_number_of_evaluations', None, '(new) In continuous mode, stop after '
                     'this many evaluations.', lower_bound=0)

FLAGS = flags.FLAGS


@cli.script_main
def main(_):
  from image_classifier import evaluation
  evaluation.evaluate(FLAGS)


def entry_point():
  cli.run(main)


if __name__ == '__main__':
  entry_point()
