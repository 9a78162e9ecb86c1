"""How a script sets up its own process; library code never does this.

Two steps, because some of it must happen before TensorFlow is loaded:

1. `prepare_environment(argv)`: environment variables TensorFlow reads when it loads: its C++
   INFO/WARNING logs hidden (unless TF_CPP_MIN_LOG_LEVEL is set), and oneDNN kernels on x86 CPUs
   and for `--mixed_precision=bfloat16` (unless TF_ENABLE_ONEDNN_OPTS is set).
2. `configure_tensorflow()`: graph mode as slim was written (eager execution off; tensors and
   variables hashed by identity as in TF 1, which slim's variable sets rely on for speed), the
   speed-ups of `foundation.internals`, and one line per log record without TensorFlow's
   deprecation notices for the v1 APIs slim uses on purpose.

This module imports TensorFlow only inside `configure_tensorflow`, so that step 1 can run first.
"""
import logging
import os
import platform
import warnings

_ONEDNN_VARIABLE = 'TF_ENABLE_ONEDNN_OPTS'
_ONEDNN_MACHINES = ('x86_64', 'amd64')


def requested_precision(argv):
  """The --mixed_precision value in a raw command line (None when absent)."""
  value = None
  for i, arg in enumerate(argv):
    if arg.startswith('--mixed_precision='):
      value = arg.split('=', 1)[1]
    elif arg == '--mixed_precision' and i + 1 < len(argv):
      value = argv[i + 1]
  return value


def prepare_environment(argv=()):
  """Step 1 (before TensorFlow loads): log level and oneDNN; explicit user settings are kept.

  TensorFlow's wheel enables oneDNN by itself only on x86 CPUs with AVX-512 neural-network
  extensions; its kernels were faster on the other x86 CPUs too (benchmarks/results/speed.md),
  and the bfloat16 rewrite exists only with them.
  """
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  if _ONEDNN_VARIABLE in os.environ:
    return
  if (requested_precision(argv) == 'bfloat16'
      or platform.machine().lower() in _ONEDNN_MACHINES):
    os.environ[_ONEDNN_VARIABLE] = '1'


_CONFIGURED = False


def configure_tensorflow():
  """Step 2: graph mode, TF 1 tensor hashing, speed-ups, quiet logs. Safe to call many times."""
  global _CONFIGURED
  if _CONFIGURED:
    return
  import tensorflow.compat.v1 as tf
  from foundation import internals
  internals.apply_speedups()
  tf.disable_eager_execution()
  tf.disable_tensor_equality()
  internals.silence_deprecation_warnings()
  warnings.filterwarnings('ignore', category=UserWarning)
  warnings.filterwarnings('ignore', category=DeprecationWarning)
  # tf.logging has its own handler; propagating to absl's root handler printed every line twice.
  logging.getLogger('tensorflow').propagate = False
  _CONFIGURED = True


def configure(argv=()):
  """Both steps, for code that has not loaded TensorFlow yet (tests, benchmarks)."""
  prepare_environment(argv)
  configure_tensorflow()
