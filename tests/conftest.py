"""Shared test helpers.

`../shared/` (real checkpoints, photos, the digits set) sits beside the project's checkout in CI and on
the developers' machines, not in a user's clone: tests that need it skip with that reason.
"""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from image_classifier import process  # noqa: E402

# The tests run in graph mode with the scripts' speed-ups, set up before any test module imports
# tf_slim or the networks. TensorFlow's own oneDNN default is kept in this process (the scripts'
# subprocesses choose theirs as users' do).
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
process.configure_tensorflow()

SHARED_DIR = os.environ.get('SLIM_SHARED_DIR', os.path.join(os.path.dirname(ROOT), 'shared'))
SHARED_DATA = os.path.join(SHARED_DIR, 'data')


def shared_path(*parts):
  """Path under ../shared/data, or skip the test saying the shared data set is not here."""
  path = os.path.join(SHARED_DATA, *parts)
  if not os.path.exists(path):
    pytest.skip('needs ../shared/data (present in CI, not in a user clone): %s missing' % path)
  return path


@pytest.fixture
def graph():
  """A fresh default graph for one test."""
  import tensorflow.compat.v1 as tf
  with tf.Graph().as_default() as g:
    yield g


def run_script(script, *args, timeout=600, check=True):
  """Runs one of the top-level scripts in a subprocess, as a user would; returns the CompletedProcess.

  With check=True a non-zero exit fails the test and shows the script's output.
  """
  import subprocess
  command = [sys.executable, os.path.join(ROOT, script)] + [str(a) for a in args]
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
  result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT)
  if check and result.returncode != 0:
    raise AssertionError('%s exited with %d\nstdout:\n%s\nstderr:\n%s' % (
        ' '.join(command), result.returncode, result.stdout[-4000:], result.stderr[-8000:]))
  return result


def assert_user_error(result, *fragments):
  """A user mistake: exit code 2, a one-line `error:` message containing `fragments`, no traceback."""
  assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert errors, result.stderr[-3000:]
  for fragment in fragments:
    assert fragment in result.stderr, (fragment, result.stderr[-3000:])
