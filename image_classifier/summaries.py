"""The TensorBoard summaries of a training run, as the original script wrote them."""
import tensorflow.compat.v1 as tf
import tf_slim as slim

from image_classifier import histograms


def scalar(tag, tensor):
  """A scalar summary whose tag is exactly `tag` (tf.summary.scalar would uniquify it against op
  names, turning `total_loss` into `total_loss_1`)."""
  return tf.raw_ops.ScalarSummary(tags=tag, values=tensor, name='summary')


def to_uint8(images):
  """Preprocessed images (any range) stretched to 0..255 per image, for TensorBoard."""
  low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
  high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
  return tf.cast(255 * (images - low) / tf.maximum(high - low, 1e-6), tf.uint8)


def add_summaries(end_points, clone_scope, learning_rate, total_loss, averages=(),
                   histogram_min_size=histograms.FAST_MIN_SIZE):
  """The original script's summaries; histograms of tensors with at least `histogram_min_size`
  values come from image_classifier.histograms' parallel ops (inf: TensorFlow's kernel for all)."""
  summaries = set(tf.get_collection(tf.GraphKeys.SUMMARIES))
  summaries.update(tf.get_collection('input_images'))
  histogram_inputs = []
  with tf.name_scope('summaries'):
    for name, tensor in end_points.items():
      histogram_inputs.append(('activations/' + name, tensor))
      summaries.add(scalar('sparsity/' + name, tf.nn.zero_fraction(tensor)))
    for loss in tf.get_collection(tf.GraphKeys.LOSSES, clone_scope):
      summaries.add(scalar('losses/%s' % loss.op.name, loss))
    for variable in slim.get_model_variables():
      histogram_inputs.append((variable.op.name, variable))
    for variable, average in averages:
      if average is not None:
        histogram_inputs.append(('moving_average/' + variable.op.name, average))
    summaries.update(histograms.histogram_summaries(histogram_inputs, histogram_min_size))
    summaries.add(scalar('learning_rate', learning_rate))
    summaries.add(scalar('total_loss', total_loss))
  return tf.summary.merge(list(summaries), name='summary_op')
