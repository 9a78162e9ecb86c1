"""Histogram summaries computed with parallel tensor ops instead of TensorFlow's HistogramSummary.

The training script records a histogram of every end point and every model variable, as the
original did. TensorFlow's HistogramSummary kernel walks its input on one thread with a binary
search per value, which for the activations of a large net at a training batch size is a long
stall in the first step (benchmarks/results/speed.md). `histogram_summaries` returns the same histograms
(same buckets and counts, same min, max and count; the sum and sum of squares agree to float
rounding) from a handful of element-wise passes that use every core:

- TensorFlow's bucket limits are 0, +-1e-12 * 1.1**k up to 1e20, and +-DBL_MAX, and a value goes
  in the bucket whose limit is the first one above it (std::upper_bound).
- The top 13 bits of a float32 (sign, exponent, 4 mantissa bits) cut the line into ranges at most
  6.25% wide, narrower than a bucket (10%), so a range holds at most one limit. Each value is
  compared with the limit in its range (one table lookup; limits compared as float32 rounded up,
  which gives the same answer as comparing with the float64 limit) and counted by (range, above
  the limit or not); a second table, applied to the 16384 counts rather than to every value, turns
  those into buckets.
- Sums are float32 along the last axis, then float64; a tensor whose largest value could overflow
  a float32 sum of squares is scaled down first.
- Tensors are processed in pieces of 4M values, one piece at a time, so the temporaries stay
  bounded whatever the model.
- Runs of empty buckets are folded into their last bucket, as TensorFlow's EncodeToProto does.
  This and the encoding are done once for all the large tensors together, so a graph with hundreds
  of histograms stays quick to build.
- Like the kernel, a NaN or infinite value is an error naming the tag.

Small tensors (TensorFlow's kernel takes microseconds for them and one op builds faster than
twenty), tensors of another dtype and tensors of unknown shape go to TensorFlow's own kernel.
"""
import weakref

import numpy as np
import tensorflow.compat.v1 as tf

_PREFIX_SHIFT = 19  # keep sign, exponent and the top 4 mantissa bits of a float32
# Tensors with fewer values than this go to TensorFlow's kernel (cheap for them).
FAST_MIN_SIZE = 1 << 18
# Scaled values stay below 2**_SCALED_EXPONENT, so a float32 sum of up to 2**40 squares is finite.
_SCALED_EXPONENT = 40
# Partial sums run along the last axis if it is at most this long (else value by value).
_MAX_ROW = 4096
# Large tensors are processed in pieces of this many values, one piece at a time, so that the
# temporaries (a few int32/float32 copies of a piece) stay small whatever the tensor's size.
_CHUNK = 1 << 22


def bucket_limits():
  """TensorFlow's default histogram bucket limits (float64, ascending), built as its C++ does."""
  positive = []
  value = 1.0e-12
  while value < 1.0e20:
    positive.append(value)
    value *= 1.1
  positive.append(np.finfo(np.float64).max)
  positive = np.array(positive, np.float64)
  return np.concatenate([-positive[::-1], [0.0], positive])


def _round_up_to_float32(values):
  """The smallest float32 >= each float64 value (so x >= limit <=> x >= that float32)."""
  with np.errstate(over='ignore'):
    nearest = values.astype(np.float32)
  below = nearest.astype(np.float64) < values
  nearest[below] = np.nextafter(nearest[below], np.float32(np.inf))
  return nearest


def _prefix_table(limits):
  """For each 13-bit float32 prefix, the bucket of the smallest value with that prefix."""
  prefixes = np.arange(1 << (32 - _PREFIX_SHIFT), dtype=np.uint32)
  low_bits = np.uint32((1 << _PREFIX_SHIFT) - 1)
  negative = (prefixes >> np.uint32(32 - _PREFIX_SHIFT - 1)) == 1
  # For negative numbers the largest magnitude (all low bits set) is the smallest value.
  patterns = np.where(negative, (prefixes << np.uint32(_PREFIX_SHIFT)) | low_bits,
                      prefixes << np.uint32(_PREFIX_SHIFT))
  with np.errstate(invalid='ignore'):
    lowest = patterns.view(np.float32).astype(np.float64)
    table = np.searchsorted(limits, lowest, side='right')
  # Inf/NaN prefixes: any valid index (such values are reported as an error anyway).
  table[~np.isfinite(lowest)] = len(limits) - 1
  return table.astype(np.int32)


_LIMITS = bucket_limits()
_LIMITS_FLOAT32_UP = _round_up_to_float32(_LIMITS)
_TABLE = _prefix_table(_LIMITS)
_PREFIXES = len(_TABLE)
# A value's key is its prefix, plus _PREFIXES if it is at or above its prefix's threshold; a key's
# bucket is its prefix's lowest bucket, plus one above the threshold. Only a non-finite value can
# pass the threshold of the last bucket (DBL_MAX): its key goes to an extra bucket, never reported.
_KEY_BUCKET = np.minimum(np.concatenate([_TABLE, _TABLE + 1]), len(_LIMITS)).astype(np.int32)
_BY_GRAPH = weakref.WeakKeyDictionary()


class _Constants(object):
  """The graph's shared constants, so each histogram adds ops but no new constants."""

  def __init__(self):
    with tf.name_scope('histogram_buckets'):
      self.threshold = tf.constant(_LIMITS_FLOAT32_UP[_TABLE], name='prefix_threshold')
      self.key_bucket = tf.constant(_KEY_BUCKET, name='key_bucket')
      self.limits = tf.constant(_LIMITS, name='limits')
      self.no_weights = tf.zeros([0], tf.float64, name='no_weights')
      self.keys = tf.constant(2 * _PREFIXES, name='keys')
      self.prefixes = tf.constant(_PREFIXES, name='prefixes')
      self.buckets = tf.constant(len(_LIMITS), name='buckets')
      self.shift = tf.constant(_PREFIX_SHIFT, tf.uint32, name='shift')
      self.flat = tf.constant([-1], name='flat')
      self.column = tf.constant([-1, 1], name='column')
      self.axis0 = tf.constant(0, name='axis0')
      self.axis1 = tf.constant(1, name='axis1')
      self.one = tf.constant(1.0, name='one')
      self.scaled_limit = tf.constant(2.0 ** _SCALED_EXPONENT, name='scaled_limit')

  @classmethod
  def of_graph(cls):
    # Not a graph collection: collections are written into every checkpoint's .meta.
    graph = tf.get_default_graph()
    if graph not in _BY_GRAPH:
      with tf.name_scope(None), tf.control_dependencies(None), tf.device(None):
        _BY_GRAPH[graph] = cls()
    return _BY_GRAPH[graph]


class _Chain(object):
  """Runs pieces of work one after another (control dependencies), so that only one piece's
  temporaries (a few int32/float32 copies of _CHUNK values) are alive at a time."""

  def __init__(self):
    self._last = []

  def next_piece(self):
    return tf.control_dependencies(self._last)

  def done(self, *tensors):
    self._last = [tensor.op for tensor in tensors]


def _pieces(tensor, rows):
  """`tensor` split along its first axis into pieces of at most `rows` rows (aligned slices of a
  CPU tensor share its buffer: no copy)."""
  total = tensor.shape.as_list()[0]
  if total <= rows:
    return [tensor]
  return tf.split(tensor, [rows] * (total // rows) + ([total % rows] if total % rows else []))


def _key_counts(flat, constants, chain):
  """float64 counts of the values' keys (prefix, above the prefix's threshold or not)."""
  counts = []
  for piece in _pieces(flat, _CHUNK):
    with chain.next_piece():
      bits = tf.bitcast(piece, tf.uint32)
    prefix = tf.bitcast(tf.bitwise.right_shift(bits, constants.shift), tf.int32)
    # gather_nd is faster than gather for single-element lookups on CPU.
    threshold = tf.gather_nd(constants.threshold, tf.reshape(prefix, constants.column))
    above = tf.cast(piece >= threshold, tf.int32) * constants.prefixes
    counts.append(tf.raw_ops.Bincount(arr=prefix + above, size=constants.keys,
                                      weights=constants.no_weights))
    chain.done(counts[-1])
  return counts[0] if len(counts) == 1 else tf.add_n(counts)


def _buckets_from_keys(key_counts, constants):
  """[tensors, keys] counts -> [tensors, buckets] counts."""
  by_bucket = tf.math.unsorted_segment_sum(tf.transpose(key_counts), constants.key_bucket,
                                           constants.buckets + 1)
  return tf.transpose(by_bucket[:-1])


def _scales(smallest, largest, constants):
  """(float32 factor <= 1 that brings the largest magnitude to at most 2**_SCALED_EXPONENT,
  float64 inverse). The factor is exactly 1 unless the values are that large."""
  # At least 1: also turns the -0.0 of an all-zero tensor (-min) into a positive divisor.
  magnitude = tf.maximum(tf.maximum(-smallest, largest), constants.one)
  down = tf.minimum(constants.one, constants.scaled_limit / magnitude)
  return down, tf.math.reciprocal(tf.cast(down, tf.float64))


def _partial_sums(values, scale, constants, chain):
  """float64 (sum, sum of squares) of `values * scale`, from float32 sums along short rows."""
  shape = values.shape.as_list()
  row = shape[-1] if len(shape) >= 2 and shape[-1] <= _MAX_ROW else 1
  totals, squares = [], []
  # Pieces of a multiple of 16 rows keep every slice 64-byte aligned.
  for piece in _pieces(tf.reshape(values, [-1, row]), max(16, _CHUNK // row // 16 * 16)):
    with chain.next_piece():
      scaled = piece * scale
    rows = tf.cast(tf.raw_ops.Sum(input=scaled, axis=constants.axis1), tf.float64)
    totals.append(tf.raw_ops.Sum(input=rows, axis=constants.axis0))
    row_squares = tf.raw_ops.Sum(input=tf.square(scaled), axis=constants.axis1)
    squares.append(tf.raw_ops.Sum(input=tf.cast(row_squares, tf.float64), axis=constants.axis0))
    chain.done(totals[-1], squares[-1])
  if len(totals) == 1:
    return totals[0], squares[0]
  return tf.add_n(totals), tf.add_n(squares)


def _uses_kernel(values, fast_min_size):
  return (values.dtype.base_dtype != tf.float32 or not values.shape.is_fully_defined()
          or values.shape.ndims == 0 or values.shape.num_elements() < max(fast_min_size, 1))


def _compact_rows(keep, *matrices):
  """Moves each row's kept entries to the front (order kept), zeros after them."""
  where = tf.where(keep)
  column = tf.gather_nd(tf.cumsum(tf.cast(keep, tf.int64), axis=1) - 1, where)
  target = tf.stack([where[:, 0], column], axis=1)
  shape = tf.shape(keep, out_type=tf.int64)
  return [tf.scatter_nd(target, tf.gather_nd(matrix, where), shape) for matrix in matrices]


def _encode(message_type, fields, sizes):
  names = [name for name, _ in fields]
  return tf.io.encode_proto(sizes, [value for _, value in fields], names, message_type)


def _fast_summary(tags, tensors):
  """One serialized Summary with a histogram value per tensor (all float32, static shapes)."""
  constants = _Constants.of_graph()
  counts, smallest, largest, totals, squares = [], [], [], [], []
  for values in tensors:
    # Each tensor on its own: its pieces one after another, and nothing that waits for other
    # tensors (which would keep every activation alive until the last one is computed).
    chain = _Chain()
    flat = tf.reshape(values, constants.flat)
    counts.append(_key_counts(flat, constants, chain))
    smallest.append(tf.raw_ops.Min(input=flat, axis=constants.axis0))
    largest.append(tf.raw_ops.Max(input=flat, axis=constants.axis0))
    down, up = _scales(smallest[-1], largest[-1], constants)
    total, total_squares = _partial_sums(values, down, constants, chain)
    totals.append(total * up)
    squares.append(total_squares * up * up)
  totals, squares = tf.stack(totals), tf.stack(squares)

  finite = tf.math.is_finite(totals)
  check = tf.debugging.Assert(
      tf.reduce_all(finite),
      ['NaN or infinity in summary histogram for:', tf.boolean_mask(tf.constant(tags), ~finite)],
      summarize=len(tags))
  counts = _buckets_from_keys(tf.stack(counts), constants)
  # Keep a bucket if it is not empty, or if it ends a run of empty ones (or the list).
  filled = counts > 0
  keep = filled | tf.concat([filled[:, 1:], tf.ones_like(filled[:, :1])], axis=1)
  bucket_limits, buckets = _compact_rows(
      keep, tf.broadcast_to(constants.limits, tf.shape(counts)), counts)
  kept = tf.reduce_sum(tf.cast(keep, tf.int32), axis=1, keepdims=True)
  ones = tf.ones_like(kept)
  number = len(tensors)
  column = lambda value: tf.reshape(value, [number, 1])
  with tf.control_dependencies([check]):
    histograms = _encode('tensorflow.HistogramProto', [
        ('min', column(tf.cast(tf.stack(smallest), tf.float64))),
        ('max', column(tf.cast(tf.stack(largest), tf.float64))),
        ('num', tf.constant([[float(v.shape.num_elements())] for v in tensors], tf.float64)),
        ('sum', column(totals)), ('sum_squares', column(squares)),
        ('bucket_limit', bucket_limits), ('bucket', buckets)],
        tf.concat([ones, ones, ones, ones, ones, kept, kept], axis=1))
  values = _encode('tensorflow.Summary.Value',
                   [('tag', tf.constant([[tag] for tag in tags])),
                    ('histo', column(histograms))],
                   tf.ones([number, 2], tf.int32))
  return tf.reshape(_encode('tensorflow.Summary', [('value', values[tf.newaxis])],
                            [[number]]), [])


def histogram_summaries(tagged_tensors, fast_min_size=FAST_MIN_SIZE, name='summary'):
  """Serialized `Summary` tensors holding a histogram of each (tag, tensor), under that exact tag.

  Large float32 tensors share one Summary computed with parallel ops; the others get one
  HistogramSummary op each. Merge the list with tf.summary.merge.
  """
  fast_tags, fast_tensors, summaries = [], [], []
  for tag, values in tagged_tensors:
    values = tf.convert_to_tensor(values)
    if _uses_kernel(values, fast_min_size):
      summaries.append(tf.raw_ops.HistogramSummary(tag=tag, values=values, name=name))
    else:
      fast_tags.append(tag)
      fast_tensors.append(values)
  if fast_tensors:
    with tf.name_scope(name):
      summaries.append(_fast_summary(fast_tags, fast_tensors))
  return summaries


def histogram_summary(tag, values, fast_min_size=FAST_MIN_SIZE, name='summary'):
  """A serialized `Summary` holding the histogram of `values` under exactly `tag`."""
  summary, = histogram_summaries([(tag, values)], fast_min_size, name)
  return summary
