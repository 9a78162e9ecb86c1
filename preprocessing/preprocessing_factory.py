"""Maps a preprocessing name (a module name or a model name) to its preprocessing function.

The model names come from the one network table, `nets.nets_factory.NETS`: every registered net
with a `preprocessing` entry is a valid name here, so registering a net is all it takes (the one
dependency between the design's packages: preprocessing reads the networks' table).

`get_preprocessing(name, is_training=False, use_grayscale=False, height=None, width=None)`: height
and width, when given, are the output size the returned function uses when a call does not give
one, so `get_preprocessing('inception_v3', height=299, width=299, is_training=True)(image)` works;
explicit sizes in the call still win.
"""
import functools

from nets import nets_factory
from preprocessing import cifarnet_preprocessing
from preprocessing import inception_preprocessing
from preprocessing import lenet_preprocessing
from preprocessing import vgg_preprocessing


class UnknownPreprocessingError(ValueError):
  """Raised for an unknown preprocessing name (a ValueError, as in the original)."""


# The module names; model names resolve to one of these through the network table.
_MODULES = {
    'cifarnet': cifarnet_preprocessing,
    'inception': inception_preprocessing,
    'lenet': lenet_preprocessing,
    'vgg': vgg_preprocessing,
}


def _model_preprocessing():
  """{model name: module key} for every registered net that names its preprocessing."""
  mapping = {}
  for spec in nets_factory.NETS.values():
    if spec.preprocessing is None:
      continue
    if spec.preprocessing not in _MODULES:
      raise ValueError('nets_factory row %r names an unknown preprocessing %r (known: %s)'
                       % (spec.name, spec.preprocessing, ', '.join(sorted(_MODULES))))
    mapping[spec.name] = spec.preprocessing
  return mapping


def preprocessing_fn_map():
  """{name: preprocessing module} for every valid preprocessing name."""
  mapping = dict(_MODULES)
  for name, key in _model_preprocessing().items():
    mapping.setdefault(name, _MODULES[key])
  return mapping


def preprocessing_names():
  """Sorted list of every valid preprocessing name."""
  return sorted(preprocessing_fn_map())


def get_module(name):
  """The preprocessing module used for `name` (a module name or a model name)."""
  if name in _MODULES:
    return _MODULES[name]
  mapping = preprocessing_fn_map()
  if name not in mapping:
    raise UnknownPreprocessingError(
        'Preprocessing name [%s] was not recognized. Valid names: %s'
        % (name, ', '.join(sorted(mapping))))
  return mapping[name]


def _output_size(output_height, output_width, height, width):
  """The explicit output size, else the factory's default; a TypeError when neither gives one."""
  size = (height if output_height is None else output_height,
          width if output_width is None else output_width)
  if None in size:
    raise TypeError('preprocessing_fn needs output_height and output_width, or '
                    'get_preprocessing(..., height=H, width=W) to give them defaults')
  return size


def get_preprocessing(name, is_training=False, use_grayscale=False, height=None, width=None):
  """Returns `preprocessing_fn(image, output_height=None, output_width=None, **kwargs)` for `name`.

  Args:
    name: a module name (`cifarnet`, `inception`, `lenet`, `vgg`) or a model name of nets_factory.
    is_training: training (random distortions) or evaluation transform.
    use_grayscale: produce one-channel grey images.
    height, width: default output size of the returned function, used where a call gives no
      output_height / output_width (e.g. `get_preprocessing('inception_v3', height=299,
      width=299, is_training=True)(image)`); None: each call must give the size.

  Returns:
    A function calling the module's `preprocess_image` with these settings; extra keyword arguments
    (e.g. `bbox`, `fast_mode`, `resize_side_min`) are passed through. A call without a size it
    has no default for raises TypeError.

  Raises:
    UnknownPreprocessingError (a ValueError): unknown name; the message lists the
      valid names.
  """
  module = get_module(name)

  @functools.wraps(module.preprocess_image)
  def preprocessing_fn(image, output_height=None, output_width=None, **kwargs):
    output_height, output_width = _output_size(output_height, output_width, height, width)
    return module.preprocess_image(image, output_height, output_width,
                                   is_training=is_training, use_grayscale=use_grayscale, **kwargs)

  # The same transform from JPEG bytes, decoding only the pixels it keeps (the random crop in
  # training, the central crop in evaluation); the tf_data input path uses it.
  from_jpeg_fn = getattr(module, 'preprocess_jpeg_for_train' if is_training
                         else 'preprocess_jpeg_for_eval', None)
  if from_jpeg_fn is not None:
    def from_jpeg(encoded, output_height=None, output_width=None, channels=3):
      output_height, output_width = _output_size(output_height, output_width, height, width)
      return from_jpeg_fn(encoded, output_height, output_width, channels=channels,
                          use_grayscale=use_grayscale)
    preprocessing_fn.from_jpeg = from_jpeg

  return preprocessing_fn
