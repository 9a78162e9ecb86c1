"""Tests of deployment/model_deploy.py: device strings, placement, clones, losses and training.

GPU clones are only built (their placement is read from the graph); everything that runs uses
CPU clones.
"""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim

from foundation.errors import UserError
from deployment import model_deploy


def _canonical(device):
  return tf.DeviceSpec.from_string(device).to_string() if device else ''


def _assert_device(actual, expected):
  assert _canonical(actual) == _canonical(expected), (actual, expected)


def _placed_with_a_variable(op):
  """Variable reads and updates: TF places them with the variable, whatever their own device."""
  return (any(t.dtype == tf.resource for t in op.inputs)
          or op.colocation_groups() != [('loc:@' + op.name).encode()])


def _summary_tags_of(summaries):
  """Tags of summary tensors (the first input of each summary op)."""
  return {tf.make_ndarray(t.op.inputs[0].op.get_attr('value')).item().decode()
          for t in summaries}


def _summary_tags(summary_op):
  """Tags of the summaries merged by `summary_op`."""
  return _summary_tags_of(summary_op.op.inputs)


def _logistic_classifier(inputs, labels, weight_decay=0.0):
  with tf.variable_scope(None, 'LogisticClassifier', [inputs, labels]):
    regularizer = slim.l2_regularizer(weight_decay) if weight_decay else None
    predictions = slim.fully_connected(
        inputs, 1, activation_fn=tf.sigmoid, weights_regularizer=regularizer,
        weights_initializer=tf.constant_initializer([0.3, -0.2, 0.1, 0.4]),
        scope='fully_connected')
    tf.losses.log_loss(labels, predictions)
    return predictions


def _batch_norm_classifier(inputs, labels):
  with tf.variable_scope(None, 'BatchNormClassifier', [inputs, labels]):
    # A 4-D input takes the UPDATE_OPS path of slim.batch_norm that training scripts use.
    inputs = tf.reshape(inputs, [-1, 1, 1, inputs.get_shape().as_list()[-1]])
    inputs = slim.flatten(slim.batch_norm(inputs, decay=0.1))
    predictions = slim.fully_connected(inputs, 1, activation_fn=tf.sigmoid,
                                       scope='fully_connected')
    tf.losses.log_loss(labels, predictions)
    return predictions


def _data(n=16, seed=0):
  """One-hot inputs whose hot column is 2 * label + a random bit: linearly separable."""
  rng = np.random.RandomState(seed)
  labels = rng.randint(0, 2, size=(n, 1)).astype(np.float32)
  inputs = np.zeros((n, 4), np.float32)
  for i in range(n):
    inputs[i, int(2 * labels[i, 0] + rng.randint(0, 2))] = 1.0
  return inputs, labels


def _per_clone_model(model, inputs, labels, num_clones):
  """model_fn that gives clone i the i-th slice of the batch (clones are built in order)."""
  size = len(inputs) // num_clones
  calls = []

  def model_fn():
    i = len(calls)
    calls.append(i)
    x = tf.constant(inputs[i * size:(i + 1) * size])
    y = tf.constant(labels[i * size:(i + 1) * size])
    return model(x, y)
  return model_fn


# ------------------------------------------------------------- DeploymentConfig

def test_default_config_devices():
  config = model_deploy.DeploymentConfig()
  assert (config.num_clones, config.clone_on_cpu, config.replica_id, config.num_replicas,
          config.num_ps_tasks) == (1, False, 0, 1, 0)
  assert config.ps_device == '' and config.worker_device == ''
  assert config.caching_device() is None
  assert config.clone_device(0) == '/device:GPU:0'
  assert config.clone_scope(0) == ''
  assert config.optimizer_device() == '/device:CPU:0'
  assert config.inputs_device() == '/device:CPU:0'
  assert config.variables_device() == '/device:CPU:0'


def test_cpu_only_config_devices():
  config = model_deploy.DeploymentConfig(clone_on_cpu=True)
  assert config.clone_device(0) == '/device:CPU:0'
  assert config.clone_scope(0) == ''
  assert config.caching_device() is None
  assert config.optimizer_device() == '/device:CPU:0'
  assert config.variables_device() == '/device:CPU:0'
  config = model_deploy.DeploymentConfig(num_clones=2, clone_on_cpu=True)
  assert [config.clone_device(i) for i in range(2)] == ['/device:CPU:0'] * 2
  assert [config.clone_scope(i) for i in range(2)] == ['clone_0', 'clone_1']


def test_multi_gpu_config_devices():
  config = model_deploy.DeploymentConfig(num_clones=2)
  assert config.caching_device() is None
  assert [config.clone_device(i) for i in range(2)] == ['/device:GPU:0', '/device:GPU:1']
  assert [config.clone_scope(i) for i in range(2)] == ['clone_0', 'clone_1']
  assert config.optimizer_device() == '/device:CPU:0'
  assert config.inputs_device() == '/device:CPU:0'
  assert config.variables_device() == '/device:CPU:0'
  for method in (config.clone_device, config.clone_scope):
    with pytest.raises(ValueError):
      method(2)


@pytest.mark.parametrize('num_clones', [1, 2])
def test_parameter_server_config_devices(num_clones):
  config = model_deploy.DeploymentConfig(num_clones=num_clones, num_ps_tasks=1)
  assert config.ps_device == '/job:ps' and config.worker_device == '/job:worker'
  assert callable(config.caching_device())
  assert callable(config.variables_device())
  assert [config.clone_device(i) for i in range(num_clones)] == [
      '/job:worker/device:GPU:%d' % i for i in range(num_clones)]
  assert config.clone_scope(0) == ('' if num_clones == 1 else 'clone_0')
  assert config.optimizer_device() == '/job:worker/device:CPU:0'
  assert config.inputs_device() == '/job:worker/device:CPU:0'
  cpu_config = model_deploy.DeploymentConfig(num_clones=num_clones, clone_on_cpu=True,
                                             num_ps_tasks=1)
  assert cpu_config.clone_device(num_clones - 1) == '/job:worker/device:CPU:0'


def test_replicas_with_parameter_servers():
  config = model_deploy.DeploymentConfig(num_replicas=2, replica_id=1, num_ps_tasks=2,
                                         worker_job_name='trainer', ps_job_name='params')
  assert config.replica_id == 1 and config.num_replicas == 2
  assert config.clone_device(0) == '/job:trainer/device:GPU:0'
  assert config.inputs_device() == '/job:trainer/device:CPU:0'
  assert config.optimizer_device() == '/job:trainer/device:CPU:0'
  assert config.ps_device == '/job:params'


@pytest.mark.parametrize('kwargs', [
    dict(num_replicas=2, num_ps_tasks=0),
    dict(num_ps_tasks=1, worker_job_name=''),
    dict(num_replicas=2, num_ps_tasks=1, ps_job_name=''),
    dict(replica_id=1),
    dict(replica_id=3, num_replicas=2, num_ps_tasks=1),
])
def test_invalid_config_is_a_value_error(kwargs):
  with pytest.raises(ValueError) as info:
    model_deploy.DeploymentConfig(**kwargs)
  assert not isinstance(info.value, UserError)  # a plain ValueError, as the original raised


def test_variables_round_robin_on_parameter_servers():
  config = model_deploy.DeploymentConfig(num_ps_tasks=2)
  with tf.Graph().as_default():
    with tf.device(config.variables_device()):
      a = tf.Variable(0)
      b = tf.Variable(0)
      c = tf.no_op()
      d = slim.variable('d', [], caching_device=config.caching_device())
      with tf.device('/job:ps/task:7/device:CPU:0'):
        e = tf.Variable(0)
      f = tf.Variable(0)
  _assert_device(a.device, '/job:ps/task:0/device:CPU:0')
  _assert_device(b.device, '/job:ps/task:1/device:CPU:0')
  _assert_device(c.device, '')
  _assert_device(d.device, '/job:ps/task:0/device:CPU:0')
  # The cached copy is read where it is used (the caching function keeps the op's own device).
  _assert_device(d.value().device, '')
  # An explicit device wins and does not advance the round robin.
  _assert_device(e.device, '/job:ps/task:7/device:CPU:0')
  _assert_device(f.device, '/job:ps/task:1/device:CPU:0')


def test_model_variables_round_robin_through_create_clones():
  config = model_deploy.DeploymentConfig(num_clones=1, num_ps_tasks=3)
  inputs, labels = _data()
  with tf.Graph().as_default():
    model_deploy.create_clones(config, _batch_norm_classifier,
                               [tf.constant(inputs), tf.constant(labels)])
    devices = [_canonical(v.device) for v in tf.global_variables()]
  # beta, moving_mean, moving_variance, weights, biases in creation order.
  assert devices == [_canonical('/job:ps/task:%d/device:CPU:0' % (i % 3)) for i in range(5)]


# ------------------------------------------------------------- create_clones

def test_create_one_cpu_clone():
  config = model_deploy.DeploymentConfig(clone_on_cpu=True)
  inputs, labels = _data()
  with tf.Graph().as_default():
    clones = model_deploy.create_clones(config, _logistic_classifier,
                                        [tf.constant(inputs), tf.constant(labels)])
    assert len(clones) == 1
    clone = clones[0]
    assert clone.outputs.op.name == 'LogisticClassifier/fully_connected/Sigmoid'
    assert clone.scope == ''
    _assert_device(clone.device, '/device:CPU:0')
    _assert_device(clone.outputs.device, '/device:CPU:0')
    assert len(slim.get_variables()) == 2
    for v in slim.get_variables():
      _assert_device(v.device, '/device:CPU:0')
    assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(tf.get_collection(tf.GraphKeys.LOSSES)) == 1


@pytest.mark.parametrize('clone_on_cpu', [True, False])
def test_create_two_clones_share_variables(clone_on_cpu):
  config = model_deploy.DeploymentConfig(num_clones=2, clone_on_cpu=clone_on_cpu)
  inputs, labels = _data()
  with tf.Graph().as_default():
    clones = model_deploy.create_clones(config, _batch_norm_classifier,
                                        [tf.constant(inputs), tf.constant(labels)])
    assert len(slim.get_variables()) == 5
    for v in slim.get_variables():
      _assert_device(v.device, '/device:CPU:0')
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 4
    for i, clone in enumerate(clones):
      assert clone.scope == 'clone_%d/' % i
      assert clone.outputs.op.name == 'clone_%d/BatchNormClassifier/fully_connected/Sigmoid' % i
      expected = '/device:CPU:0' if clone_on_cpu else '/device:GPU:%d' % i
      assert clone.device == expected
      assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS, clone.scope)) == 2
      clone_ops = [op for op in tf.get_default_graph().get_operations()
                   if op.name.startswith(clone.scope) and not _placed_with_a_variable(op)]
      assert {'MatMul', 'Sigmoid', 'FusedBatchNormV3'} <= {op.type for op in clone_ops}
      for op in clone_ops:
        _assert_device(op.device, expected)


# ------------------------------------------------------------- optimize_clones

@pytest.mark.parametrize('num_clones', [1, 2])
def test_optimize_clones_total_loss_and_gradients(num_clones):
  config = model_deploy.DeploymentConfig(num_clones=num_clones)
  inputs, labels = _data()
  model = lambda x, y: _logistic_classifier(x, y, weight_decay=0.01)  # noqa: E731
  with tf.Graph().as_default():
    clones = model_deploy.create_clones(config, model, [tf.constant(inputs), tf.constant(labels)])
    optimizer = tf.train.GradientDescentOptimizer(learning_rate=1.0)
    total_loss, grads_and_vars = model_deploy.optimize_clones(clones, optimizer)
    assert total_loss.op.name == 'total_loss'
    assert len(grads_and_vars) == len(tf.trainable_variables()) == 2
    for g, v in grads_and_vars:
      # One clone: its gradient, computed on its GPU; several: a sum placed by the caller.
      _assert_device(g.device, '/device:GPU:0' if num_clones == 1 else '')
      _assert_device(v.device, '/device:CPU:0')
      if num_clones > 1:
        assert g.op.name == v.op.name + '/sum_grads'
    names = {op.name for op in tf.get_default_graph().get_operations()}
    # The regularisation loss is added to the first clone only.
    first = clones[0].scope
    assert first + 'regularization_loss' in names
    if num_clones > 1:
      assert 'clone_1/regularization_loss' not in names
      assert 'clone_0/scaled_clone_loss' in names and 'clone_1/scaled_clone_loss' in names
    # The original's loss tags: 'Losses' + the clone scope (none with one clone) + 'clone_loss'.
    clone_tags = (['Losses/clone_loss'] if num_clones == 1 else
                  ['Losses/clone_%d/clone_loss' % i for i in range(num_clones)])
    assert sorted(_summary_tags_of(tf.get_collection(tf.GraphKeys.SUMMARIES))) == sorted(
        clone_tags + ['Losses/regularization_loss'])


def test_two_clones_on_half_batches_equal_one_clone_on_the_whole_batch():
  inputs, labels = _data(n=8, seed=3)

  def one_step(num_clones):
    config = model_deploy.DeploymentConfig(num_clones=num_clones, clone_on_cpu=True)
    model = lambda x, y: _logistic_classifier(x, y, weight_decay=0.1)  # noqa: E731
    with tf.Graph().as_default():
      tf.set_random_seed(0)
      optimizer = tf.train.GradientDescentOptimizer(learning_rate=0.5)
      deployed = model_deploy.deploy(
          config, _per_clone_model(model, inputs, labels, num_clones), optimizer=optimizer)
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        loss = sess.run(deployed.train_op)
        values = sess.run({v.op.name: v for v in tf.trainable_variables()})
        step = sess.run(tf.train.get_global_step())
    return loss, values, step

  loss_1, values_1, step_1 = one_step(1)
  loss_2, values_2, step_2 = one_step(2)
  assert step_1 == step_2 == 1
  # Each clone's loss is divided by the number of clones and the regulariser is counted once.
  np.testing.assert_allclose(loss_2, loss_1, rtol=1e-5)
  assert sorted(values_1) == sorted(values_2) == [
      'LogisticClassifier/fully_connected/biases', 'LogisticClassifier/fully_connected/weights']
  for name in values_1:
    np.testing.assert_allclose(values_2[name], values_1[name], rtol=1e-5, atol=1e-6)
  # The step did change the weights (the initial value is [0.3, -0.2, 0.1, 0.4]).
  assert not np.allclose(values_1['LogisticClassifier/fully_connected/weights'].ravel(),
                         [0.3, -0.2, 0.1, 0.4])


# ------------------------------------------------------------- deploy

def test_deploy_two_cpu_clones_trains_batch_norm_model():
  inputs, labels = _data(n=32, seed=0)
  config = model_deploy.DeploymentConfig(num_clones=2, clone_on_cpu=True)
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    optimizer = tf.train.GradientDescentOptimizer(learning_rate=1.0)
    model = model_deploy.deploy(config, _per_clone_model(_batch_norm_classifier, inputs, labels, 2),
                                optimizer=optimizer)
    assert model.train_op.op.name == 'train_op'
    assert model.total_loss.op.name == 'total_loss'
    assert model.summary_op.op.name == 'summary_op/summary_op'
    assert len(model.clones) == 2
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 4
    moving_mean = slim.get_variables_by_name('moving_mean')[0]
    moving_variance = slim.get_variables_by_name('moving_variance')[0]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      initial_loss = sess.run(model.total_loss)
      for _ in range(10):
        loss = sess.run(model.train_op)
      final_loss = sess.run(model.total_loss)
      mean, variance = sess.run([moving_mean, moving_variance])
      sess.run(model.summary_op)
  assert final_loss < initial_loss / 5, (initial_loss, loss, final_loss)
  # Only the first clone's statistics updates run: with decay 0.1 the moving averages equal the
  # statistics of the first half of the batch (and not those of the whole batch).
  first_half = inputs[:16]
  n = len(first_half)
  np.testing.assert_allclose(mean, first_half.mean(0), atol=1e-5)
  np.testing.assert_allclose(variance, first_half.var(0) * n / (n - 1), atol=1e-5)
  assert not np.allclose(mean, inputs[16:].mean(0), atol=1e-3)


@pytest.mark.parametrize('train', [True, False])
def test_deploy_two_gpu_clones_keeps_summaries_on_cpu(train):
  inputs, labels = _data()
  config = model_deploy.DeploymentConfig(num_clones=2)
  with tf.Graph().as_default():
    with tf.device(config.inputs_device()):
      x, y = tf.constant(inputs), tf.constant(labels)
      tf.summary.histogram('inputs', x)
    optimizer = tf.train.GradientDescentOptimizer(1.0) if train else None
    model = model_deploy.deploy(config, _batch_norm_classifier, [x, y], optimizer=optimizer,
                                summarize_gradients=train)
    if train:
      assert model.train_op.op.name == 'train_op'
      _assert_device(model.train_op.device, '/device:CPU:0')
      # The global step sits with the variables.
      _assert_device(tf.train.get_global_step().device, '/device:CPU:0')
    else:
      assert model.train_op is None
    assert model.total_loss.op.name == 'total_loss'
    summary_op = model.summary_op
    assert summary_op.op.name == 'summary_op/summary_op'
    _assert_device(summary_op.device, '/device:CPU:0')
    for op in (t.op for t in summary_op.op.inputs):
      _assert_device(op.device, '/device:CPU:0')
    merged = _summary_tags(summary_op)
    # The original's tags, exactly (tf.summary.scalar would have made them 'total_loss_1'...).
    assert {'inputs', 'total_loss', 'Losses/clone_0/clone_loss'} <= merged
    assert not any('regularization_loss' in tag for tag in merged)
    # The second clone's own loss summary exists but is not merged (first clone's only).
    assert 'Losses/clone_1/clone_loss' in _summary_tags_of(
        tf.get_collection(tf.GraphKeys.SUMMARIES, 'clone_1/'))
    assert not any('clone_1' in tag for tag in merged)
    gradient_summaries = [n for n in merged if ':gradient' in n or '_gradient' in n]
    assert len(gradient_summaries) == (2 * len(tf.trainable_variables()) if train else 0)


def test_deploy_without_losses_has_no_train_op():
  config = model_deploy.DeploymentConfig(clone_on_cpu=True)
  with tf.Graph().as_default():
    model = model_deploy.deploy(config, lambda: slim.fully_connected(tf.ones([2, 3]), 1))
    assert model.train_op is None and model.total_loss is None and model.summary_op is None
    assert model.clones[0].outputs.get_shape().as_list() == [2, 1]


# ------------------------------------------------------------- placement of every op kind

@pytest.mark.parametrize('num_ps_tasks', [0, 1, 2])
@pytest.mark.parametrize('num_clones', [1, 2])
@pytest.mark.parametrize('clone_on_cpu', [True, False])
def test_deploy_places_every_op_kind(num_ps_tasks, num_clones, clone_on_cpu):
  """Variables (global step included) on the variables device, round robin over the ps tasks; the
  model's compute ops on their clone's device; inputs, optimizer, train op and summaries on the
  worker's CPU; optimizer updates with their variable."""
  config = model_deploy.DeploymentConfig(num_clones=num_clones, clone_on_cpu=clone_on_cpu,
                                         num_ps_tasks=num_ps_tasks)
  worker = '/job:worker' if num_ps_tasks else ''
  inputs, labels = _data()
  with tf.Graph().as_default() as graph:
    with tf.device(config.inputs_device()):
      x, y = tf.constant(inputs, name='x'), tf.constant(labels, name='y')
    with tf.device(config.optimizer_device()):
      optimizer = tf.train.MomentumOptimizer(0.1, 0.9)
    model = model_deploy.deploy(config, _batch_norm_classifier, [x, y], optimizer=optimizer)
    variables = tf.global_variables()
    for op in (x.op, y.op, model.train_op.op, model.summary_op.op):
      _assert_device(op.device, worker + '/device:CPU:0')
    model_vars = [v for v in variables if v.op.name.startswith('BatchNormClassifier/')
                  and 'Momentum' not in v.op.name]
    assert len(model_vars) == 5
    global_step = tf.train.get_global_step()
    if num_ps_tasks:
      # Model variables in creation order, round robin.
      assert [_canonical(v.device) for v in model_vars] == [
          _canonical('/job:ps/task:%d/device:CPU:0' % (i % num_ps_tasks)) for i in range(5)]
      assert tf.DeviceSpec.from_string(global_step.device).job == 'ps'
    else:
      for v in model_vars + [global_step]:
        _assert_device(v.device, '/device:CPU:0')
    # Momentum slots live with their variable (colocated), hence on the same ps task.
    for v in variables:
      if v.op.name.endswith('/Momentum'):
        assert v.op.colocation_groups() == [
            ('loc:@' + v.op.name[:-len('/Momentum')]).encode()], v.op.name
    for i, clone in enumerate(model.clones):
      expected = worker + ('/device:CPU:0' if clone_on_cpu else '/device:GPU:%d' % i)
      _assert_device(clone.device, expected)
      # Forward pass, loss and gradients of this clone.
      prefixes = tuple(clone.scope + p for p in ('BatchNormClassifier/', 'log_loss/', 'gradients/'))
      # (minus the variables' own initialisers and reads, which live with the variable)
      owned = tuple(v.op.name + '/' for v in variables)
      compute = [op for op in graph.get_operations() if op.name.startswith(prefixes)
                 and not (op.name + '/').startswith(owned) and not _placed_with_a_variable(op)]
      assert any(op.name.startswith(clone.scope + 'gradients/') for op in compute)
      assert {'MatMul', 'Sigmoid', 'FusedBatchNormV3'} <= {op.type for op in compute}
      for op in compute:
        _assert_device(op.device, expected)
    updates = [op for op in graph.get_operations() if op.type.startswith('ResourceApply')]
    assert len(updates) == 3  # beta, weights, biases (the moving statistics are not trained)
    assert all(_placed_with_a_variable(op) for op in updates)
