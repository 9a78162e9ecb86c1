"""Helpers shared by the network tests: checkpoint manifests and parameter counts.

A manifest is the sorted list of every variable a published checkpoint of the net holds (model
variables of the training graph, batch-norm moving statistics included), one `name<TAB>shape` line
each, checked in under tests/data/manifests/<model_name>.txt. Regenerate one on purpose with
SLIM_UPDATE_MANIFESTS=1 (and review the diff: a changed line breaks checkpoint compatibility).
"""
import os

import numpy as np
import tensorflow.compat.v1 as tf

MANIFEST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'manifests')


def build_for_manifest(model_name, num_classes, image_size=None, is_training=True, **kwargs):
  """Builds `model_name` in a new graph; returns {variable name: shape list} of global variables."""
  from nets import nets_factory
  fn = nets_factory.get_network_fn(model_name, num_classes=num_classes, is_training=is_training)
  size = image_size or fn.default_image_size
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [1, size, size, 3])
    fn(images, **kwargs)
    return {v.op.name: v.shape.as_list() for v in tf.global_variables()}


def manifest_lines(variables):
  return ['%s\t%s' % (name, ','.join(str(d) for d in shape))
          for name, shape in sorted(variables.items())]


def check_manifest(model_name, variables):
  """Compares `variables` with the checked-in manifest of `model_name` (or writes it on request)."""
  path = os.path.join(MANIFEST_DIR, model_name + '.txt')
  lines = manifest_lines(variables)
  if os.environ.get('SLIM_UPDATE_MANIFESTS') == '1':
    os.makedirs(MANIFEST_DIR, exist_ok=True)
    with open(path, 'w') as f:
      f.write('\n'.join(lines) + '\n')
    return
  if not os.path.exists(path):
    raise AssertionError(
        'no manifest checked in for %s (%s). Write it with: SLIM_UPDATE_MANIFESTS=1 python -m '
        'pytest tests -k %s, then review and commit it' % (model_name, path, model_name))
  with open(path) as f:
    expected = f.read().splitlines()
  missing = sorted(set(expected) - set(lines))
  extra = sorted(set(lines) - set(expected))
  assert not missing and not extra, (
      '%s variables differ from %s\nmissing: %s\nextra: %s' % (model_name, path, missing[:20], extra[:20]))


def parameter_count(variables, trainable_only_names=None):
  """Number of scalars in the given {name: shape} dict."""
  return int(sum(np.prod(shape) for shape in variables.values()))
