"""How a script sets up its own process; library code never does this.

Two steps, because some of it must happen before TensorFlow is loaded:

1. `prepare_environment(argv)`: environment variables TensorFlow reads when it loads: its C++
   INFO/WARNING logs hidden (unless TF_CPP_MIN_LOG_LEVEL is set), no GPU probe where no GPU can
   be used (unless TF_ENABLED_DEVICE_TYPES is set), and oneDNN kernels on x86 CPUs and for
   `--mixed_precision=bfloat16` (unless TF_ENABLE_ONEDNN_OPTS is set).
2. `configure_tensorflow()`: graph mode as slim was written (eager execution off; tensors and
   variables hashed by identity as in TF 1, which slim's variable sets rely on for speed), the
   speed-ups of `foundation.internals`, and one line per log record without TensorFlow's
   deprecation notices for the v1 APIs slim uses on purpose.

This module imports TensorFlow only inside `configure_tensorflow`, so that step 1 can run first.
"""
import ctypes
import importlib.util
import logging
import os
import platform
import site
import sys
import warnings

_ONEDNN_VARIABLE = 'TF_ENABLE_ONEDNN_OPTS'
_ONEDNN_MACHINES = ('x86_64', 'amd64')
_DEVICE_TYPES_VARIABLE = 'TF_ENABLED_DEVICE_TYPES'
# The device factories of TensorFlow's Linux wheel but the CUDA ones (GPU, XLA_GPU).
CPU_DEVICE_TYPES = 'CPU,XLA_CPU'
_CUDA_DRIVER = 'libcuda.so.1'


def requested_precision(argv):
  """The --mixed_precision value in a raw command line (None when absent)."""
  value = None
  for i, arg in enumerate(argv):
    if arg.startswith('--mixed_precision='):
      value = arg.split('=', 1)[1]
    elif arg == '--mixed_precision' and i + 1 < len(argv):
      value = argv[i + 1]
  return value


def _pluggable_devices_possible():
  """True if TensorFlow may load a pluggable device (its `tensorflow-plugins` folders, an explicit
  library path) or a TPU library: those devices must not be switched off with the GPU."""
  if os.environ.get('TF_PLUGGABLE_DEVICE_LIBRARY_PATH') or os.environ.get('TPU_LIBRARY_PATH'):
    return True
  folders = [p for p in sys.path if p] + list(getattr(site, 'getsitepackages', list)())
  if site.ENABLE_USER_SITE and site.USER_SITE:
    folders.append(site.USER_SITE)
  if any(os.path.isdir(os.path.join(f, 'tensorflow-plugins')) for f in folders):
    return True
  return importlib.util.find_spec('libtpu') is not None


def gpu_impossible():
  """True on Linux when the NVIDIA driver library cannot be loaded (TensorFlow then cannot use a
  GPU) and no other accelerator plug-in is installed.

  The driver is looked up exactly as TensorFlow's CUDA stub does (dlopen of libcuda.so.1), without
  initialising it. Where it loads, nothing is changed: a failing cuInit there is a real error.
  """
  if not sys.platform.startswith('linux') or _pluggable_devices_possible():
    return False
  try:
    ctypes.CDLL(_CUDA_DRIVER)
  except OSError:
    return True
  return False


def prepare_environment(argv=()):
  """Step 1 (before TensorFlow loads): log level, GPU probe and oneDNN; explicit user settings
  are kept.

  TF_CPP_MIN_LOG_LEVEL=2 keeps ERROR and FATAL lines. Where no GPU can be used, only the CPU
  device factories run: the CUDA one would log `E... failed call to cuInit` for the missing
  driver, an error line about nothing the user can or needs to fix.

  TensorFlow's wheel enables oneDNN by itself only on x86 CPUs with AVX-512 neural-network
  extensions; its kernels were faster on the other x86 CPUs too (benchmarks/results/speed.md),
  and the bfloat16 rewrite exists only with them.
  """
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  if _DEVICE_TYPES_VARIABLE not in os.environ and gpu_impossible():
    os.environ[_DEVICE_TYPES_VARIABLE] = CPU_DEVICE_TYPES
  if _ONEDNN_VARIABLE in os.environ:
    return
  if (requested_precision(argv) == 'bfloat16'
      or platform.machine().lower() in _ONEDNN_MACHINES):
    os.environ[_ONEDNN_VARIABLE] = '1'


_CONFIGURED = False
# tf_slim's INFO line for a network built with weight_decay=0, as evaluation and export build them.
_DISABLED_REGULARIZER_NOTICE = 'Scale of 0 disables regularizer.'


def _not_a_disabled_regularizer_notice(record):
  return not (record.levelno == logging.INFO and record.msg == _DISABLED_REGULARIZER_NOTICE)


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
  logging.getLogger('tensorflow').addFilter(_not_a_disabled_regularizer_notice)
  _CONFIGURED = True


def configure(argv=()):
  """Both steps, for code that has not loaded TensorFlow yet (tests, benchmarks)."""
  prepare_environment(argv)
  configure_tensorflow()
