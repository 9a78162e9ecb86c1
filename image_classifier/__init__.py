"""Shared plumbing for the slim scripts: TF 2.21 compatibility, flags, errors, I/O, training/eval/export."""

import sys as _sys

from image_classifier import precision as _precision

# A command line asking for --mixed_precision=bfloat16 needs oneDNN switched on before TensorFlow
# is imported; every script imports this package first, so this is the one place that can.
_precision.prepare_environment(_sys.argv)
