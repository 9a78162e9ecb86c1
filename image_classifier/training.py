"""Training a slim classifier: learning rate, optimizer, warm start, the graph, and the loop.

`train(opts)` takes any object with the attributes of train_image_classifier.py's flags (the FLAGS
object itself, or a namespace in Python code). It builds the graph (`build_graph`), the hooks
around each step (`make_hooks`) and runs the loop (`run_loop`).
"""
import collections
import os
import shutil
import signal
import time

import tensorflow.compat.v1 as tf
import tf_slim as slim

from datasets import dataset_factory
from deployment import model_deploy
from foundation import errors
from foundation import internals
from foundation.errors import Stopped
from foundation.errors import UserError
from image_classifier import checkpoints
from image_classifier import cluster
from image_classifier import inputs
from image_classifier import shared_flags
from image_classifier import summaries
from image_classifier import training_hooks
import quantize

_OPTIMIZERS = ('adadelta', 'adagrad', 'adam', 'ftrl', 'momentum', 'rmsprop', 'sgd')
_DECAY_TYPES = ('exponential', 'fixed', 'polynomial')


def configure_learning_rate(num_samples_per_epoch, global_step, opts):
  """The learning rate tensor for the flags' schedule (with optional linear warm-up)."""
  steps_per_epoch = num_samples_per_epoch / opts.batch_size
  if opts.sync_replicas:
    steps_per_epoch /= opts.replicas_to_aggregate
  decay_steps = max(1, int(steps_per_epoch * opts.num_epochs_per_decay))

  kind = opts.learning_rate_decay_type
  if kind == 'exponential':
    rate = tf.train.exponential_decay(opts.learning_rate, global_step, decay_steps,
                                      opts.learning_rate_decay_factor, staircase=True,
                                      name='exponential_decay_learning_rate')
  elif kind == 'fixed':
    rate = tf.constant(opts.learning_rate, name='fixed_learning_rate')
  elif kind == 'polynomial':
    rate = tf.train.polynomial_decay(opts.learning_rate, global_step, decay_steps,
                                     opts.end_learning_rate, power=1.0, cycle=False,
                                     name='polynomial_decay_learning_rate')
  else:
    raise UserError('learning_rate_decay_type [%s] was not recognized; use one of %s'
                    % (kind, ', '.join(_DECAY_TYPES)))
  if opts.warmup_epochs:
    warmup_steps = steps_per_epoch * opts.warmup_epochs
    warm = opts.learning_rate * tf.cast(global_step, tf.float32) / warmup_steps
    rate = tf.minimum(warm, rate, name='warmup_learning_rate')
  return rate


def configure_optimizer(learning_rate, opts):
  name = opts.optimizer
  if name == 'adadelta':
    return tf.train.AdadeltaOptimizer(learning_rate, rho=opts.adadelta_rho, epsilon=opts.opt_epsilon)
  if name == 'adagrad':
    return tf.train.AdagradOptimizer(
        learning_rate, initial_accumulator_value=opts.adagrad_initial_accumulator_value)
  if name == 'adam':
    return tf.train.AdamOptimizer(learning_rate, beta1=opts.adam_beta1, beta2=opts.adam_beta2,
                                  epsilon=opts.opt_epsilon)
  if name == 'ftrl':
    return tf.train.FtrlOptimizer(
        learning_rate, learning_rate_power=opts.ftrl_learning_rate_power,
        initial_accumulator_value=opts.ftrl_initial_accumulator_value,
        l1_regularization_strength=opts.ftrl_l1, l2_regularization_strength=opts.ftrl_l2)
  if name == 'momentum':
    return tf.train.MomentumOptimizer(learning_rate, momentum=opts.momentum, name='Momentum')
  if name == 'rmsprop':
    return tf.train.RMSPropOptimizer(learning_rate, decay=opts.rmsprop_decay,
                                     momentum=opts.rmsprop_momentum, epsilon=opts.opt_epsilon)
  if name == 'sgd':
    return tf.train.GradientDescentOptimizer(learning_rate)
  raise UserError('Optimizer [%s] was not recognized; use one of %s' % (name, ', '.join(_OPTIMIZERS)))


def variables_to_train(trainable_scopes):
  """All trainable variables, or those under the comma-separated scopes."""
  scopes = shared_flags.split_list(trainable_scopes)
  if not scopes:
    return tf.trainable_variables()
  chosen = []
  for scope in scopes:
    found = tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope)
    if not found:
      raise UserError('--trainable_scopes: no trainable variable under %r; scopes look like %s'
                      % (scope, ', '.join(sorted({v.op.name.split('/')[0] for v in
                                                  tf.trainable_variables()}))))
    chosen.extend(v for v in found if v not in chosen)
  return chosen


def warm_start_fn(opts, logits_scopes=()):
  """An init function restoring --checkpoint_path into the model (None when there is nothing to do).

  Checked before training starts: every variable the checkpoint lacks or shapes differently is named
  with the flag that fixes it.
  """
  if not opts.checkpoint_path:
    return None
  if tf.train.latest_checkpoint(opts.train_dir):
    tf.logging.info('Ignoring --checkpoint_path because a checkpoint already exists in %s',
                    opts.train_dir)
    return None
  checkpoint = checkpoints.resolve(opts.checkpoint_path)
  exclusions = shared_flags.split_list(opts.checkpoint_exclude_scopes)
  var_map = {v.op.name: v for v in slim.get_model_variables()
             if not any(v.op.name.startswith(e) for e in exclusions)}
  var_map = checkpoints.check_fits(checkpoint, var_map, opts.ignore_missing_vars, logits_scopes)
  tf.logging.info('Fine-tuning from %s (%d variables)', checkpoint, len(var_map))
  saver = tf.train.Saver(var_map, sharded=False)

  def init_fn(scaffold, session):
    del scaffold
    saver.restore(session, checkpoint)

  return init_fn


def check_train_dir(train_dir, min_free_bytes=50 << 20):
  """Fails at start (not after an hour) when train_dir cannot hold checkpoints."""
  try:
    tf.io.gfile.makedirs(train_dir)
    probe = os.path.join(train_dir, '.write_test')
    with tf.io.gfile.GFile(probe, 'w') as f:
      f.write('ok')
    tf.io.gfile.remove(probe)
  except (OSError, tf.errors.OpError) as e:
    raise UserError('--train_dir %s is not writable: %s' % (train_dir, e))
  if os.path.isdir(train_dir):
    free = shutil.disk_usage(train_dir).free
    if free < min_free_bytes:
      raise UserError('--train_dir %s has only %.1f MB free; checkpoints need more'
                      % (train_dir, free / 2 ** 20))


def _other_run(opts, asked, detail=''):
  recorded = training_hooks.recorded_flags(opts.train_dir).get('model_name')
  return UserError(
      '--train_dir %s holds a run of %s (its flags.json), not of --model_name=%s%s: give another '
      '--train_dir for a new run, or --model_name=%s to resume that one'
      % (opts.train_dir, recorded or 'another model', asked, detail, recorded or '...'))


def check_resumable(opts):
  """Before anything is built: a train_dir whose recorded run is of another model is refused."""
  if not tf.train.latest_checkpoint(opts.train_dir):
    return
  recorded = training_hooks.recorded_flags(opts.train_dir).get('model_name')
  if recorded and recorded != opts.model_name:
    raise _other_run(opts, opts.model_name)


def check_checkpoint_fits_graph(opts):
  """A checkpoint in train_dir (to be resumed) must hold every variable of the graph, shaped alike."""
  latest = tf.train.latest_checkpoint(opts.train_dir)
  if not latest:
    return
  var_map = {v.op.name: v for v in tf.global_variables()}
  try:
    checkpoints.check_fits(latest, var_map, fix_flag=None)
  except UserError as e:
    first = str(e).splitlines()
    raise _other_run(opts, opts.model_name, ' (%s)' % ' '.join(first[:2]).strip())


# The parts of the training graph that the hooks and the loop need.
TrainGraph = collections.namedtuple('TrainGraph', [
    'train_tensor', 'step_after', 'summary_op', 'init_fn', 'optimizer', 'dataset'])


def _clone_fn(opts, next_batch, network_fn, num_classes):
  """The function model_deploy calls once per clone: a batch, the network, its losses."""

  def clone_fn():
    images, labels = next_batch()
    images.set_shape([opts.batch_size] + images.shape.as_list()[1:])
    labels.set_shape([opts.batch_size])
    onehot = tf.one_hot(labels, num_classes)
    if opts.add_image_summaries and not tf.get_collection('input_images'):
      with tf.name_scope('summaries'):
        tf.add_to_collection('input_images', tf.raw_ops.ImageSummary(
            tag='input_images', tensor=summaries.to_uint8(images), max_images=3, name='summary'))
    logits, end_points = network_fn(images)
    if 'AuxLogits' in end_points:
      tf.losses.softmax_cross_entropy(onehot, end_points['AuxLogits'],
                                      label_smoothing=opts.label_smoothing, weights=0.4,
                                      scope='aux_loss')
    tf.losses.softmax_cross_entropy(onehot, logits, label_smoothing=opts.label_smoothing,
                                    weights=1.0)
    return end_points

  return clone_fn


def _optimizer(opts, config, num_samples, global_step):
  """(learning rate, optimizer, moving averages or None, averaged variables) from the flags."""
  averages, averaged = None, []
  if opts.moving_average_decay:
    with tf.device(config.variables_device()):
      averages = tf.train.ExponentialMovingAverage(opts.moving_average_decay, global_step)
      averaged = slim.get_model_variables()
  with tf.device(config.optimizer_device()):
    learning_rate = configure_learning_rate(num_samples, global_step, opts)
    optimizer = configure_optimizer(learning_rate, opts)
  if opts.sync_replicas:
    optimizer = tf.train.SyncReplicasOptimizer(
        optimizer, replicas_to_aggregate=opts.replicas_to_aggregate,
        total_num_replicas=opts.worker_replicas, variable_averages=averages,
        variables_to_average=averaged if averages else None)
  return learning_rate, optimizer, averages, averaged


def deployment_config(opts):
  with errors.as_user_error():
    return model_deploy.DeploymentConfig(
        num_clones=opts.num_clones, clone_on_cpu=opts.clone_on_cpu, replica_id=opts.task,
        num_replicas=opts.worker_replicas, num_ps_tasks=opts.num_ps_tasks)


def build_graph(opts):
  """The training graph of the flags in the default graph: clones, losses, the update, summaries."""
  config = deployment_config(opts)
  with tf.device(config.variables_device()):
    global_step = tf.train.get_or_create_global_step()
  dataset = dataset_factory.get_dataset(opts.dataset_name, opts.dataset_split_name,
                                        opts.dataset_dir)
  num_classes = dataset.num_classes - opts.labels_offset
  with tf.device(config.inputs_device()):
    spec, network_fn, next_batch = inputs.build_model_inputs(opts, dataset, is_training=True)
  clones = model_deploy.create_clones(config, _clone_fn(opts, next_batch, network_fn, num_classes))
  if opts.quantize_delay >= 0:
    # As the original: on the forward graph and losses of every clone, before the optimizer builds
    # the gradients (so they flow through the folded weights and the fake-quant ops).
    quantize.experimental_create_training_graph(quant_delay=opts.quantize_delay,
                                                fold_mode=opts.quantize_fold)
  first_scope = clones[0].scope
  update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS, first_scope)
  learning_rate, optimizer, averages, averaged = _optimizer(opts, config, dataset.num_samples,
                                                            global_step)
  if averages and not opts.sync_replicas:
    update_ops.append(averages.apply(averaged))

  total_loss, grads_and_vars = model_deploy.optimize_clones(
      clones, optimizer, var_list=variables_to_train(opts.trainable_scopes))
  if opts.clip_gradient_norm > 0:
    grads, tvars = zip(*grads_and_vars)
    grads, _ = tf.clip_by_global_norm(list(grads), opts.clip_gradient_norm)
    grads_and_vars = list(zip(grads, tvars))
  apply_op = optimizer.apply_gradients(grads_and_vars, global_step=global_step)
  with tf.control_dependencies([apply_op] + update_ops):
    train_tensor = tf.identity(total_loss, name='train_op')
  with tf.control_dependencies([train_tensor]):
    step_after = tf.identity(global_step.read_value(), name='step_after_update')

  summary_op = summaries.add_summaries(
      clones[0].outputs, first_scope, learning_rate, total_loss,
      averages=[(v, averages.average(v)) for v in averaged]
      if averages and not opts.sync_replicas else ())
  return TrainGraph(train_tensor, step_after, summary_op, warm_start_fn(opts, spec.logits_scopes),
                    optimizer, dataset)


def make_hooks(opts, graph, task):
  """(hooks, scaffold, guard, stop_hook) for the loop: what runs around each step."""
  is_chief = opts.task == 0
  stop_hook = training_hooks.StopOnSignal()
  guard = training_hooks.GuardAndLog(graph.train_tensor, graph.step_after, opts.log_every_n_steps,
                                     opts.batch_size * opts.num_clones, opts.train_dir)
  # The guard runs first: on a NaN loss it raises before any saver hook can write those weights.
  hooks = [guard, stop_hook]
  if opts.max_number_of_steps:
    hooks.append(tf.train.StopAtStepHook(last_step=opts.max_number_of_steps))
  if opts.sync_replicas:
    # Only the initial tokens the first update needs: like every other, it waits for
    # replicas_to_aggregate gradients (with the default tokens the first worker up trained
    # alone meanwhile).
    hooks.append(graph.optimizer.make_session_run_hook(
        is_chief, num_tokens=max(0, opts.replicas_to_aggregate - opts.worker_replicas)))
    if is_chief and opts.worker_replicas > 1:
      hooks.append(cluster.ReleaseWorkersHook(graph.optimizer, opts.worker_replicas))
  saver = training_hooks.SaverWithMetaGraph(max_to_keep=5, keep_checkpoint_every_n_hours=10000,
                                            sharded=False)
  scaffold = internals.training_scaffold(
      alone=task is None and not opts.sync_replicas, init_fn=graph.init_fn, saver=saver,
      summary_op=graph.summary_op)
  if is_chief:
    hooks += [
        training_hooks.WriteFlagsAtStart(opts),
        tf.train.SummarySaverHook(save_secs=opts.save_summaries_secs, output_dir=opts.train_dir,
                                  summary_op=graph.summary_op),
        # 'global_step/sec' at the summaries' cadence, as the original's Supervisor wrote it.
        tf.train.StepCounterHook(every_n_steps=None, every_n_secs=opts.save_summaries_secs,
                                 output_dir=opts.train_dir),
        # No graph.pbtxt: TensorBoard reads the graph from the events file, and import_meta_graph
        # users have the .meta beside each checkpoint.
        internals.checkpoint_saver_hook(
            opts.train_dir, scaffold=scaffold, save_graph_def=False,
            save_steps=opts.save_interval_steps or None,
            save_secs=None if opts.save_interval_steps else opts.save_interval_secs),
    ]
  if task is not None:
    hooks.append(cluster.CloseWatchdogHook())
  return hooks, scaffold, guard, stop_hook


def run_loop(opts, graph, hooks, scaffold, stop_hook):
  """Runs training steps until a hook stops the session; returns (steps, seconds)."""
  config = training_hooks.session_config(opts, cluster.session_config(opts))
  steps, start = 0, time.time()
  try:
    with tf.train.MonitoredTrainingSession(
        master=opts.master, is_chief=opts.task == 0, checkpoint_dir=opts.train_dir,
        scaffold=scaffold, hooks=hooks, save_checkpoint_secs=None, save_checkpoint_steps=None,
        save_summaries_steps=None, save_summaries_secs=None, log_step_count_steps=None,
        stop_grace_period_secs=cluster.STOP_GRACE_SECS, config=config) as session:
      start = time.time()
      while not session.should_stop():
        session.run(graph.train_tensor)
        steps += 1
  except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as e:
    # Raised out of the session: no checkpoint is written after the failure.
    if not inputs.is_input_failure(e):
      raise
    raise inputs.bad_record_error(graph.dataset, opts.dataset_name, opts.dataset_dir, e) from None
  finally:
    stop_hook.restore()
    cluster.session_closed()
  return steps, time.time() - start


def _check_options(opts):
  if not opts.dataset_dir:
    raise UserError('You must supply the dataset directory with --dataset_dir')
  check_train_dir(opts.train_dir)
  check_resumable(opts)


def train(opts):
  """Builds the training graph from the flags and runs it until max_number_of_steps or a signal."""
  task = cluster.start(opts)  # a ps task of a cluster serves here until stopped
  if task is not None and task.job_name == 'ps':
    return None
  _check_options(opts)
  tf.logging.set_verbosity(tf.logging.INFO)
  with tf.Graph().as_default():
    graph = build_graph(opts)
    check_checkpoint_fits_graph(opts)
    hooks, scaffold, guard, stop_hook = make_hooks(opts, graph, task)
    cluster.check_variables_on_ps(opts.num_ps_tasks)
    steps, elapsed = run_loop(opts, graph, hooks, scaffold, stop_hook)
  final = tf.train.latest_checkpoint(opts.train_dir)
  tf.logging.info('Finished: %d steps in %.1f s (%.1f images/sec); last loss %s; checkpoint %s%s',
                  steps, elapsed, steps * opts.batch_size * opts.num_clones / max(elapsed, 1e-9),
                  '%.4f' % guard.last_loss if guard.last_loss is not None else 'n/a', final,
                  ' (stopped by %s)' % stop_hook.requested if stop_hook.requested else '')
  if stop_hook.requested:
    raise Stopped('stopped by %s after saving checkpoint %s' % (stop_hook.requested, final),
                  signal.Signals[stop_hook.requested])
  return final
