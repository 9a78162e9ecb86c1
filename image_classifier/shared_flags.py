"""Flag definitions shared by the scripts, each defined once.

The names and defaults are the original slim scripts'; where a default differs between scripts
(batch size, split), the script passes its own. Flags added beyond the original are marked "(new)"
in their help text. Also here: the one parser of comma-separated list values.
"""
from absl import flags

from datasets import dataset_factory
from nets import nets_factory
from preprocessing import preprocessing_factory

FLAGS = flags.FLAGS

MODEL_NAMES = nets_factory.model_names()
DATASET_NAMES = sorted(dataset_factory.datasets_map)
PREPROCESSING_NAMES = preprocessing_factory.preprocessing_names()


def _define_once(define, name, *args, flag_values=None, **kwargs):
  flag_values = FLAGS if flag_values is None else flag_values
  if name not in flag_values:
    define(name, *args, flag_values=flag_values, **kwargs)


def define_model_flags(model_name='inception_v3', flag_values=None):
  _define_once(flags.DEFINE_enum, 'model_name', model_name, MODEL_NAMES,
               'Network name in nets_factory.',
               flag_values=flag_values)
  _define_once(flags.DEFINE_integer, 'labels_offset', 0,
               'Subtracted from every label and from the class count (1 for the 1000-class '
               'VGG and ResNet V1 checkpoints on a 1001-class data set).', lower_bound=0,
               flag_values=flag_values)
  _define_once(flags.DEFINE_bool, 'use_grayscale', False,
               'Feed the network one grey channel.',
               flag_values=flag_values)


def define_dataset_name_flag(help_text='Data set name in dataset_factory.', flag_values=None):
  _define_once(flags.DEFINE_enum, 'dataset_name', 'imagenet', DATASET_NAMES, help_text,
               flag_values=flag_values)


def define_dataset_flags(split_name, batch_size, input_pipeline_default='tf_data', flag_values=None):
  define_model_flags(flag_values=flag_values)
  define_dataset_name_flag(flag_values=flag_values)
  _define_once(flags.DEFINE_string, 'dataset_split_name', split_name, 'Split of the data set.',
               flag_values=flag_values)
  _define_once(flags.DEFINE_string, 'dataset_dir', None,
               'Folder holding the data set\'s TFRecords and labels.txt.',
               flag_values=flag_values)
  _define_once(flags.DEFINE_enum, 'preprocessing_name', None, PREPROCESSING_NAMES,
               'Preprocessing name (default: the model\'s own).',
               flag_values=flag_values)
  _define_once(flags.DEFINE_integer, 'batch_size', batch_size,
               'Images per batch (per clone when training).', lower_bound=1,
               flag_values=flag_values)
  _define_once(flags.DEFINE_integer, 'num_preprocessing_threads', 4,
               'Threads decoding and preprocessing images.', lower_bound=1,
               flag_values=flag_values)
  _define_once(flags.DEFINE_enum, 'input_pipeline', input_pipeline_default, ['tf_data', 'queue'],
               '(new) `tf_data`: parallel tf.data reading, decoding and preprocessing with prefetch '
               '(fast); `queue`: the original DatasetDataProvider + queue runners.',
               flag_values=flag_values)
  _define_once(flags.DEFINE_enum, 'mixed_precision', 'none', ['none', 'bfloat16'],
               '(new) `bfloat16`: run convolutions and matrix products in bfloat16 through '
               'TensorFlow\'s oneDNN auto mixed precision rewrite (float32 weights kept); fast '
               'only on CPUs with bfloat16 instructions (AVX512_BF16, AMX).',
               flag_values=flag_values)


def define_master_flag(flag_values=None):
  _define_once(flags.DEFINE_string, 'master', '', 'TensorFlow master (grpc://host:port), empty for in-process.',
               flag_values=flag_values)


def define_moving_average_flag(flag_values=None):
  _define_once(flags.DEFINE_float, 'moving_average_decay', None,
               'Decay of the exponential moving average of the weights (unset = none).',
               lower_bound=0.0, upper_bound=1.0,
               flag_values=flag_values)


def define_image_size_flag(name, help_text, flag_values=None):
  """An image side flag: 0 or unset means the network's own size, as in the original."""
  _define_once(flags.DEFINE_integer, name, None, help_text + ' 0 or unset: the network\'s own size.',
               lower_bound=0,
               flag_values=flag_values)


def split_list(text):
  """The items of a comma-separated flag value (scopes, hosts, node names, paths), blanks dropped."""
  return [item.strip() for item in (text or '').split(',') if item.strip()]
