"""bfloat16 mixed precision on CPU (`--mixed_precision=bfloat16`, new): TensorFlow's oneDNN
auto-mixed-precision graph rewrite.

The rewrite (grappler's `auto_mixed_precision_onednn_bfloat16`, switched on in the session config's
rewriter options) runs convolutions, matrix products and the element-wise ops between them in
bfloat16 and inserts the casts; variables, their updates and the loss stay float32 (float32 master
weights), so checkpoints are unchanged and load in either mode.

The rewrite only exists when TensorFlow runs with oneDNN kernels, which the pip wheel turns on by
itself only on x86 CPUs with AVX-512 neural-network extensions. The scripts import this package
before TensorFlow, and `prepare_environment(sys.argv)` sets TF_ENABLE_ONEDNN_OPTS=1 on every x86
CPU (oneDNN's float32 kernels were also much faster there) and for a bfloat16 command, unless the
user set the variable. Whether bfloat16 is faster depends on the CPU: with AVX512_BF16 or AMX the
matrix units run bfloat16 natively; without them oneDNN converts to float32 around every product
and bfloat16 is slower than float32 (`cpu_bf16_instructions()` tells which case applies; the
training log says it).

This module imports TensorFlow lazily so that `prepare_environment` can run before it.
"""
import os
import platform

MODES = ('none', 'bfloat16')
_ONEDNN_VARIABLE = 'TF_ENABLE_ONEDNN_OPTS'
_ONEDNN_MACHINES = ('x86_64', 'amd64')
_BF16_FLAGS = ('avx512_bf16', 'amx_bf16', 'avx_ne_convert')


def requested(argv):
  """The --mixed_precision value in a raw command line (None when absent)."""
  value = None
  for i, arg in enumerate(argv):
    if arg.startswith('--mixed_precision='):
      value = arg.split('=', 1)[1]
    elif arg == '--mixed_precision' and i + 1 < len(argv):
      value = argv[i + 1]
  return value


def prepare_environment(argv):
  """Before TensorFlow is imported: run oneDNN kernels on x86 CPUs, and whenever bfloat16 is asked.

  TensorFlow's pip wheel turns oneDNN on by itself only on x86 CPUs with AVX-512 neural-network
  extensions; on the others (AVX2 machines, most AMD CPUs) it keeps its older Eigen kernels, which
  measured 1.4-1.8x slower for slim's training steps and inference (benchmarks/results/speed.md).
  An explicit TF_ENABLE_ONEDNN_OPTS in the environment is left as the user set it (0 turns it off).
  """
  if _ONEDNN_VARIABLE in os.environ:
    return
  if requested(argv) == 'bfloat16' or platform.machine().lower() in _ONEDNN_MACHINES:
    os.environ[_ONEDNN_VARIABLE] = '1'


def onednn_enabled():
  """True when this process's TensorFlow runs oneDNN kernels (and so has the bfloat16 rewrite)."""
  from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
  return bool(_pywrap_util_port.IsMklEnabled())


def cpu_bf16_instructions(cpuinfo='/proc/cpuinfo'):
  """The CPU's native bfloat16 instruction sets (empty when bfloat16 is emulated)."""
  try:
    with open(cpuinfo) as f:
      for line in f:
        if line.startswith('flags'):
          present = set(line.split(':', 1)[1].split())
          return [name for name in _BF16_FLAGS if name in present]
  except OSError:
    pass
  return []


def check_mode(mode):
  from foundation.errors import UserError  # pylint: disable=g-import-not-at-top
  mode = mode or 'none'
  if mode not in MODES:
    raise UserError('--mixed_precision=%s is not known; use one of %s' % (mode, ', '.join(MODES)))
  return mode


def session_config(mode='none', config=None):
  """`config` (default: a new ConfigProto with soft placement) with the rewrite for `mode` on.

  Raises UserError for bfloat16 when this process's TensorFlow has no oneDNN kernels, naming the
  environment variable that fixes it.
  """
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import rewriter_config_pb2  # pylint: disable=g-import-not-at-top
  from foundation.errors import UserError  # pylint: disable=g-import-not-at-top
  mode = check_mode(mode)
  if config is None:
    config = tf.ConfigProto(allow_soft_placement=True)
  if mode == 'bfloat16':
    if not onednn_enabled():
      raise UserError(
          '--mixed_precision=bfloat16 needs TensorFlow\'s oneDNN kernels, which are off in this '
          'process: set %s=1 before TensorFlow is imported (train_image_classifier.py and '
          'eval_image_classifier.py do it themselves when given the flag)' % _ONEDNN_VARIABLE)
    config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)
    native = cpu_bf16_instructions()
    if native:
      tf.logging.info('bfloat16 mixed precision on (native %s)', ', '.join(native))
    else:
      tf.logging.warning('bfloat16 mixed precision on, but this CPU has no bfloat16 instructions '
                         '(avx512_bf16/amx_bf16): oneDNN emulates them and it will likely be '
                         'slower than float32')
  return config
