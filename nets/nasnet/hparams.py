"""A small stand-in for `tf.contrib.training.HParams`, which TensorFlow 2 no longer has.

The NASNet and PNASNet configs are HParams objects in the original library, and user code edits them
with `set_hparam`, `override_from_dict` or `parse('name=value,...')` before passing them to a
builder.
This class keeps that interface and its type rules: a value keeps the type the hyperparameter was
created with (an int may become a float, never the reverse; bools, numbers and strings do not mix).
"""
import json
import numbers



class HParamsError(ValueError):
  """A hyperparameter name that does not exist, or a value of the wrong type."""


def _cast(name, kind, value):
  """`value` converted to `kind`, or an HParamsError when the conversion would lose meaning."""
  # An exact type check: isinstance would let True pass as an int.
  if type(value) is kind or value is None or kind is type(None):
    return value
  problem = "Could not cast hparam '%s' of type '%s' from value %r" % (name, kind.__name__, value)
  if issubclass(kind, (str, bytes)) and not isinstance(value, (str, bytes)):
    raise HParamsError(problem)
  if issubclass(kind, bool) != isinstance(value, bool):
    raise HParamsError(problem)
  if issubclass(kind, numbers.Integral) and not isinstance(value, numbers.Integral):
    raise HParamsError(problem)
  if issubclass(kind, numbers.Number) and not isinstance(value, numbers.Number):
    raise HParamsError(problem)
  return kind(value)


def _parse_scalar(name, kind, text):
  text = text.strip()
  if kind is bool:
    lowered = text.lower()
    if lowered in ('true', '1'):
      return True
    if lowered in ('false', '0'):
      return False
    raise HParamsError("Could not parse hparam '%s' as a bool from %r" % (name, text))
  if kind is str or kind is type(None):
    return text
  try:
    return kind(text)
  except ValueError:
    raise HParamsError("Could not parse hparam '%s' of type '%s' from %r"
                       % (name, kind.__name__, text)) from None


def _split_assignments(text):
  """'a=1,b=[2,3],c=x' -> [('a', '1'), ('b', '[2,3]'), ('c', 'x')] (commas in brackets kept)."""
  pieces, depth, current = [], 0, ''
  for char in text:
    if char == '[':
      depth += 1
    elif char == ']':
      depth -= 1
    if char == ',' and depth == 0:
      pieces.append(current)
      current = ''
    else:
      current += char
  pieces.append(current)
  assignments = []
  for piece in pieces:
    if not piece.strip():
      continue
    if '=' not in piece:
      raise HParamsError('Malformed hyperparameter assignment %r: expected name=value' % piece)
    name, value = piece.split('=', 1)
    assignments.append((name.strip(), value.strip()))
  return assignments


class HParams(object):
  """Named hyperparameters with attribute access and type-checked updates."""

  def __init__(self, **kwargs):
    # name -> (type of the value, whether the value is a list)
    self._hparam_types = {}
    for name, value in kwargs.items():
      self.add_hparam(name, value)

  def add_hparam(self, name, value):
    if name in self._hparam_types or hasattr(self, name):
      raise HParamsError('Hyperparameter name is reserved or already defined: %s' % name)
    if isinstance(value, (list, tuple)):
      if not value:
        raise HParamsError('Cannot infer the type of the empty list hyperparameter %s' % name)
      self._hparam_types[name] = (type(value[0]), True)
    else:
      self._hparam_types[name] = (type(value), False)
    setattr(self, name, value)

  def _check_known(self, name):
    if name not in self._hparam_types:
      raise HParamsError('Unknown hyperparameter %r; known: %s'
                         % (name, ', '.join(sorted(self._hparam_types))))

  def set_hparam(self, name, value):
    """Changes an existing hyperparameter, converting `value` to its type."""
    self._check_known(name)
    kind, is_list = self._hparam_types[name]
    if isinstance(value, (list, tuple)):
      if not is_list:
        raise HParamsError('Must not pass a list for single-valued hyperparameter %s' % name)
      setattr(self, name, [_cast(name, kind, v) for v in value])
    else:
      if is_list:
        raise HParamsError('Must pass a list for multi-valued hyperparameter %s' % name)
      setattr(self, name, _cast(name, kind, value))

  def del_hparam(self, name):
    if name in self._hparam_types:
      delattr(self, name)
      del self._hparam_types[name]

  def override_from_dict(self, values_dict):
    """Sets every `name: value` of the dict; returns self."""
    for name, value in values_dict.items():
      self.set_hparam(name, value)
    return self

  def parse(self, values):
    """Applies a 'name=value,name2=[1,2]' string (as given on a command line); returns self."""
    updates = {}
    for name, text in _split_assignments(values):
      self._check_known(name)
      kind, is_list = self._hparam_types[name]
      if is_list:
        inner = text[1:-1] if text.startswith('[') and text.endswith(']') else text
        updates[name] = [_parse_scalar(name, kind, t) for t in inner.split(',') if t.strip()]
      else:
        updates[name] = _parse_scalar(name, kind, text)
    return self.override_from_dict(updates)

  def values(self):
    """A dict of every hyperparameter name and value."""
    return {name: getattr(self, name) for name in self._hparam_types}

  def get(self, key, default=None):
    if key in self._hparam_types:
      return getattr(self, key)
    return default

  def to_json(self, indent=None, separators=None, sort_keys=False):
    return json.dumps(self.values(), indent=indent, separators=separators, sort_keys=sort_keys)

  def parse_json(self, values_json):
    return self.override_from_dict(json.loads(values_json))

  def __contains__(self, key):
    return key in self._hparam_types

  def __eq__(self, other):
    return isinstance(other, HParams) and self.values() == other.values()

  def __repr__(self):
    return '%s(%s)' % (type(self).__name__, ', '.join(
        '%s=%r' % item for item in sorted(self.values().items())))

  __str__ = __repr__
