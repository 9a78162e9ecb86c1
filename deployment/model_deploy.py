"""Deploys a slim model on several clones (GPUs or CPU copies), replicas and parameter servers.

A *clone* is one copy of the model computing on its own share of the batch; all clones of a
replica share one set of variables. A *replica* is one worker machine; with `num_ps_tasks > 0`
the variables live on parameter-server tasks, assigned round-robin.

Typical use:

  config = model_deploy.DeploymentConfig(num_clones=2)
  with tf.device(config.variables_device()):
    global_step = slim.get_or_create_global_step()
  with tf.device(config.inputs_device()):
    images, labels = ...            # input pipeline
  with tf.device(config.optimizer_device()):
    optimizer = tf.train.MomentumOptimizer(learning_rate, 0.9)
  # model_fn builds the model and adds its losses with tf.losses.* (the LOSSES collection).
  model = model_deploy.deploy(config, model_fn, optimizer=optimizer)
  slim.learning.train(model.train_op, logdir, summary_op=model.summary_op)

Losses: each clone's losses (those in its name scope) are divided by the number of clones, so the
summed gradients are those of the mean loss over the whole batch; the regularisation losses are
added once, to the first clone. The batch-norm update ops of the first clone are run with the train
op (every clone sees a sample of the same distribution, so one set of updates suffices).
"""
import collections

import tensorflow.compat.v1 as tf
import tf_slim as slim


__all__ = ['create_clones',
           'deploy',
           'optimize_clones',
           'DeployedModel',
           'DeploymentConfig',
           'DeploymentConfigError',
           'Clone',
          ]


class DeploymentConfigError(ValueError):
  """An impossible combination of deployment settings (a ValueError, as in the original)."""


# outputs: whatever model_fn returned for this clone; scope: its name scope ('' or 'clone_<i>/');
# device: the device string its ops were placed on.
Clone = collections.namedtuple('Clone', ['outputs', 'scope', 'device'])

# train_op: runs one optimisation step (updates included) and returns the total loss;
# summary_op: merged summaries (None if there are none); total_loss: sum over clones;
# clones: the list of Clone.
DeployedModel = collections.namedtuple(
    'DeployedModel', ['train_op', 'summary_op', 'total_loss', 'clones'])

# Default arguments of DeploymentConfig, for callers that build one from a dict.
_deployment_params = {'num_clones': 1,
                      'clone_on_cpu': False,
                      'replica_id': 0,
                      'num_replicas': 1,
                      'num_ps_tasks': 0,
                      'worker_job_name': 'worker',
                      'ps_job_name': 'ps'}

# Op types that hold variable state and must go to a parameter server. The original only matched
# 'Variable*' (reference variables); graphs built on TF 2 create resource variables ('VarHandleOp'),
# which would otherwise stay on the worker.
_VARIABLE_OP_PREFIXES = ('Variable', 'VarHandleOp', 'AutoReloadVariable')


def create_clones(config, model_fn, args=None, kwargs=None):
  """Builds `config.num_clones` copies of the model, each in its own name scope and device.

  Variables created by `slim.variable` / `slim.model_variable` (hence every slim layer) are placed
  on `config.variables_device()`; the first clone creates them and the others reuse them.
  `model_fn` should add its losses to the LOSSES collection (tf.losses.*), which
  `optimize_clones` reads per clone.

  Args:
    config: a DeploymentConfig.
    model_fn: called as `model_fn(*args, **kwargs)` once per clone.
    args: optional list of positional arguments of model_fn.
    kwargs: optional dict of keyword arguments of model_fn.

  Returns:
    list of Clone, one per clone.
  """
  clones = []
  args = args or []
  kwargs = kwargs or {}
  with slim.arg_scope([slim.model_variable, slim.variable], device=config.variables_device()):
    for i in range(config.num_clones):
      with tf.name_scope(config.clone_scope(i)) as clone_scope:
        clone_device = config.clone_device(i)
        with tf.device(clone_device):
          with tf.variable_scope(tf.get_variable_scope(), reuse=True if i > 0 else None):
            outputs = model_fn(*args, **kwargs)
          clones.append(Clone(outputs, clone_scope, clone_device))
  return clones


def _gather_clone_loss(clone, num_clones, regularization_losses):
  """The loss of one clone: its LOSSES (scaled by 1 / num_clones) plus `regularization_losses`.

  Args:
    clone: a Clone.
    num_clones: number of clones deployed.
    regularization_losses: list of regularisation losses to add (empty for all clones but one).

  Returns:
    scalar tensor, or None if the clone has no loss at all.
  """
  sum_loss = None
  clone_loss = None
  regularization_loss = None
  with tf.device(clone.device):
    all_losses = []
    clone_losses = tf.get_collection(tf.GraphKeys.LOSSES, clone.scope)
    if clone_losses:
      clone_loss = tf.add_n(clone_losses, name='clone_loss')
      if num_clones > 1:
        clone_loss = tf.div(clone_loss, 1.0 * num_clones, name='scaled_clone_loss')
      all_losses.append(clone_loss)
    if regularization_losses:
      regularization_loss = tf.add_n(regularization_losses, name='regularization_loss')
      all_losses.append(regularization_loss)
    if all_losses:
      sum_loss = tf.add_n(all_losses)
  # Summaries are created outside the clone's device so that they stay on the CPU, in the clone's
  # name scope (absolute, so that deploy() finds the first clone's in SUMMARIES by scope). Tags as
  # the original built them: 'Losses/clone_loss' with one clone, 'Losses/clone_0/clone_loss'...
  # with several (the clone scope without its trailing '/').
  with tf.name_scope(clone.scope), tf.name_scope('Losses'):
    if clone_loss is not None:
      _scalar_summary('/'.join(filter(None, ['Losses', clone.scope.rstrip('/'), 'clone_loss'])),
                      clone_loss, 'clone_loss')
    if regularization_loss is not None:
      _scalar_summary('Losses/regularization_loss', regularization_loss, 'regularization_loss')
  return sum_loss


def _scalar_summary(tag, tensor, name):
  """A scalar summary tagged exactly `tag`, added to SUMMARIES as tf.summary.scalar does.

  tf.summary.scalar derives the tag from a name scope, which TensorFlow makes unique against op
  names: the loss ops already own 'clone_loss' and 'total_loss', so TensorBoard showed
  'clone_loss_1' and 'total_loss_1'.
  """
  summary = tf.raw_ops.ScalarSummary(tags=tag, values=tensor, name=name)
  tf.add_to_collection(tf.GraphKeys.SUMMARIES, summary)
  return summary


def _optimize_clone(optimizer, clone, num_clones, regularization_losses, **kwargs):
  """Gathers the loss of `clone` and computes its gradients on the clone's device.

  Returns:
    (loss, grads_and_vars); both None when the clone has no loss.
  """
  sum_loss = _gather_clone_loss(clone, num_clones, regularization_losses)
  clone_grad = None
  if sum_loss is not None:
    with tf.device(clone.device):
      clone_grad = optimizer.compute_gradients(sum_loss, **kwargs)
  return sum_loss, clone_grad


def optimize_clones(clones, optimizer, regularization_losses=None, **kwargs):
  """Computes the total loss and the gradients summed over all clones.

  Args:
    clones: list of Clone from `create_clones`.
    optimizer: a tf.train.Optimizer (only `compute_gradients` is used).
    regularization_losses: losses added once, to the first clone; default: the whole
      REGULARIZATION_LOSSES collection.
    **kwargs: passed to `optimizer.compute_gradients` (e.g. var_list).

  Returns:
    (total_loss, grads_and_vars): `total_loss` is named 'total_loss'; `grads_and_vars` holds one
    (summed gradient, variable) pair per variable with a gradient.
  """
  grads_and_vars = []
  clones_losses = []
  num_clones = len(clones)
  if regularization_losses is None:
    regularization_losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
  for clone in clones:
    with tf.name_scope(clone.scope):
      clone_loss, clone_grad = _optimize_clone(optimizer, clone, num_clones,
                                               regularization_losses, **kwargs)
      if clone_loss is not None:
        clones_losses.append(clone_loss)
        grads_and_vars.append(clone_grad)
      # Only the first clone carries the regularisation losses.
      regularization_losses = None
  total_loss = tf.add_n(clones_losses, name='total_loss')
  grads_and_vars = _sum_clones_gradients(grads_and_vars)
  return total_loss, grads_and_vars


def deploy(config,
           model_fn,
           args=None,
           kwargs=None,
           optimizer=None,
           summarize_gradients=False):
  """Builds the clones and, with an optimizer, the op that trains them together.

  Summaries already in the graph, those created in the first clone's scope, the loss summaries
  and a `total_loss` scalar are merged into `summary_op`.

  Args:
    config: a DeploymentConfig.
    model_fn: called as `model_fn(*args, **kwargs)` once per clone; adds its losses to LOSSES.
    args: optional positional arguments of model_fn.
    kwargs: optional keyword arguments of model_fn.
    optimizer: a tf.train.Optimizer, or None to only gather the losses (e.g. for evaluation).
    summarize_gradients: add histograms of every gradient and its norm.

  Returns:
    DeployedModel. Without optimizer `train_op` is None; without any loss `total_loss` is None.
  """
  # Summaries created before, e.g. by the input pipeline.
  summaries = set(tf.get_collection(tf.GraphKeys.SUMMARIES))

  clones = create_clones(config, model_fn, args, kwargs)
  first_clone = clones[0]

  # The batch-norm statistics updates of the first clone only.
  update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS, first_clone.scope)

  train_op = None
  total_loss = None
  with tf.device(config.optimizer_device()):
    if optimizer:
      with tf.device(config.variables_device()):
        global_step = slim.get_or_create_global_step()
      total_loss, clones_gradients = optimize_clones(clones, optimizer)
      if clones_gradients:
        if summarize_gradients:
          summaries |= set(_add_gradients_summaries(clones_gradients))
        grad_updates = optimizer.apply_gradients(clones_gradients, global_step=global_step)
        update_ops.append(grad_updates)
        update_op = tf.group(*update_ops)
        with tf.control_dependencies([update_op]):
          train_op = tf.identity(total_loss, name='train_op')
    else:
      clones_losses = []
      regularization_losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
      for clone in clones:
        with tf.name_scope(clone.scope):
          clone_loss = _gather_clone_loss(clone, len(clones), regularization_losses)
          if clone_loss is not None:
            clones_losses.append(clone_loss)
          regularization_losses = None
      if clones_losses:
        total_loss = tf.add_n(clones_losses, name='total_loss')

    # Summaries of the first clone, including the loss summaries created above.
    summaries |= set(tf.get_collection(tf.GraphKeys.SUMMARIES, first_clone.scope))
    if total_loss is not None:
      summaries.add(_scalar_summary('total_loss', total_loss, 'total_loss_summary'))
    if summaries:
      # A set has no stable order; sort by name so that the graph is the same on every run.
      summary_op = tf.summary.merge(sorted(summaries, key=lambda s: s.name), name='summary_op')
    else:
      summary_op = None

  return DeployedModel(train_op, summary_op, total_loss, clones)


def _sum_clones_gradients(clone_grads):
  """Sums, variable by variable, the gradients of all clones.

  Args:
    clone_grads: one list of (gradient, variable) per clone, all over the same variables in the
      same order (as compute_gradients returns them).

  Returns:
    list of (summed gradient, variable); variables without any gradient are dropped.
  """
  sum_grads = []
  for grad_and_vars in zip(*clone_grads):
    var = grad_and_vars[0][1]
    grads = []
    for g, v in grad_and_vars:
      if v is not var:
        raise ValueError('clones list their variables in different orders: %s vs %s'
                         % (v.op.name, var.op.name))
      if g is not None:
        grads.append(g)
    if grads:
      if len(grads) > 1:
        sum_grad = tf.add_n(grads, name=var.op.name + '/sum_grads')
      else:
        sum_grad = grads[0]
      sum_grads.append((sum_grad, var))
  return sum_grads


def _add_gradients_summaries(grads_and_vars):
  """Histograms of each gradient (`<var>:gradient`) and its norm (`<var>:gradient_norm`).

  Returns:
    list of the summary ops.
  """
  summaries = []
  for grad, var in grads_and_vars:
    if grad is None:
      tf.logging.info('Var %s has no gradient', var.op.name)
      continue
    grad_values = grad.values if isinstance(grad, tf.IndexedSlices) else grad
    summaries.append(tf.summary.histogram(var.op.name + ':gradient', grad_values))
    summaries.append(tf.summary.histogram(var.op.name + ':gradient_norm',
                                          tf.global_norm([grad_values])))
  return summaries


class DeploymentConfig(object):
  """Where clones, inputs, optimizer and variables go, for one replica of a deployment.

  Every setting is fixed at construction; the methods return device strings (or device functions)
  for `tf.device`.
  """

  def __init__(self,
               num_clones=1,
               clone_on_cpu=False,
               replica_id=0,
               num_replicas=1,
               num_ps_tasks=0,
               worker_job_name='worker',
               ps_job_name='ps'):
    """Creates a DeploymentConfig.

    Args:
      num_clones: copies of the model on this replica (one per GPU, or all on the CPU).
      clone_on_cpu: put every clone on the CPU.
      replica_id: index of this replica, in [0, num_replicas).
      num_replicas: number of worker replicas.
      num_ps_tasks: number of parameter-server tasks; 0 keeps the variables on this machine.
      worker_job_name: job name of the workers.
      ps_job_name: job name of the parameter servers.

    Raises:
      DeploymentConfigError (a ValueError): the arguments cannot work together.
    """
    if num_replicas > 1 and num_ps_tasks < 1:
      raise DeploymentConfigError('When using replicas num_ps_tasks must be positive')
    if num_replicas > 1 or num_ps_tasks > 0:
      if not worker_job_name:
        raise DeploymentConfigError('Must specify worker_job_name when using replicas')
      if not ps_job_name:
        raise DeploymentConfigError('Must specify ps_job_name when using parameter server')
    if replica_id >= num_replicas:
      raise DeploymentConfigError('replica_id must be less than num_replicas')
    self._num_clones = num_clones
    self._clone_on_cpu = clone_on_cpu
    self._replica_id = replica_id
    self._num_replicas = num_replicas
    self._num_ps_tasks = num_ps_tasks
    self._ps_device = '/job:' + ps_job_name if num_ps_tasks > 0 else ''
    self._worker_device = '/job:' + worker_job_name if num_ps_tasks > 0 else ''

  @property
  def num_clones(self):
    return self._num_clones

  @property
  def clone_on_cpu(self):
    return self._clone_on_cpu

  @property
  def replica_id(self):
    return self._replica_id

  @property
  def num_replicas(self):
    return self._num_replicas

  @property
  def num_ps_tasks(self):
    return self._num_ps_tasks

  @property
  def ps_device(self):
    return self._ps_device

  @property
  def worker_device(self):
    return self._worker_device

  def caching_device(self):
    """Caching device for variables: None locally; with parameter servers, a function keeping
    the op's own device (so that a cached copy is read where it is used, not on the ps)."""
    if self._num_ps_tasks > 0:
      return lambda op: op.device
    return None

  def clone_device(self, clone_index):
    """Device string of clone `clone_index`.

    Raises:
      ValueError: clone_index is not less than num_clones.
    """
    if clone_index >= self._num_clones:
      raise ValueError('clone_index must be less than num_clones')
    device = ''
    if self._num_ps_tasks > 0:
      device += self._worker_device
    if self._clone_on_cpu:
      device += '/device:CPU:0'
    else:
      device += '/device:GPU:%d' % clone_index
    return device

  def clone_scope(self, clone_index):
    """Name scope of clone `clone_index`: '' for a single clone, else 'clone_<index>'.

    Raises:
      ValueError: clone_index is not less than num_clones.
    """
    if clone_index >= self._num_clones:
      raise ValueError('clone_index must be less than num_clones')
    scope = ''
    if self._num_clones > 1:
      scope = 'clone_%d' % clone_index
    return scope

  def optimizer_device(self):
    """Device of the optimizer: the CPU of this worker."""
    # As in the original, the condition is always true (num_clones is at least 1).
    if self._num_ps_tasks > 0 or self._num_clones > 0:
      return self._worker_device + '/device:CPU:0'
    return None

  def inputs_device(self):
    """Device of the input pipeline: the CPU of this worker."""
    device = ''
    if self._num_ps_tasks > 0:
      device += self._worker_device
    device += '/device:CPU:0'
    return device

  def variables_device(self):
    """Device of the variables: the local CPU, or a function that assigns variables
    round-robin to the parameter-server tasks (other ops keep their device)."""
    device = ''
    if self._num_ps_tasks > 0:
      device += self._ps_device
    device += '/device:CPU:0'
    if not self._num_ps_tasks:
      return device
    return _PSDeviceChooser(device, self._num_ps_tasks).choose


class _PSDeviceChooser(object):
  """Device function placing variable ops on ps tasks 0, 1, ..., num_tasks - 1, 0, ..."""

  def __init__(self, device, num_tasks):
    self._device = device
    self._num_tasks = num_tasks
    self._next_task = 0

  def choose(self, op):
    if op.device:
      return op.device
    node_def = op if isinstance(op, tf.NodeDef) else op.node_def
    if node_def.op.startswith(_VARIABLE_OP_PREFIXES):
      task = self._next_task
      self._next_task = (self._next_task + 1) % self._num_tasks
      return '%s/task:%d' % (self._device, task)
    return op.device
