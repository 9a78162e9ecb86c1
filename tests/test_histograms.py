"""image_classifier.histograms gives the histograms TensorFlow's HistogramSummary kernel gives.

Buckets, bucket limits, min, max and count must be identical; the sum and the sum of squares are
added in another order, so they agree to float rounding (relative to the sum of magnitudes). The
inputs include every float32 next to every bucket limit, where an off-by-one bucket would show.
"""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from tensorflow.core.framework import summary_pb2

from image_classifier import histograms

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
    'relu': np.maximum(RNG.randn(16, 40, 40, 48), 0).astype(np.float32),
    'around_every_limit': _around_every_limit(),
    'zeros': np.zeros([5], np.float32),
    'signed_zero_denormal_extreme': np.array([-0.0, 0.0, 1e-45, -1e-45, 1e-39, 3.4e38, -3.4e38],
                                             np.float32),
    'huge': (RNG.randn(110, 1000) * 1e18).astype(np.float32),  # scaled down before the squares
    'weights_2d': (RNG.randn(1024, 1001) * 0.01).astype(np.float32),
    'long_rows': RNG.randn(3, 5000).astype(np.float32),
    'all_negative': -np.abs(RNG.randn(7, 9, 3)).astype(np.float32) - 1,
}


def _values(serialized):
  return {value.tag: value.histo for value in summary_pb2.Summary.FromString(serialized).value}


def _assert_same(got, want, values):
  assert list(got.bucket_limit) == list(want.bucket_limit)
  assert list(got.bucket) == list(want.bucket)
  assert (got.min, got.max, got.num) == (want.min, want.max, want.num)
  # Rounding error scales with the sum of magnitudes (the values may cancel, as in
  # around_every_limit, where both sums are rounding noise around 0).
  magnitude = np.abs(values.astype(np.float64)).sum()
  assert abs(got.sum - want.sum) <= 1e-5 * magnitude
  assert got.sum_squares == pytest.approx(want.sum_squares, rel=1e-5, abs=1e-30)


@pytest.mark.parametrize('name', sorted(CASES))
def test_same_histogram_as_tensorflow_kernel(graph, name):
  values = tf.constant(CASES[name])
  ours = histograms.histogram_summary('activations/x', values, fast_min_size=0)
  assert ours.op.type != 'HistogramSummary'
  theirs = tf.raw_ops.HistogramSummary(tag='activations/x', values=values)
  with tf.Session() as session:
    ours, theirs = session.run([ours, theirs])
  got, want = _values(ours), _values(theirs)
  assert list(got) == list(want) == ['activations/x']
  _assert_same(got['activations/x'], want['activations/x'], CASES[name])


def test_many_tensors_in_one_summary_and_the_kernel_for_small_ones(graph):
  """Training's case: one call for every histogram; large ones share one fast Summary."""
  arrays = {name: CASES[name] for name in ('relu', 'normal', 'weights_2d', 'zeros', 'huge')}
  variables = {name: tf.Variable(array, name=name) for name, array in arrays.items()}
  summaries = histograms.histogram_summaries(
      [('activations/' + name, variable) for name, variable in variables.items()],
      fast_min_size=50000)
  kinds = sorted(summary.op.type for summary in summaries)
  assert kinds.count("HistogramSummary") == 2  # zeros and normal are under 50000 values
  assert len(kinds) == 3
  merged = tf.summary.merge(summaries)
  theirs = tf.summary.merge([tf.raw_ops.HistogramSummary(tag='activations/' + name, values=v)
                             for name, v in variables.items()])
  tables = [op for op in graph.get_operations() if op.name.startswith('histogram_buckets/')]
  with tf.Session() as session:
    session.run(tf.global_variables_initializer())
    got, want = (_values(s) for s in session.run([merged, theirs]))
  assert sorted(got) == sorted(want) == sorted('activations/' + name for name in arrays)
  for name, array in arrays.items():
    _assert_same(got['activations/' + name], want['activations/' + name], array)
  # Built once per graph, shared by every histogram.
  assert len(tables) == len(vars(histograms._Constants.of_graph()))


def test_kernel_for_other_dtypes_and_unknown_shapes(graph):
  half = histograms.histogram_summary('half', tf.constant(RNG.randn(50).astype(np.float16)),
                                      fast_min_size=0)
  unknown = histograms.histogram_summary('x', tf.placeholder(tf.float32, [None, 3]),
                                         fast_min_size=0)
  assert half.op.type == unknown.op.type == 'HistogramSummary'


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_nan_or_infinity_is_an_error_naming_the_tag(graph, bad):
  broken = np.ones([4, 5], np.float32)
  broken[2, 3] = bad
  summaries = histograms.histogram_summaries(
      [('activations/fine', tf.constant(np.ones([6, 5], np.float32))),
       ('activations/Mixed_5b', tf.constant(broken))], fast_min_size=0)
  with tf.Session() as session:
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
      session.run(summaries)
  assert 'activations/Mixed_5b' in str(error.value)
  assert 'activations/fine' not in str(error.value)


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


def test_hundreds_of_histograms_build_without_control_flow(graph):
  """A graph like inception_v3's (hundreds of histograms) gets no cond/function per histogram."""
  tensors = [('t%d' % i, tf.zeros([64, 64, 64])) for i in range(300)]
  before = len(graph.get_operations())
  histograms.histogram_summaries(tensors, fast_min_size=0)
  added = graph.get_operations()[before:]
  assert not graph._functions  # no tf.cond / tf.function branches
  assert len(added) < 40 * len(tensors)


def test_large_tensors_go_in_pieces_one_at_a_time(graph, monkeypatch):
  """Pieces (here of 65536 values) give the same histogram, and each piece waits for the last."""
  monkeypatch.setattr(histograms, '_CHUNK', 1 << 16)
  arrays = {'relu': CASES['relu'], 'odd': RNG.randn(7, 13, 1001).astype(np.float32)}
  tensors = {name: tf.constant(array) for name, array in arrays.items()}
  summary, = histograms.histogram_summaries(
      [(name, tensor) for name, tensor in tensors.items()], fast_min_size=0)
  theirs = tf.summary.merge([tf.raw_ops.HistogramSummary(tag=name, values=tensor)
                             for name, tensor in tensors.items()])
  bincounts = [op for op in graph.get_operations() if op.type == 'Bincount']
  assert len(bincounts) == 19 + 2  # 1,228,800 and 91,091 values
  chained = [op for op in graph.get_operations() if op.type == 'Bitcast' and op.control_inputs]
  assert len(chained) == len(bincounts) - 2  # the first piece of each tensor waits for none
  with tf.Session() as session:
    got, want = (_values(s) for s in session.run([summary, theirs]))
  for name, array in arrays.items():
    _assert_same(got[name], want[name], array)
