"""The packages form layers that import one way, and importing the library leaves the process alone.

Layers, top to bottom (README, "Architecture"): the scripts; `image_classifier` (the jobs they run);
the design's packages `nets`, `preprocessing`, `datasets`, `deployment`, `quantize` (independent of
one another); `foundation`. Every import statement is read, at any depth of a module.
"""
import ast
import os
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT_LAYER = 4
LAYERS = {'image_classifier': 3, 'nets': 2, 'preprocessing': 2, 'datasets': 2, 'deployment': 2,
          'quantize': 2, 'foundation': 1}
# The one edge between design packages: preprocessing names come from the networks' table.
ALLOWED_SIDEWAYS = {('preprocessing', 'nets')}
# Late imports that are not dodging a cycle: TensorFlow must load after prepare_environment().
ALLOWED_LATE = {('image_classifier/process.py', 'foundation')}


def _scripts():
  return sorted(name[:-3] for name in os.listdir(ROOT)
                if name.endswith('.py') and name != 'setup.py')


def _modules():
  """(dotted module name, path, layer, package) of every module of the project."""
  out = [(name, os.path.join(ROOT, name + '.py'), SCRIPT_LAYER, name) for name in _scripts()]
  for package, layer in LAYERS.items():
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
      for name in sorted(files):
        if name.endswith('.py'):
          path = os.path.join(folder, name)
          dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
          out.append((dotted, path, layer, package))
  return out


def _is_main_guard(node):
  return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
          and isinstance(node.test.left, ast.Name) and node.test.left.id == '__name__')


def _imports(path):
  """(line, imported top-level name, at module level?) of every import statement in a file,
  except those of its `if __name__ == '__main__':` block (a module's own entry point)."""
  tree = ast.parse(open(path).read(), path)
  top_level, entry_point = set(), set()
  for node in tree.body:
    inside = list(ast.walk(node)) if isinstance(node, (ast.If, ast.Try)) else [node]
    (entry_point if _is_main_guard(node) else top_level).update(id(child) for child in inside)
  found = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      names = [node.module]
    else:
      continue
    if id(node) in entry_point:
      continue
    for name in names:
      found.append((node.lineno, name.split('.')[0], id(node) in top_level))
  return found


def _layer_of(top):
  if top in LAYERS:
    return LAYERS[top]
  if top in _scripts():
    return SCRIPT_LAYER
  return None  # outside the project


def test_every_package_of_the_layers_exists():
  missing = [p for p in LAYERS if p != 'quantize' and not os.path.isdir(os.path.join(ROOT, p))]
  assert not missing


def test_no_module_imports_upwards_or_sideways():
  problems = []
  for name, path, layer, package in _modules():
    for line, top, _ in _imports(path):
      target = _layer_of(top)
      if target is None or top == package:
        continue
      where = '%s:%d imports %s' % (os.path.relpath(path, ROOT), line, top)
      if target > layer:
        problems.append(where + ' (a higher layer)')
      elif target == layer == 2 and (package, top) not in ALLOWED_SIDEWAYS:
        problems.append(where + ' (another design package: they are independent)')
      elif target == layer == SCRIPT_LAYER:
        problems.append(where + ' (another script)')
  assert not problems, '\n'.join(problems)


def test_library_modules_import_the_project_at_module_level():
  # A function-level import of a project module hides the dependency (and is how a cycle is
  # dodged). Only the scripts import late: their process is configured before TensorFlow loads.
  problems = []
  for name, path, layer, package in _modules():
    if layer == SCRIPT_LAYER:
      continue
    for line, top, at_module_level in _imports(path):
      late = (os.path.relpath(path, ROOT), top) in ALLOWED_LATE
      if _layer_of(top) is not None and not at_module_level and not late:
        problems.append('%s:%d imports %s inside a function'
                        % (os.path.relpath(path, ROOT), line, top))
  assert not problems, '\n'.join(problems)


def test_the_check_sees_an_upward_import(tmp_path):
  # The walk itself: an upward import written in a function of a design module is found.
  module = tmp_path / 'probe.py'
  module.write_text('import os\n\ndef f():\n  from image_classifier import training\n')
  assert _imports(str(module)) == [(1, 'os', True), (4, 'image_classifier', False)]


_EAGER_PROBE = r'''
import os, sys
sys.path.insert(0, %(root)r)
before = dict(os.environ)
import tensorflow as tf
import nets, datasets, preprocessing, deployment
from nets import nets_factory
from preprocessing import preprocessing_factory
from datasets import dataset_factory
from deployment import model_deploy
assert tf.executing_eagerly(), 'eager execution was turned off'
assert dict(os.environ) == before, sorted(set(os.environ.items()) ^ set(before.items()))
assert tf.constant(1) + 1 == 2  # TF 2 tensor equality left as it was
with tf.Graph().as_default():
  images = tf.compat.v1.placeholder(tf.float32, [2, 96, 96, 3])
  logits, end_points = nets_factory.get_network_fn('mobilenet_v1_025', 10, is_training=True)(images)
  names = [v.op.name for v in tf.compat.v1.global_variables()]
assert logits.shape.as_list() == [2, 10], logits.shape
assert 'MobilenetV1/Conv2d_0/BatchNorm/moving_mean' in names
print('untouched', len(names))
'''


def test_importing_the_library_changes_nothing_in_an_eager_program():
  env = {k: v for k, v in os.environ.items() if not k.startswith(('TF_', 'SLIM_'))}
  result = subprocess.run([sys.executable, '-c', _EAGER_PROBE % {'root': ROOT}], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'untouched' in result.stdout
