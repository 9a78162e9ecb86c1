"""The base layer, below every other package: errors, atomic file I/O and downloads, and the one
module (`internals`) that touches private TensorFlow, tf-slim and Python names."""
