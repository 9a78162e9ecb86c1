"""slimlib.histograms gives the histogram TensorFlow's HistogramSummary kernel gives.

Buckets, bucket limits, min, max and count must be identical; the sum and the sum of squares are
added in another order, so they agree to float rounding (relative to the sum of magnitudes). The inputs include every float32 next to
every bucket limit, where an off-by-one bucket would show.
"""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from tensorflow.core.framework import summary_pb2

from slimlib import histograms

RNG = np.random.RandomState(7)


def _around_every_limit():
  limits = histograms._LIMITS
  with np.errstate(over='ignore'):
    nearest = limits.astype(np.float32)
  values = np.concatenate([nearest, np.nextafter(nearest, np.float32(-np.inf)),
                           np.nextafter(nearest, np.float32(np.inf))])
  return values[np.isfinite(values)]


CASES = {
    'normal': RNG.randn(3, 50, 40, 7).astype(np.float32),
    'relu_large': np.maximum(RNG.randn(16, 40, 40, 48), 0).astype(np.float32),  # > _SMALL
    'around_every_limit': _around_every_limit(),
    'zeros': np.zeros([5], np.float32),
    'signed_zero_denormal_extreme': np.array([-0.0, 0.0, 1e-45, -1e-45, 1e-39, 3.4e38, -3.4e38],
                                             np.float32),
    'huge_large': (RNG.randn(1100, 1000) * 1e18).astype(np.float32),  # float64 sums branch
    'empty': np.zeros([0, 3], np.float32),
    'scalar': np.float32(-2.5),
    'weights_2d': (RNG.randn(1024, 1001) * 0.01).astype(np.float32),
}


def _histo(serialized):
  summary = summary_pb2.Summary.FromString(serialized)
  assert len(summary.value) == 1
  return summary.value[0].tag, summary.value[0].histo


@pytest.mark.parametrize('name', sorted(CASES))
def test_same_histogram_as_tensorflow_kernel(graph, name):
  values = tf.constant(CASES[name])
  ours = histograms.histogram_summary('activations/x', values)
  theirs = tf.raw_ops.HistogramSummary(tag='activations/x', values=values)
  with tf.Session() as session:
    ours, theirs = session.run([ours, theirs])
  (tag, got), (want_tag, want) = _histo(ours), _histo(theirs)
  assert tag == want_tag == 'activations/x'
  assert list(got.bucket_limit) == list(want.bucket_limit)
  assert list(got.bucket) == list(want.bucket)
  assert (got.min, got.max, got.num) == (want.min, want.max, want.num)
  # Rounding error scales with the sum of magnitudes (the values may cancel, as in
  # around_every_limit, where both sums are rounding noise around 0).
  magnitude = np.abs(CASES[name].astype(np.float64)).sum()
  assert abs(got.sum - want.sum) <= 1e-6 * magnitude
  assert got.sum_squares == pytest.approx(want.sum_squares, rel=1e-6, abs=1e-30)


def test_unknown_shape_and_reuse_of_the_tables(graph):
  placeholder = tf.placeholder(tf.float32, shape=None)
  first = histograms.histogram_summary('a', placeholder)
  second = histograms.histogram_summary('b', placeholder * 2)
  tables = [op for op in graph.get_operations() if op.name.startswith('histogram_buckets/')]
  assert len(tables) == 3  # built once per graph, shared by every histogram
  theirs = tf.raw_ops.HistogramSummary(tag='b', values=placeholder * 2)
  feed = {placeholder: RNG.randn(4, 9, 9, 3).astype(np.float32)}
  with tf.Session() as session:
    _, got, want = session.run([first, second, theirs], feed)
  assert list(_histo(got)[1].bucket) == list(_histo(want)[1].bucket)


def test_other_dtypes_use_tensorflow_kernel(graph):
  values = tf.constant(RNG.randn(50).astype(np.float16))
  ours = histograms.histogram_summary('half', values)
  assert ours.op.type == 'HistogramSummary'


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_nan_or_infinity_is_an_error_naming_the_tag(graph, bad):
  values = tf.constant(np.array([1.0, bad, 2.0], np.float32))
  summary = histograms.histogram_summary('activations/Mixed_5b', values)
  with tf.Session() as session:
    with pytest.raises(tf.errors.InvalidArgumentError, match='activations/Mixed_5b'):
      session.run(summary)


def test_each_prefix_range_holds_at_most_one_limit():
  """The property the table relies on, checked over all 8192 ranges."""
  limits = histograms._LIMITS
  shift = histograms._PREFIX_SHIFT
  prefixes = np.arange(1 << (32 - shift), dtype=np.uint32)
  low = prefixes << np.uint32(shift)
  high = low | np.uint32((1 << shift) - 1)
  with np.errstate(invalid='ignore'):
    ends = np.stack([low.view(np.float32), high.view(np.float32)]).astype(np.float64)
    finite = np.isfinite(ends).all(axis=0)
    buckets = np.searchsorted(limits, ends[:, finite], side='right')
  assert finite.sum() > 8000
  assert np.abs(buckets[1] - buckets[0]).max() <= 1


def test_merges_with_other_summaries(graph):
  values = tf.constant(RNG.randn(10).astype(np.float32))
  merged = tf.summary.merge([histograms.histogram_summary('h', values),
                             tf.raw_ops.ScalarSummary(tags='s', values=tf.constant(1.0))])
  with tf.Session() as session:
    summary = summary_pb2.Summary.FromString(session.run(merged))
  assert [value.tag for value in summary.value] == ['h', 's']
  assert summary.value[0].histo.num == 10
