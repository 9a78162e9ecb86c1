"""Looks up a data set descriptor by name: `get_dataset('flowers', 'train', '/tmp/flowers')`.

`datasets_map` names every data set this library knows. Its values are the descriptor modules,
imported on first use, so naming a data set costs nothing and a descriptor whose module is missing
fails only when it is used.
"""
import importlib

from datasets import dataset_utils
from foundation.errors import UserError

# name -> descriptor module (each has get_split(split_name, dataset_dir, file_pattern, reader)).
_DESCRIPTORS = {
    'cifar10': 'datasets.cifar10',
    'flowers': 'datasets.flowers',
    'imagenet': 'datasets.imagenet',
    'mnist': 'datasets.mnist',
    'visualwakewords': 'datasets.visualwakewords',
    'custom': 'datasets.custom',
}


class DatasetUnavailable(UserError, ImportError):
  """A known data set whose descriptor module is not installed."""


class _LazyModule(object):
  """Stands for a module and imports it on first attribute access."""

  def __init__(self, name, module_path):
    self._name = name
    self._module_path = module_path
    self._module = None

  def _load(self):
    if self._module is None:
      try:
        self._module = importlib.import_module(self._module_path)
      except ModuleNotFoundError as e:
        if e.name != self._module_path:
          raise  # the module exists but something it imports is missing: show the real error
        raise DatasetUnavailable('data set %s is known but its module %s is not available in this '
                                 'installation' % (self._name, self._module_path)) from None
    return self._module

  def __getattr__(self, attribute):
    return getattr(self._load(), attribute)

  def __repr__(self):
    return '<dataset module %s (%s)>' % (self._module_path,
                                         'loaded' if self._module else 'not loaded yet')


datasets_map = {name: _LazyModule(name, path) for name, path in _DESCRIPTORS.items()}


def check_name(name):
  """Raises DatasetError listing the valid names unless `name` is one of them."""
  if name not in datasets_map:
    raise dataset_utils.DatasetError('Name of dataset unknown %s; valid names: %s'
                                     % (name, ', '.join(sorted(datasets_map))))


def get_dataset(name, split_name, dataset_dir, file_pattern=None, reader=None, **kwargs):
  """Returns the slim Dataset for `split_name` of data set `name` stored in `dataset_dir`.

  Args:
    name: a key of `datasets_map`.
    split_name: e.g. 'train', 'validation' or 'test' (depends on the data set).
    dataset_dir: folder of the converted TFRecords.
    file_pattern: optional glob (with `%s` for the split) overriding the data set's own.
    reader: optional TF reader class (default tf.TFRecordReader).
    **kwargs: passed to the descriptor's get_split (flowers and custom accept `require_files`).

  Raises:
    DatasetError (a UserError and ValueError): unknown name or split, or no files.
  """
  check_name(name)
  return datasets_map[name].get_split(split_name, dataset_dir, file_pattern, reader, **kwargs)


# name -> converter module; each has run(dataset_dir, **options) returning a summary whose str()
# is the report. run()'s own keyword parameters say which options it takes.
_CONVERTERS = {
    'flowers': 'datasets.download_and_convert_flowers',
    'cifar10': 'datasets.download_and_convert_cifar10',
    'mnist': 'datasets.download_and_convert_mnist',
    'visualwakewords': 'datasets.download_and_convert_visualwakewords',
    'custom': 'datasets.convert_image_folder',
}

converters_map = {name: _LazyModule(name, path) for name, path in _CONVERTERS.items()}


def converter_options(name):
  """The option names the converter of `name` accepts (its run() keyword parameters)."""
  import inspect
  check_converter_name(name)
  parameters = inspect.signature(converters_map[name].run).parameters
  return [p for p in parameters if p != 'dataset_dir']


def check_converter_name(name):
  if name not in converters_map:
    raise dataset_utils.DatasetError('dataset_name [%s] was not recognized; valid names: %s'
                                     % (name, ', '.join(converters_map)))


def convert(name, dataset_dir, **options):
  """Runs the converter of data set `name` into `dataset_dir` and returns its summary.

  Options the converter does not take, and options set to None (meaning "its default"), are
  dropped, so a caller can pass every option it has.
  """
  check_converter_name(name)
  if not dataset_dir:
    raise dataset_utils.DatasetError('--dataset_dir is required: the folder to write the %s '
                                     'TFRecords into' % name)
  accepted = set(converter_options(name))
  kwargs = {k: v for k, v in options.items() if k in accepted and v is not None}
  return converters_map[name].run(dataset_dir, **kwargs)
