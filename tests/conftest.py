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

from slimlib import compat  # noqa: E402,F401  (before any tf_slim import)

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
