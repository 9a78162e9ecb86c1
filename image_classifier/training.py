"""Training a slim classifier: learning rate, optimizer, warm start, summaries, and the loop.

`train(opts)` takes any object with the attributes of train_image_classifier.py's flags (the FLAGS
object itself, or a namespace in Python code).
"""
import json
import math
import os
import shutil
import signal
import time

import tensorflow.compat.v1 as tf
import tf_slim as slim

from datasets import dataset_factory
from deployment import model_deploy
from nets import nets_factory
from preprocessing import preprocessing_factory
from image_classifier import checkpoints
from image_classifier import cluster
from image_classifier import histograms
from image_classifier import inputs
from image_classifier import precision
from foundation.errors import UserError

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


def split_scopes(text):
  return [s.strip() for s in (text or '').split(',') if s.strip()]


def variables_to_train(trainable_scopes):
  """All trainable variables, or those under the comma-separated scopes."""
  scopes = split_scopes(trainable_scopes)
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
  exclusions = split_scopes(opts.checkpoint_exclude_scopes)
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


def _write_flags(opts, train_dir):
  try:
    values = opts.flag_values_dict()
  except AttributeError:
    values = dict(vars(opts))
  path = os.path.join(train_dir, 'flags.json')
  with open(path + '.tmp', 'w') as f:
    json.dump({k: v for k, v in sorted(values.items())
               if isinstance(v, (str, int, float, bool, type(None)))}, f, indent=1)
  os.replace(path + '.tmp', path)


def _scalar(tag, tensor):
  """A scalar summary whose tag is exactly `tag` (tf.summary.scalar would uniquify it against op
  names, turning `total_loss` into `total_loss_1`)."""
  return tf.raw_ops.ScalarSummary(tags=tag, values=tensor, name='summary')


def _to_uint8(images):
  """Preprocessed images (any range) stretched to 0..255 per image, for TensorBoard."""
  low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
  high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
  return tf.cast(255 * (images - low) / tf.maximum(high - low, 1e-6), tf.uint8)


def _add_summaries(end_points, clone_scope, learning_rate, total_loss, averages=(),
                   histogram_min_size=histograms.FAST_MIN_SIZE):
  """The original script's summaries; histograms of tensors with at least `histogram_min_size`
  values come from image_classifier.histograms' parallel ops (inf: TensorFlow's kernel for all)."""
  summaries = set(tf.get_collection(tf.GraphKeys.SUMMARIES))
  summaries.update(tf.get_collection('input_images'))
  histogram_inputs = []
  with tf.name_scope('summaries'):
    for name, tensor in end_points.items():
      histogram_inputs.append(('activations/' + name, tensor))
      summaries.add(_scalar('sparsity/' + name, tf.nn.zero_fraction(tensor)))
    for loss in tf.get_collection(tf.GraphKeys.LOSSES, clone_scope):
      summaries.add(_scalar('losses/%s' % loss.op.name, loss))
    for variable in slim.get_model_variables():
      histogram_inputs.append((variable.op.name, variable))
    for variable, average in averages:
      if average is not None:
        histogram_inputs.append(('moving_average/' + variable.op.name, average))
    summaries.update(histograms.histogram_summaries(histogram_inputs, histogram_min_size))
    summaries.add(_scalar('learning_rate', learning_rate))
    summaries.add(_scalar('total_loss', total_loss))
  return tf.summary.merge(list(summaries), name='summary_op')


class _StopOnSignal(tf.train.SessionRunHook):
  """SIGINT/SIGTERM end the loop after the current step, so the final checkpoint gets written."""

  def __init__(self):
    self.requested = None
    self._previous = {}

  def begin(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread: signals stay as they were
        pass

  def _handle(self, signum, frame):
    if self.requested is not None:  # second signal: stop now
      raise KeyboardInterrupt
    self.requested = signal.Signals(signum).name
    tf.logging.warning('%s received: saving a checkpoint and stopping after this step',
                       self.requested)

  def after_run(self, run_context, run_values):
    if self.requested:
      run_context.request_stop()

  def restore(self):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}


class _GuardAndLog(tf.train.SessionRunHook):
  """Stops on a NaN/Inf loss before anything is saved, and logs step, loss, speed."""

  def __init__(self, loss, global_step, every_n, images_per_step, train_dir):
    self._loss, self._step = loss, global_step
    self._every_n, self._images = max(1, every_n), images_per_step
    self._train_dir = train_dir
    self._last_time = None
    self._steps_since = 0
    self.last_loss = None

  def before_run(self, run_context):
    if self._last_time is None:
      self._last_time = time.time()
    return tf.train.SessionRunArgs([self._loss, self._step])

  def after_run(self, run_context, run_values):
    loss, step = run_values.results
    if not math.isfinite(loss):
      last = tf.train.latest_checkpoint(self._train_dir)
      raise UserError(
          'loss is %s at global step %d; stopped without saving these weights. Last good '
          'checkpoint: %s. Try a lower --learning_rate or --clip_gradient_norm.'
          % (loss, step, last or 'none yet'))
    self.last_loss = loss
    self._steps_since += 1
    if step % self._every_n == 0:
      now = time.time()
      per_step = (now - self._last_time) / self._steps_since
      tf.logging.info('global step %d: loss = %.4f (%.3f sec/step, %.1f images/sec)',
                      step, loss, per_step, self._images / max(per_step, 1e-9))
      self._last_time, self._steps_since = now, 0


def _network_and_preprocessing(opts, num_classes, is_training):
  spec = nets_factory.network_spec(opts.model_name)
  network_fn = nets_factory.get_network_fn(
      opts.model_name, num_classes=num_classes,
      weight_decay=opts.weight_decay if is_training else 0.0, is_training=is_training)
  preprocessing_name = opts.preprocessing_name or spec.preprocessing or opts.model_name
  preprocess = preprocessing_factory.get_preprocessing(
      preprocessing_name, is_training=is_training, use_grayscale=opts.use_grayscale)
  return spec, network_fn, preprocess


def build_model_inputs(opts, dataset, is_training, num_epochs=None):
  """(spec, network_fn, next_batch) for the flags' model, preprocessing and data set."""
  spec, network_fn, preprocess = _network_and_preprocessing(
      opts, dataset.num_classes - opts.labels_offset, is_training)
  image_size = (opts.train_image_size if is_training else opts.eval_image_size) \
      or network_fn.default_image_size
  next_batch = inputs.batches(
      dataset, preprocess, image_size, opts.batch_size, is_training=is_training,
      labels_offset=opts.labels_offset, pipeline=opts.input_pipeline,
      num_readers=getattr(opts, 'num_readers', 4), num_threads=opts.num_preprocessing_threads,
      num_epochs=num_epochs)
  return spec, network_fn, next_batch


# Grappler optimisers that changed nothing in the executed CPU training graphs of slim's nets.
CPU_IDLE_OPTIMIZERS = ('layout_optimizer', 'function_optimization', 'loop_optimization',
                       'implementation_selector', 'common_subgraph_elimination')


def _training_session_config(opts, config):
  """The training session's ConfigProto: the precision rewrite, and one round of Grappler.

  Grappler optimises the graph again for every distinct fetch (initialisation, saving, the step),
  which cost seconds of start-up on a CPU. Turning it off saved 5 s of inception_v3's first step
  but made inception_v1's steps about 5% slower, so it stays on with one round of its optimisers
  instead of the default two (the second found nothing more on slim's training graphs). On a
  CPU-only machine the optimisers that leave slim's CPU training graphs exactly as they were are
  off too (skip_idle_cpu_optimizers; tests/test_speed.py compares the executed graphs): the layout
  and memory optimisers convert layouts and swap or recompute tensors for GPUs; the MLIR (tfg) pass,
  function inlining, loop and implementation selection and common-subgraph elimination found
  nothing that the others did not. Together they took about 1 s on inception_v3's step graph,
  plus their share on each initialisation graph (TF_CPP_VMODULE=meta_optimizer=1).
  """
  from tensorflow.core.protobuf import rewriter_config_pb2  # pylint: disable=g-import-not-at-top
  config = precision.session_config(getattr(opts, 'mixed_precision', 'none'), config)
  rewrite = config.graph_options.rewrite_options
  rewrite.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
  if not tf.config.list_physical_devices('GPU'):
    skip_idle_cpu_optimizers(rewrite)
  return config


def skip_idle_cpu_optimizers(rewrite):
  """Turns off, in a RewriterConfig, the Grappler passes that change nothing on CPU."""
  from tensorflow.core.protobuf import rewriter_config_pb2  # pylint: disable=g-import-not-at-top
  rewrite.disable_tfg_optimizer = True
  for name in CPU_IDLE_OPTIMIZERS:
    setattr(rewrite, name, rewriter_config_pb2.RewriterConfig.OFF)
  rewrite.memory_optimization = rewriter_config_pb2.RewriterConfig.NO_MEM_OPT


class _CheckpointSaverHook(tf.train.CheckpointSaverHook):
  """Saves every save_secs/save_steps and at the end, but not when the session is created.

  TensorFlow's hook also saved a checkpoint (and serialised the whole graph three more times for
  the events file) before the first step: on inception_v3 that was 3 s of start-up for a copy of
  the initial or warm-started weights, which the original's Supervisor never wrote. The graph still
  goes to the events file once, for TensorBoard.
  """

  def after_create_session(self, session, coord):
    del coord
    step = session.run(self._global_step_tensor)
    self._summary_writer.add_graph(tf.get_default_graph())
    self._timer.update_last_triggered_step(step)


class _SaverWithMetaGraph(tf.train.Saver):
  """Writes the `.meta` beside every checkpoint, as the original's Supervisor did, even when the
  checkpoint hook is told not to write the graph (which also skips the slow graph.pbtxt)."""

  def save(self, sess, save_path, global_step=None, latest_filename=None, meta_graph_suffix='meta',
           write_meta_graph=True, write_state=True, strip_default_attrs=False,
           save_debug_info=False):
    del write_meta_graph
    return super(_SaverWithMetaGraph, self).save(
        sess, save_path, global_step=global_step, latest_filename=latest_filename,
        meta_graph_suffix=meta_graph_suffix, write_meta_graph=True, write_state=write_state,
        strip_default_attrs=strip_default_attrs, save_debug_info=save_debug_info)


class _ScaffoldWithoutReadyChecks(tf.train.Scaffold):
  """For one process training alone: no readiness checks after initialisation.

  The default checks are two report_uninitialized_variables graphs (a few thousand ops to build)
  run before and after local init, each a separate graph for Grappler and the executor: 1.25 s
  of runs for an Inception V3, plus the build. Alone, they cannot fail: the init op initialises
  every global variable, a restore fails itself on a variable missing from the checkpoint, and
  local_init_op still runs. Workers of a cluster keep them (that is how they wait for the chief).
  """

  def __init__(self, **kwargs):
    # Something not None, so that finalize() does not build the default checks.
    unused = tf.constant([], tf.string, name='no_ready_check')
    super(_ScaffoldWithoutReadyChecks, self).__init__(
        ready_op=unused, ready_for_local_init_op=unused, **kwargs)

  @property
  def ready_op(self):
    return None

  @property
  def ready_for_local_init_op(self):
    return None


def train(opts):
  """Builds the training graph from the flags and runs it until max_number_of_steps or a signal."""
  task = cluster.start(opts)  # a ps task of a cluster serves here until stopped
  if task is not None and task.job_name == 'ps':
    return None
  if not opts.dataset_dir:
    raise UserError('You must supply the dataset directory with --dataset_dir')
  if opts.quantize_delay >= 0:
    raise UserError(
        '--quantize_delay used tf.contrib.quantize, which TensorFlow 2 no longer has. Train in '
        'float and quantise at export: export_model.py --format=tflite --tflite_quantization=int8')
  check_train_dir(opts.train_dir)
  tf.logging.set_verbosity(tf.logging.INFO)

  with tf.Graph().as_default():
    config = model_deploy.DeploymentConfig(
        num_clones=opts.num_clones, clone_on_cpu=opts.clone_on_cpu, replica_id=opts.task,
        num_replicas=opts.worker_replicas, num_ps_tasks=opts.num_ps_tasks)
    with tf.device(config.variables_device()):
      global_step = tf.train.get_or_create_global_step()

    dataset = dataset_factory.get_dataset(opts.dataset_name, opts.dataset_split_name,
                                          opts.dataset_dir)
    num_classes = dataset.num_classes - opts.labels_offset
    with tf.device(config.inputs_device()):
      spec, network_fn, next_batch = build_model_inputs(opts, dataset, is_training=True)

    def clone_fn():
      images, labels = next_batch()
      images.set_shape([opts.batch_size] + images.shape.as_list()[1:])
      labels.set_shape([opts.batch_size])
      onehot = tf.one_hot(labels, num_classes)
      if opts.add_image_summaries and not tf.get_collection('input_images'):
        with tf.name_scope('summaries'):
          tf.add_to_collection('input_images', tf.raw_ops.ImageSummary(
              tag='input_images', tensor=_to_uint8(images), max_images=3, name='summary'))
      logits, end_points = network_fn(images)
      if 'AuxLogits' in end_points:
        tf.losses.softmax_cross_entropy(onehot, end_points['AuxLogits'],
                                        label_smoothing=opts.label_smoothing, weights=0.4,
                                        scope='aux_loss')
      tf.losses.softmax_cross_entropy(onehot, logits, label_smoothing=opts.label_smoothing,
                                      weights=1.0)
      return end_points

    clones = model_deploy.create_clones(config, clone_fn)
    first_scope = clones[0].scope
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS, first_scope)

    variable_averages = None
    if opts.moving_average_decay:
      with tf.device(config.variables_device()):
        variable_averages = tf.train.ExponentialMovingAverage(opts.moving_average_decay, global_step)
        averaged = slim.get_model_variables()
    with tf.device(config.optimizer_device()):
      learning_rate = configure_learning_rate(dataset.num_samples, global_step, opts)
      optimizer = configure_optimizer(learning_rate, opts)
    if opts.sync_replicas:
      optimizer = tf.train.SyncReplicasOptimizer(
          optimizer, replicas_to_aggregate=opts.replicas_to_aggregate,
          total_num_replicas=opts.worker_replicas,
          variable_averages=variable_averages,
          variables_to_average=averaged if variable_averages else None)
    elif variable_averages:
      update_ops.append(variable_averages.apply(averaged))

    train_vars = variables_to_train(opts.trainable_scopes)
    total_loss, grads_and_vars = model_deploy.optimize_clones(clones, optimizer, var_list=train_vars)
    if opts.clip_gradient_norm > 0:
      grads, tvars = zip(*grads_and_vars)
      grads, _ = tf.clip_by_global_norm(list(grads), opts.clip_gradient_norm)
      grads_and_vars = list(zip(grads, tvars))
    apply_op = optimizer.apply_gradients(grads_and_vars, global_step=global_step)
    with tf.control_dependencies([apply_op] + update_ops):
      train_tensor = tf.identity(total_loss, name='train_op')
    with tf.control_dependencies([train_tensor]):
      step_after = tf.identity(global_step.read_value(), name='step_after_update')

    summary_op = _add_summaries(clones[0].outputs, first_scope, learning_rate, total_loss,
                                averages=[(v, variable_averages.average(v)) for v in averaged]
                                if variable_averages and not opts.sync_replicas else ())
    init_fn = warm_start_fn(opts, spec.logits_scopes)

    is_chief = opts.task == 0
    if is_chief:
      _write_flags(opts, opts.train_dir)
    stop_hook = _StopOnSignal()
    guard = _GuardAndLog(train_tensor, step_after, opts.log_every_n_steps,
                         opts.batch_size * opts.num_clones, opts.train_dir)
    # The guard runs first: on a NaN loss it raises before any saver hook can write those weights.
    hooks = [guard, stop_hook]
    if opts.max_number_of_steps:
      hooks.append(tf.train.StopAtStepHook(last_step=opts.max_number_of_steps))
    if opts.sync_replicas:
      # Only the initial tokens the first update needs: like every other, it waits for
      # replicas_to_aggregate gradients (with the default tokens the first worker up trained
      # alone meanwhile).
      hooks.append(optimizer.make_session_run_hook(
          is_chief, num_tokens=max(0, opts.replicas_to_aggregate - opts.worker_replicas)))
      if is_chief and opts.worker_replicas > 1:
        hooks.append(cluster.ReleaseWorkersHook(optimizer, opts.worker_replicas))
    saver = _SaverWithMetaGraph(max_to_keep=5, keep_checkpoint_every_n_hours=10000, sharded=False)
    alone = task is None and not opts.sync_replicas
    scaffold = (_ScaffoldWithoutReadyChecks if alone else tf.train.Scaffold)(
        init_fn=init_fn, saver=saver, summary_op=summary_op)
    if is_chief:
      hooks += [
        tf.train.SummarySaverHook(save_secs=opts.save_summaries_secs, output_dir=opts.train_dir,
                                  summary_op=summary_op),
        # No graph.pbtxt: the text dump of a large training graph took seconds of start-up;
        # TensorBoard's graph comes from the events file, import_meta_graph users keep their .meta.
        _CheckpointSaverHook(
            opts.train_dir, scaffold=scaffold, save_graph_def=False,
            save_steps=opts.save_interval_steps or None,
            save_secs=None if opts.save_interval_steps else opts.save_interval_secs),
      ]
    cluster.check_variables_on_ps(opts.num_ps_tasks)
    if task is not None:
      hooks.append(cluster.CloseWatchdogHook())
    session_config = cluster.session_config(opts)
    try:
      with tf.train.MonitoredTrainingSession(
          master=opts.master, is_chief=is_chief, checkpoint_dir=opts.train_dir, scaffold=scaffold,
          hooks=hooks, save_checkpoint_secs=None, save_checkpoint_steps=None,
          save_summaries_steps=None, save_summaries_secs=None, log_step_count_steps=None,
          stop_grace_period_secs=cluster.STOP_GRACE_SECS,
          config=_training_session_config(opts, session_config)) as session:
        steps, start = 0, time.time()
        while not session.should_stop():
          session.run(train_tensor)
          steps += 1
    finally:
      stop_hook.restore()
      cluster.session_closed()
    elapsed = time.time() - start
    final = tf.train.latest_checkpoint(opts.train_dir)
    tf.logging.info('Finished: %d steps in %.1f s (%.1f images/sec); last loss %s; checkpoint %s%s',
                    steps, elapsed, steps * opts.batch_size * opts.num_clones / max(elapsed, 1e-9),
                    '%.4f' % guard.last_loss if guard.last_loss is not None else 'n/a', final,
                    ' (stopped by %s)' % stop_hook.requested if stop_hook.requested else '')
    return final
