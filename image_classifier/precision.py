"""bfloat16 mixed precision on CPU (`--mixed_precision=bfloat16`, new): TensorFlow's oneDNN
auto-mixed-precision graph rewrite.

The rewrite (grappler's `auto_mixed_precision_onednn_bfloat16`, switched on in the session config's
rewriter options) runs convolutions, matrix products and the element-wise ops between them in
bfloat16 and inserts the casts; variables, their updates and the loss stay float32 (float32 master
weights), so checkpoints are unchanged and load in either mode.

The rewrite only exists when TensorFlow runs with oneDNN kernels; `image_classifier.process`
switches them on for the scripts. Whether bfloat16 is faster depends on the CPU: with AVX512_BF16 or
AMX the matrix units run bfloat16 natively; without them oneDNN converts to float32 around every
product and bfloat16 is slower than float32 (`cpu_bf16_instructions()` tells which case applies;
the training log says it).

Depthwise convolutions stay float32 (`keep_depthwise_in_float32`): oneDNN's bfloat16 depthwise
backward kernels were 3-6x slower than its float32 ones on an AMX/AVX512_BF16 CPU, which made
bfloat16 training of MobileNet V1 slower than float32 (0.85x); with them in float32 it was 1.26x
faster (benchmarks/results/bf16.md, benchmarks/bf16_profile.py).
"""
import os

import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

from foundation import internals
from foundation.errors import UserError

MODES = ('none', 'bfloat16')
_BF16_FLAGS = ('avx512_bf16', 'amx_bf16', 'avx_ne_convert')
DEPTHWISE_OPS = ('DepthwiseConv2dNative', 'DepthwiseConv2dNativeBackpropInput',
                 'DepthwiseConv2dNativeBackpropFilter')
# The rewrite's op lists are TensorFlow's defaults edited by these variables (comma-separated op
# types), read each time the rewrite runs.
_LIST_VARIABLE = 'TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_%s'
_DEPTHWISE_LIST_EDITS = (('ALLOWLIST_REMOVE', DEPTHWISE_OPS), ('DENYLIST_ADD', DEPTHWISE_OPS))


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
  mode = mode or 'none'
  if mode not in MODES:
    raise UserError('--mixed_precision=%s is not known; use one of %s' % (mode, ', '.join(MODES)))
  return mode


def keep_depthwise_in_float32(environ=None):
  """Takes the depthwise convolutions off the rewrite's bfloat16 list, unless the user has set
  that list variable himself (his value is kept). Returns the variables it set."""
  environ = os.environ if environ is None else environ
  changed = {}
  for suffix, ops in _DEPTHWISE_LIST_EDITS:
    name = _LIST_VARIABLE % suffix
    if name not in environ:
      environ[name] = changed[name] = ','.join(ops)
  return changed


def session_config(mode='none', config=None):
  """`config` (default: a new ConfigProto with soft placement) with the rewrite for `mode` on.

  Raises UserError for bfloat16 when this process's TensorFlow has no oneDNN kernels, naming the
  environment variable that fixes it.
  """
  mode = check_mode(mode)
  if config is None:
    config = tf.ConfigProto(allow_soft_placement=True)
  if mode == 'bfloat16':
    if not internals.onednn_enabled():
      raise UserError(
          '--mixed_precision=bfloat16 needs TensorFlow\'s oneDNN kernels, which are off in this '
          'process: set TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow is imported (the scripts do it '
          'themselves when given the flag)')
    keep_depthwise_in_float32()
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
