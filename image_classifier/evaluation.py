"""Evaluating a slim classifier checkpoint on a TFRecord split: Accuracy, Recall_5, per-class accuracy.

`evaluate(opts)` takes an object with eval_image_classifier.py's flags. With the default `tf_data`
input every example of the split is seen exactly once (the last batch may be smaller).
"""
import json
import os
import time

import numpy as np
import tensorflow.compat.v1 as tf
import tf_slim as slim

from datasets import dataset_factory
from image_classifier import checkpoints
from image_classifier import precision
from image_classifier import training
from foundation.errors import UserError


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


def evaluate_checkpoint(opts, checkpoint):
  """Evaluates one checkpoint; returns a dict of results (also written to --eval_dir)."""
  with tf.Graph().as_default():
    global_step = tf.train.get_or_create_global_step()
    dataset = dataset_factory.get_dataset(opts.dataset_name, opts.dataset_split_name,
                                          opts.dataset_dir)
    _, network_fn, next_batch = training.build_model_inputs(opts, dataset, is_training=False,
                                                            num_epochs=1)
    images, labels = next_batch()
    logits, _ = network_fn(images)
    logits = tf.reshape(logits, [tf.shape(logits)[0], -1])
    predictions = tf.argmax(logits, 1)
    k = min(5, dataset.num_classes - opts.labels_offset)
    in_top_k = tf.nn.in_top_k(logits, tf.cast(labels, tf.int32), k)

    var_map = checkpoints.check_fits(checkpoint, _restore_map(opts, global_step), fix_flag=None)
    saver = tf.train.Saver(var_map)
    scaffold = tf.train.Scaffold(saver=saver)
    creator = tf.train.ChiefSessionCreator(
        scaffold=scaffold, master=opts.master, checkpoint_filename_with_path=checkpoint,
        config=precision.session_config(getattr(opts, 'mixed_precision', 'none')))
    num_batches = opts.max_num_batches or int(np.ceil(dataset.num_samples / opts.batch_size))
    num_classes = dataset.num_classes - opts.labels_offset
    correct = np.zeros(num_classes, np.int64)
    seen = np.zeros(num_classes, np.int64)
    top_k_hits = 0
    start = time.time()
    batches = 0
    with tf.train.MonitoredSession(session_creator=creator) as session:
      step = session.run(global_step)
      while not session.should_stop() and batches < num_batches:
        pred, lab, hits = session.run([predictions, labels, in_top_k])
        np.add.at(seen, lab, 1)
        np.add.at(correct, lab[pred == lab], 1)
        top_k_hits += int(hits.sum())
        batches += 1
        if batches % max(1, num_batches // 10) == 0 or batches == num_batches:
          elapsed = time.time() - start
          tf.logging.info('Evaluation [%d/%d] %d images, %.1f images/sec', batches, num_batches,
                          seen.sum(), seen.sum() / max(elapsed, 1e-9))
  total = int(seen.sum())
  if not total:
    raise UserError('no examples were read from split %r in %s'
                    % (opts.dataset_split_name, opts.dataset_dir))
  results = {'Accuracy': float(correct.sum()) / total, 'Recall_5': float(top_k_hits) / total}
  elapsed = time.time() - start
  for name, value in results.items():
    print('eval/%s[%s]' % (name, value), flush=True)
  _write_summaries(opts.eval_dir, step, results)
  labels_to_names = dataset.labels_to_names or {}
  per_class = {}
  for c in range(num_classes):
    if seen[c]:
      name = labels_to_names.get(c + opts.labels_offset, str(c))
      per_class[name] = {'label': c, 'accuracy': float(correct[c]) / seen[c], 'count': int(seen[c])}
  report = dict(results, checkpoint=checkpoint, global_step=int(step), num_examples=total,
                images_per_sec=total / max(elapsed, 1e-9), per_class=per_class)
  path = os.path.join(opts.eval_dir, 'per_class_accuracy.json')
  with open(path + '.tmp', 'w') as f:
    json.dump(report, f, indent=1)
  os.replace(path + '.tmp', path)
  print('Evaluated %s (step %d): %d images in %.1f s, Accuracy %.4f, Recall_5 %.4f'
        % (checkpoint, step, total, elapsed, results['Accuracy'], results['Recall_5']), flush=True)
  return report


def evaluate(opts):
  """Evaluates once, or (with --eval_interval_secs) every new checkpoint of a training folder."""
  if not opts.dataset_dir:
    raise UserError('You must supply the dataset directory with --dataset_dir')
  if opts.quantize:
    raise UserError('--quantize used tf.contrib.quantize, which TensorFlow 2 no longer has; '
                    'evaluate a quantised TFLite export instead (export_model.py --format=tflite)')
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
