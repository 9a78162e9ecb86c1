"""nets package of the slim image classification library."""
# Every package applies the TF 2.21 fixes before any tf_slim import.
from foundation import internals as _internals  # noqa: F401
