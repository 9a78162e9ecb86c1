r"""Downloads and converts a data set to TFRecords, or converts a folder of your own images.

    python download_and_convert_data.py --dataset_name=flowers --dataset_dir=/tmp/flowers
    python download_and_convert_data.py --dataset_name=custom --dataset_dir=/tmp/mine \
        --images_dir=/path/to/class_folders

The work is done by `datasets.dataset_factory.convert` (one converter module per data set); this
script only parses flags and prints the converter's summary.
"""
from absl import flags
from absl import logging

from image_classifier import cli  # first: it prepares the process before TensorFlow loads
from datasets import dataset_factory
from foundation.errors import UserError

FLAGS = flags.FLAGS

# One row per converter in dataset_factory._CONVERTERS: flowers, cifar10, mnist, visualwakewords,
# custom.
_NAMES = tuple(dataset_factory.converters_map)

flags.DEFINE_enum('dataset_name', None, list(_NAMES), 'The name of the dataset to convert.')
flags.DEFINE_string(
    'dataset_dir', None, 'The directory where the output TFRecords and temporary files are saved.')
flags.DEFINE_string(
    'dataset_url', None,
    'URL or local path of the source archive, instead of the data set\'s original URL '
    '(flowers: flower_photos.tgz; cifar10: cifar-10-python.tar.gz; mnist: the base URL or folder '
    'of its four idx .gz files; visualwakewords: the base URL or folder of train2014.zip, '
    'val2014.zip and annotations_trainval2014.zip).')
flags.DEFINE_string(
    'images_dir', None,
    'custom only: folder holding one sub-folder of images (jpg/jpeg/png/bmp/gif) per class.')
flags.DEFINE_float(
    'validation_fraction', 0.1,
    'custom only: fraction of the images (after a seeded shuffle) that form the validation split.', lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer('num_shards', 5, 'custom only: number of TFRecord files per split.', lower_bound=1)
flags.DEFINE_float(
    'small_object_area_threshold', 0.005,
    'visualwakewords only: threshold of fraction of image area below which small objects are '
    'filtered.', lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_string(
    'foreground_class_of_interest', 'person',
    'visualwakewords only: build a binary classifier based on the presence or absence of this '
    'object class.')
flags.DEFINE_string(
    'coco_train_url', None,
    'visualwakewords only: URL or local path of COCO train2014.zip (default: cocodataset.org).')
flags.DEFINE_string(
    'coco_validation_url', None,
    'visualwakewords only: URL or local path of COCO val2014.zip (default: cocodataset.org).')
flags.DEFINE_string(
    'coco_annotations_url', None,
    'visualwakewords only: URL or local path of COCO annotations_trainval2014.zip (default: '
    'cocodataset.org).')
flags.DEFINE_string(
    'coco_dirname', None,
    'visualwakewords only: sub-folder of dataset_dir receiving the COCO downloads (default '
    'coco_dataset).')
flags.DEFINE_integer(
    'num_workers', None, 'Processes converting images in parallel (default: number of CPUs).', lower_bound=1)

# Flags forwarded to the converter; each converter's run() takes the ones it uses.
_OPTION_FLAGS = ('dataset_url', 'images_dir', 'validation_fraction', 'num_shards',
                 'small_object_area_threshold', 'foreground_class_of_interest', 'num_workers',
                 'coco_train_url', 'coco_validation_url', 'coco_annotations_url', 'coco_dirname')


@cli.script_main
def main(_):
  if not FLAGS.dataset_name:
    raise UserError('You must supply the dataset name with --dataset_name (one of %s)'
                    % ', '.join(_NAMES))
  dataset_factory.check_converter_name(FLAGS.dataset_name)
  if not FLAGS.dataset_dir:
    raise UserError('You must supply the dataset directory with --dataset_dir')
  accepted = dataset_factory.converter_options(FLAGS.dataset_name)
  for name in _OPTION_FLAGS:
    if FLAGS[name].present and name not in accepted:
      logging.warning('--%s is not used by the %s converter', name, FLAGS.dataset_name)
  summary = dataset_factory.convert(
      FLAGS.dataset_name, FLAGS.dataset_dir,
      **{name: FLAGS[name].value for name in _OPTION_FLAGS})
  print(summary)


def entry_point():
  cli.run(main)


if __name__ == '__main__':
  entry_point()
