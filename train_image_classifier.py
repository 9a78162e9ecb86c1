r"""Trains or fine-tunes a slim image classifier on a TFRecord data set.

  python train_image_classifier.py --train_dir=/tmp/flowers-train --dataset_name=flowers \
      --dataset_split_name=train --dataset_dir=/tmp/flowers --model_name=inception_v1
"""
from absl import flags

from image_classifier import cli  # first: it prepares the process before TensorFlow loads
from image_classifier import script_flags

script_flags.define_train_flags()

FLAGS = flags.FLAGS


@cli.script_main
def main(_):
  from image_classifier import training
  training.train(FLAGS)


def entry_point():
  cli.run(main)


if __name__ == '__main__':
  entry_point()
