"""deployment package of the slim image classification library.

Importing it adds what tf-slim 1.1.0 needs on TensorFlow 2.21 (foundation.internals.apply_repairs)
and changes nothing else in the process: eager execution and the environment stay as they were.
"""
from foundation import internals as _internals

_internals.apply_repairs()
