r"""Evaluates a slim image classifier checkpoint: Accuracy and Recall_5 (top-5) over a split.

  python eval_image_classifier.py --checkpoint_path=/tmp/flowers-train --eval_dir=/tmp/flowers-eval \
      --dataset_name=flowers --dataset_split_name=validation --dataset_dir=/tmp/flowers \
      --model_name=inception_v1
"""
from absl import flags

from image_classifier import cli
from image_classifier import script_flags

script_flags.define_eval_flags()

FLAGS = flags.FLAGS


@cli.script_main
def main(_):
  from image_classifier import evaluation
  evaluation.evaluate(FLAGS)


def entry_point():
  cli.run(main)


if __name__ == '__main__':
  entry_point()
