"""Evaluating classifiers on a TFRecord split: Accuracy, Recall_5, per-class accuracy.

One loop serves both tools: `evaluate(opts)` (eval_image_classifier.py: a checkpoint, its graph
built from the flags) and `evaluate_models(models, ...)` (eval_exported_model.py: exported forms and
the checkpoint they came from, side by side). With the default `tf_data` input every example of
the split is seen exactly once (the last batch may be smaller).
"""
import os
import time

import numpy as np
import tensorflow.compat.v1 as tf
import tf_slim as slim
from tensorflow.core.protobuf import rewriter_config_pb2

from datasets import dataset_factory
from foundation import fileio
from foundation import internals
from foundation.errors import UserError
from image_classifier import checkpoints
from image_classifier import inputs
from image_classifier import model_info
from image_classifier import precision
from image_classifier import serving
import quantize
from quantize import fold_batch_norms

TOP_K = 5


class Tally(object):
  """Counts of one model's answers: per class seen and right at top-1, and top-k hits."""

  def __init__(self, num_classes):
    self.seen = np.zeros(num_classes, np.int64)
    self.correct = np.zeros(num_classes, np.int64)
    self.top_k_hits = 0

  def add(self, labels, predictions, in_top_k):
    np.add.at(self.seen, labels, 1)
    np.add.at(self.correct, labels[predictions == labels], 1)
    self.top_k_hits += int(np.sum(in_top_k))

  def add_scores(self, labels, scores):
    """From a batch of scores (logits or probabilities): the top-1 and top-k answers."""
    top = np.argsort(-scores, axis=1)[:, :TOP_K]
    self.add(labels, top[:, 0], np.any(top == labels[:, None], axis=1))

  @property
  def total(self):
    return int(self.seen.sum())

  def results(self):
    total = max(self.total, 1)
    return {'Accuracy': float(self.correct.sum()) / total,
            'Recall_5': float(self.top_k_hits) / total}


def tally_batches(batch_results, tallies, num_batches):
  """Adds every batch of `batch_results` (an iterable of {name: (labels, predictions or scores)})
  to `tallies` ({name: Tally}), logging progress about ten times; returns the seconds it took."""
  start = time.time()
  batches = 0
  for results in batch_results:
    for name, (labels, answers) in results.items():
      if isinstance(answers, tuple):
        tallies[name].add(labels, *answers)
      else:
        tallies[name].add_scores(labels, answers)
    batches += 1
    if num_batches and (batches % max(1, num_batches // 10) == 0 or batches == num_batches):
      seen = next(iter(tallies.values())).total
      tf.logging.info('Evaluation [%d/%d] %d images, %.1f images/sec', batches, num_batches, seen,
                      seen / max(time.time() - start, 1e-9))
  return time.time() - start


# ---------------------------------------------------------------------------------------------
# A checkpoint, with the graph built from the flags (eval_image_classifier.py).

def _restore_map(opts, global_step):
  if opts.moving_average_decay:
    averages = tf.train.ExponentialMovingAverage(opts.moving_average_decay, global_step)
    var_map = averages.variables_to_restore(slim.get_model_variables())
    var_map[global_step.op.name] = global_step
    return var_map
  return {v.op.name: v for v in slim.get_variables_to_restore()}


def _write_summaries(eval_dir, step, values):
  writer = tf.summary.FileWriterCache.get(eval_dir)
  summary = tf.Summary(value=[tf.Summary.Value(tag='eval/' + k, simple_value=v)
                              for k, v in values.items()])
  writer.add_summary(summary, step)
  writer.flush()


def _checkpoint_batches(session, fetches, num_batches, opts, dataset):
  batches = 0
  while not session.should_stop() and batches < num_batches:
    try:
      predictions, labels, hits = session.run(fetches)
    except tf.errors.OutOfRangeError:  # the split's one pass is over
      return
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as e:
      if not inputs.is_input_failure(e):
        raise
      raise inputs.bad_record_error(dataset, opts.dataset_name, opts.dataset_dir, e) from None
    batches += 1
    yield {'checkpoint': (labels, (predictions, hits))}


def _report(opts, dataset, checkpoint, step, tally, elapsed):
  """Prints and writes (TensorBoard summaries, per_class_accuracy.json) one evaluation's results."""
  results = tally.results()
  for name, value in results.items():
    print('eval/%s[%s]' % (name, value), flush=True)
  _write_summaries(opts.eval_dir, step, results)
  names = dataset.labels_to_names or {}
  per_class = {}
  for c in np.flatnonzero(tally.seen):
    name = names.get(int(c) + opts.labels_offset, str(c))
    per_class[name] = {'label': int(c), 'accuracy': float(tally.correct[c]) / tally.seen[c],
                       'count': int(tally.seen[c])}
  report = dict(results, checkpoint=checkpoint, global_step=int(step), num_examples=tally.total,
                images_per_sec=tally.total / max(elapsed, 1e-9), per_class=per_class)
  fileio.write_json_atomically(os.path.join(opts.eval_dir, 'per_class_accuracy.json'), report)
  print('Evaluated %s (step %d): %d images in %.1f s, Accuracy %.4f, Recall_5 %.4f'
        % (checkpoint, step, tally.total, elapsed, results['Accuracy'], results['Recall_5']),
        flush=True)
  return report


def model_fetches(opts, network_fn, images, labels, num_classes):
  """What each evaluation step fetches: [top-1 predictions, labels, top-k hits]."""
  fold = getattr(opts, 'fold_batch_norms', internals.SPEEDUPS)
  quantized = getattr(opts, 'quantize', False)
  # ShuffleNet V1's grouped convolutions as grouped Conv2Ds where this process runs them fused
  # (oneDNN on, CPU only): a third of the block-diagonal kernel's multiply-adds, and no kernel to
  # assemble from the variables at every batch (benchmarks/results/shufflenet.md).
  native = not quantized and model_info.native_grouped_convs_run_here()
  with model_info.grouped_conv_formulation(native):
    logits, _ = network_fn(images)
  if fold and not quantized:
    # Batch norms folded into the weights before them (within float round-off of the unfolded
    # graph): the depthwise convs then run fused with their bias and ReLU, and no batch-norm pass
    # is left (benchmarks/results/speed.md). Off with SLIM_TF_SPEEDUPS=0; --quantize folds itself.
    fold_batch_norms.fold_inference_batch_norms(tf.get_default_graph())
  logits = tf.reshape(logits, [tf.shape(logits)[0], -1])
  in_top_k = tf.nn.in_top_k(logits, tf.cast(labels, tf.int32), min(TOP_K, num_classes))
  return [tf.argmax(logits, 1), labels, in_top_k]


def session_config(opts):
  """The evaluation session's ConfigProto: the precision rewrite and, with the speed-ups, one
  round of Grappler. Its second round finds nothing more in slim's inference graphs
  (tests/test_speed.py compares the executed graphs) and cost about 0.1 s of the first batch
  (benchmarks/results/speed.md)."""
  config = precision.session_config(getattr(opts, 'mixed_precision', 'none'))
  if internals.SPEEDUPS:
    config.graph_options.rewrite_options.meta_optimizer_iterations = (
        rewriter_config_pb2.RewriterConfig.ONE)
  return config


def evaluate_checkpoint(opts, checkpoint):
  """Evaluates one checkpoint; returns a dict of results (also written to --eval_dir)."""
  with tf.Graph().as_default():
    global_step = tf.train.get_or_create_global_step()
    dataset = dataset_factory.get_dataset(opts.dataset_name, opts.dataset_split_name,
                                          opts.dataset_dir)
    _, network_fn, next_batch = inputs.build_model_inputs(opts, dataset, is_training=False,
                                                          num_epochs=1)
    images, labels = next_batch()
    num_classes = dataset.num_classes - opts.labels_offset
    fetches = model_fetches(opts, network_fn, images, labels, num_classes)
    var_map = _restore_map(opts, global_step)
    if opts.quantize:
      # After the fetches, so that they read the fake-quantised logits, as the exported models do.
      quantize.create_eval_graph()
      # The learned ranges (not model variables: no moving-average shadows) under their own names;
      # the training checkpoint's zero-debias and step-counter variables are not in this graph.
      restored = {v.op.name for v in var_map.values()}
      var_map.update({v.op.name: v for v in tf.global_variables() if v.op.name not in restored})

    var_map = checkpoints.check_fits(checkpoint, var_map, fix_flag=None)
    creator = tf.train.ChiefSessionCreator(
        scaffold=internals.restoring_scaffold(tf.train.Saver(var_map), var_map.values()),
        master=opts.master,
        checkpoint_filename_with_path=checkpoint,
        config=session_config(opts))
    num_batches = opts.max_num_batches or int(np.ceil(dataset.num_samples / opts.batch_size))
    tally = Tally(num_classes)
    with tf.train.MonitoredSession(session_creator=creator) as session:
      step = session.run(global_step)
      elapsed = tally_batches(_checkpoint_batches(session, fetches, num_batches, opts, dataset),
                              {'checkpoint': tally}, num_batches)
  if not tally.total:
    raise UserError('no examples were read from split %r in %s'
                    % (opts.dataset_split_name, opts.dataset_dir))
  return _report(opts, dataset, checkpoint, step, tally, elapsed)


def evaluate(opts):
  """Evaluates once, or (with --eval_interval_secs) every new checkpoint of a training folder."""
  if not opts.dataset_dir:
    raise UserError('You must supply the dataset directory with --dataset_dir')
  tf.logging.set_verbosity(tf.logging.INFO)
  # The data set is checked first: a missing split is named even before any checkpoint exists.
  dataset_factory.get_dataset(opts.dataset_name, opts.dataset_split_name, opts.dataset_dir)
  tf.io.gfile.makedirs(opts.eval_dir)
  # A folder is watched even before training has created it (bounded by --timeout).
  continuous = (opts.eval_interval_secs > 0
                and not tf.io.gfile.exists(opts.checkpoint_path + '.index'))
  if not continuous:
    return evaluate_checkpoint(opts, checkpoints.resolve(opts.checkpoint_path))
  report, count = None, 0
  for checkpoint in tf.train.checkpoints_iterator(opts.checkpoint_path,
                                                  min_interval_secs=opts.eval_interval_secs,
                                                  timeout=opts.timeout):
    try:
      report = evaluate_checkpoint(opts, checkpoint)
    except (tf.errors.NotFoundError, tf.errors.DataLossError) as e:
      # Training rotated this checkpoint away (or is still writing it): wait for the next one.
      tf.logging.warning('Skipping %s: %s', checkpoint, str(e).splitlines()[0])
      continue
    count += 1
    if opts.max_number_of_evaluations and count >= opts.max_number_of_evaluations:
      break
  if report is None:
    tf.logging.warning('No checkpoint appeared in %s within --timeout=%s s', opts.checkpoint_path,
                       opts.timeout)
  return report


# ---------------------------------------------------------------------------------------------
# Exported models side by side (eval_exported_model.py).

def _model_batches(session, next_batch, models, max_num_batches):
  batches = 0
  while not max_num_batches or batches < max_num_batches:
    try:
      encoded, images, labels = session.run(next_batch)
    except tf.errors.OutOfRangeError:
      return
    batches += 1
    results = {}
    for name, model in models.items():
      if isinstance(model, serving.SavedModel):  # its own decoding and preprocessing
        results[name] = (labels, model.classify(list(encoded))['logits'])
      else:
        results[name] = (labels, model.logits(images))
    yield results


def evaluate_models(models, dataset_name, dataset_dir, dataset_split_name='validation',
                    batch_size=32, max_num_batches=None, info=None):
  """Top-1 / top-5 accuracy of each model over the split; {name: {'accuracy', 'recall_5', 'n'}}.

  `models`: {display name: a loaded model of `serving`}. SavedModels receive the encoded photos
  (their own preprocessing runs); the other forms receive the images decoded and preprocessed as
  at evaluation.
  """
  info = info or next((m.info for m in models.values() if m.info), None)
  if info is None:
    raise UserError('cannot tell the model\'s image size and preprocessing: give --model_name '
                    '(the exported files carry no description)')
  dataset = dataset_factory.get_dataset(dataset_name, dataset_split_name, dataset_dir)
  expected = dataset.num_classes - info.labels_offset
  if info.num_classes != expected:
    raise UserError(
        'the model has %d classes but %s (%s) has %d%s: evaluate it on the data set it was '
        'trained on%s' % (info.num_classes, dataset_name, dataset_dir, dataset.num_classes,
                          ' less --labels_offset=%d' % info.labels_offset if info.labels_offset
                          else '', ', or give --labels_offset=%d' % (
                              dataset.num_classes - info.num_classes)
                          if dataset.num_classes - info.num_classes == 1 else ''))
  tallies = {name: Tally(info.num_classes) for name in models}
  with tf.Graph().as_default():
    next_batch = inputs.encoded_and_preprocessed(dataset, model_info.preprocess_fn(info),
                                                 batch_size, info.labels_offset)
    with tf.Session() as session:
      tally_batches(_model_batches(session, next_batch, models, max_num_batches), tallies,
                    max_num_batches)
  out = {}
  for name, tally in tallies.items():
    results = tally.results()
    out[name] = {'accuracy': results['Accuracy'], 'recall_5': results['Recall_5'],
                 'n': tally.total}
  return out
