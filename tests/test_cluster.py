"""Scaling out: the cluster description (flags, TF_CONFIG), variable placement on parameter servers,
real local clusters (1 ps + 2 workers on 127.0.0.1, synchronous and asynchronous, a worker killed
and restarted), and several CPU clones against one clone on the combined batch."""
import functools
import glob
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim

from conftest import ROOT
from deployment import launch_local_cluster
from deployment import model_deploy
from image_classifier import cluster
from foundation.errors import UserError

DIGITS = os.path.join(ROOT, 'sample_data', 'digits')
STEP_LINE = re.compile(r'global step (\d+): loss = ([0-9.]+)')
FINISHED = re.compile(r'Finished: (\d+) steps')


def _opts(**kw):
  values = dict(job_name='worker', task=0, ps_hosts='', worker_hosts='', master='',
                worker_replicas=1, num_ps_tasks=0)
  values.update(kw)
  return types.SimpleNamespace(**values)


# ------------------------------------------------------------- cluster description

def test_no_cluster_keeps_the_original_flags():
  assert cluster.resolve(_opts(master='grpc://x:1', worker_replicas=3), environ={}) is None
  assert cluster.start(_opts(), environ={}) is None
  # A TF_CONFIG of one machine alone is no cluster either.
  single = json.dumps({'cluster': {'worker': ['a:1']}, 'task': {'type': 'worker', 'index': 0}})
  assert cluster.resolve(_opts(), environ={'TF_CONFIG': single}) is None


def test_cluster_from_flags():
  task = cluster.resolve(_opts(task=1, ps_hosts='p:1', worker_hosts='w:1, w:2'), environ={})
  assert task == cluster.Task('worker', 1, {'ps': ['p:1'], 'worker': ['w:1', 'w:2']})
  task = cluster.resolve(_opts(job_name='ps', ps_hosts='p:1,p:2', worker_hosts='w:1'), environ={})
  assert (task.job_name, task.index) == ('ps', 0)


def test_cluster_from_tf_config_with_a_chief_job():
  config = {'cluster': {'chief': ['c:1'], 'worker': ['w:1', 'w:2'], 'ps': ['p:1']},
            'task': {'type': 'worker', 'index': 1}}
  task = cluster.resolve(_opts(), environ={'TF_CONFIG': json.dumps(config)})
  # The chief is worker 0; worker i of TF_CONFIG is worker i + 1.
  assert task == cluster.Task('worker', 2, {'ps': ['p:1'], 'worker': ['c:1', 'w:1', 'w:2']})
  config['task'] = {'type': 'chief', 'index': 0}
  assert cluster.resolve(_opts(), environ={'TF_CONFIG': json.dumps(config)}).index == 0
  # Flags win over the environment.
  task = cluster.resolve(_opts(ps_hosts='q:1', worker_hosts='v:1'),
                         environ={'TF_CONFIG': json.dumps(config)})
  assert task.cluster == {'ps': ['q:1'], 'worker': ['v:1']}


@pytest.mark.parametrize('kw,environ,message', [
    (dict(job_name='ps'), {}, '--job_name=ps needs the cluster'),
    (dict(ps_hosts='p:1'), {}, '--worker_hosts is empty'),
    (dict(task=2, ps_hosts='p:1', worker_hosts='w:1,w:2'), {}, 'worker task 2 does not exist'),
    (dict(worker_hosts='w:1,w:2'), {}, 'need at least one parameter server'),
    (dict(), {'TF_CONFIG': '{"cluster": '}, 'not valid JSON'),
    (dict(), {'TF_CONFIG': json.dumps({'cluster': {'worker': ['a:1', 'b:1'], 'ps': ['p:1'],
                                                   'evaluator': ['e:1']},
                                       'task': {'type': 'evaluator', 'index': 0}})},
     'eval_image_classifier.py'),
])
def test_impossible_clusters_are_user_errors(kw, environ, message):
  with pytest.raises(UserError, match=message):
    cluster.resolve(_opts(**kw), environ=environ)


def test_master_and_cluster_together_are_refused():
  with pytest.raises(UserError, match='drop --master'):
    cluster.start(_opts(master='grpc://h:1', ps_hosts='p:1', worker_hosts='w:1'), environ={})
  with pytest.raises(UserError, match='--num_ps_tasks=3 but the cluster has 1'):
    cluster.start(_opts(num_ps_tasks=3, ps_hosts='p:1', worker_hosts='w:1'), environ={})


def test_session_config_filters_devices_for_a_worker_of_a_cluster():
  config = cluster.session_config(_opts(task=1, num_ps_tasks=1, master='grpc://127.0.0.1:5'))
  assert list(config.device_filters) == ['/job:ps', '/job:worker/task:1']
  assert config.allow_soft_placement
  assert not cluster.session_config(_opts()).device_filters


def test_every_global_variable_goes_to_a_parameter_server():
  """Model variables, global step, optimizer slots and non-slot variables, moving averages and the
  sync optimizer's state: all on ps tasks; the sync optimizer's local step stays on the worker."""
  config = model_deploy.DeploymentConfig(num_clones=2, clone_on_cpu=True, num_replicas=2,
                                         num_ps_tasks=2)
  with tf.Graph().as_default() as graph:
    with tf.device(config.variables_device()):
      global_step = tf.train.get_or_create_global_step()

    def model_fn():
      x = tf.ones([4, 3])
      logits = slim.fully_connected(slim.batch_norm(x), 2, scope='fc')
      tf.losses.softmax_cross_entropy(tf.one_hot([0, 1, 0, 1], 2), logits)

    clones = model_deploy.create_clones(config, model_fn)
    with tf.device(config.variables_device()):
      averages = tf.train.ExponentialMovingAverage(0.9, global_step)
    with tf.device(config.optimizer_device()):
      optimizer = tf.train.SyncReplicasOptimizer(
          tf.train.AdamOptimizer(0.1), replicas_to_aggregate=2, total_num_replicas=2,
          variable_averages=averages, variables_to_average=slim.get_model_variables())
    _, grads_and_vars = model_deploy.optimize_clones(clones, optimizer)
    optimizer.apply_gradients(grads_and_vars, global_step=global_step)
    names = {v.op.name for v in tf.global_variables()}
    assert {'global_step', 'fc/weights/Adam', 'beta1_power', 'fc/weights/ExponentialMovingAverage',
            'BatchNorm/moving_mean'} <= names, names
    assert cluster.variables_off_ps(graph) == []
    cluster.check_variables_on_ps(2, graph)
    assert [v.op.name for v in tf.local_variables()] == ['sync_rep_local_step']
    with tf.device('/job:worker/device:CPU:0'):
      tf.Variable(0, name='stray')
    assert cluster.variables_off_ps(graph) == ['stray']
    with pytest.raises(RuntimeError, match='stray'):
      cluster.check_variables_on_ps(2, graph)
    cluster.check_variables_on_ps(0, graph)  # no ps: nothing to check


# ------------------------------------------------------------- local clusters

@pytest.fixture(scope='module')
def digits_dir(tmp_path_factory):
  from datasets import convert_image_folder
  out = str(tmp_path_factory.mktemp('digits') / 'data')
  convert_image_folder.run(out, images_dir=DIGITS, validation_fraction=0.2, num_shards=2)
  return out


def _train_args(digits_dir, train_dir, steps, *extra):
  return ['--train_dir=%s' % train_dir, '--dataset_name=custom', '--dataset_dir=%s' % digits_dir,
          '--model_name=lenet', '--train_image_size=8', '--batch_size=32', '--optimizer=sgd',
          '--learning_rate=0.1', '--learning_rate_decay_type=fixed', '--weight_decay=0',
          '--log_every_n_steps=1', '--num_preprocessing_threads=1', '--num_readers=2',
          '--save_summaries_secs=1', '--max_number_of_steps=%d' % steps] + list(extra)


def _read(path):
  with open(path) as f:
    return f.read()


def _steps(log):
  return [(int(s), float(l)) for s, l in STEP_LINE.findall(log)]


def _finished(log):
  found = FINISHED.findall(log)
  assert found, log[-3000:]
  return int(found[-1])


def _global_step(train_dir):
  checkpoint = tf.train.latest_checkpoint(str(train_dir))
  assert checkpoint, os.listdir(str(train_dir))
  return int(tf.train.NewCheckpointReader(checkpoint).get_tensor('global_step'))


def _wait_for(path, pattern, timeout, after=0):
  """Waits until the log at `path` has `pattern` after offset `after`; returns the match."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    if os.path.exists(path):
      match = re.compile(pattern).search(_read(path), after)
      if match:
        return match
    time.sleep(0.2)
  raise AssertionError('no %r in %s after %d s:\n%s'
                       % (pattern, path, timeout, _read(path)[-3000:] if os.path.exists(path) else ''))


def _assert_stopped_cleanly(local):
  local.stop(grace_secs=30)
  for i, process in enumerate(local.ps):
    assert process.returncode == 0, _read(local.log_path('ps', i))[-2000:]
    assert 'Parameter server stopped by SIGTERM' in _read(local.log_path('ps', i))
  for i, process in enumerate(local.workers):
    # 130: stopped by SIGINT after saving; 0: the close watchdog ended a worker whose session
    # close hung on the parameter server (everything was saved before).
    assert process.returncode in (130, 0), _read(local.log_path('worker', i))[-3000:]
  for i in range(len(local.workers)):
    assert 'Traceback' not in _read(local.log_path('worker', i)), \
        _read(local.log_path('worker', i))[-3000:]


def test_ps_task_from_tf_config_serves_until_sigterm(tmp_path):
  port = launch_local_cluster.free_ports(1)[0]
  config = {'cluster': {'ps': ['127.0.0.1:%d' % port], 'worker': ['127.0.0.1:1', '127.0.0.1:2']},
            'task': {'type': 'ps', 'index': 0}}
  env = dict(os.environ, TF_CONFIG=json.dumps(config), PYTHONPATH=ROOT)
  log_path = str(tmp_path / 'ps.log')
  with open(log_path, 'w') as log:
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, 'train_image_classifier.py')],
                               stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
  try:
    _wait_for(log_path, r'Started ps task 0 of a cluster of 1 ps and 2 worker', timeout=120)
    with socket.create_connection(('127.0.0.1', port), timeout=10):
      pass  # the server listens
    time.sleep(1)
    assert process.poll() is None  # and keeps serving
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
  finally:
    if process.poll() is None:
      process.kill()
      process.wait(timeout=10)
  assert 'Parameter server stopped by SIGTERM' in _read(log_path)


def test_synchronous_cluster_aggregates_both_workers(digits_dir, tmp_path):
  steps = 20
  train_dir = tmp_path / 'train'
  local = launch_local_cluster.LocalCluster(
      1, 2, _train_args(digits_dir, train_dir, steps, '--sync_replicas',
                        '--replicas_to_aggregate=2', '--save_interval_steps=10'),
      str(tmp_path / 'logs'))
  try:
    codes = local.wait_workers(timeout=150)
  finally:
    _assert_stopped_cleanly(local)
  assert codes == [0, 0]
  logs = [_read(local.log_path('worker', i)) for i in range(2)]
  done = [_finished(log) for log in logs]
  # Every update took 2 gradients: the workers ran 2 steps per global step between them (one more
  # each at most: a gradient arriving after the last update). Both took part.
  assert 2 * steps <= sum(done) <= 2 * steps + 2, done
  assert min(done) >= steps // 4, done
  assert _global_step(train_dir) == steps
  # Only the chief writes checkpoints and summaries.
  assert glob.glob(str(train_dir / 'events.out.tfevents.*'))
  worker_dir = train_dir / 'worker_1'
  assert not glob.glob(str(worker_dir / 'model.ckpt*'))
  assert not glob.glob(str(worker_dir / 'events.out.tfevents.*'))
  losses = [loss for _, loss in _steps(logs[0]) + _steps(logs[1])]
  assert np.mean(losses[-6:]) < 0.8 * losses[0], losses


def test_asynchronous_cluster_and_a_worker_killed_and_restarted(digits_dir, tmp_path):
  train_dir = tmp_path / 'train'
  local = launch_local_cluster.LocalCluster(
      1, 2, _train_args(digits_dir, train_dir, 100000, '--save_interval_secs=100000'),
      str(tmp_path / 'logs'))
  worker_log = local.log_path('worker', 1)
  try:
    _wait_for(worker_log, r'global step \d+:', timeout=120)
    _wait_for(local.log_path('worker', 0), r'global step \d+:', timeout=60)
    local.workers[1].send_signal(signal.SIGKILL)
    local.workers[1].wait(timeout=30)
    killed_log = _read(worker_log)
    killed_steps = _steps(killed_log)
    chief_seen = len(_read(local.log_path('worker', 0)))
    local.start_worker(1, mode='a')
    # The restarted worker takes part again, at the current global step.
    match = _wait_for(worker_log, r'global step (\d+):', timeout=120, after=len(killed_log))
    assert int(match.group(1)) > killed_steps[-1][0]
    _wait_for(worker_log, r'global step \d+:(.|\n)*global step \d+:(.|\n)*global step \d+:',
              timeout=60, after=len(killed_log))
    # The chief kept training meanwhile.
    assert _steps(_read(local.log_path('worker', 0))[chief_seen:])
  finally:
    _assert_stopped_cleanly(local)  # SIGINT: the workers save a checkpoint and stop
  chief_log, restarted_log = _read(local.log_path('worker', 0)), _read(worker_log)[len(killed_log):]
  assert 'SIGINT received' in chief_log and 'stopped by SIGINT' in restarted_log
  # Asynchronous: every worker step is an update of its own (one logged line per step). The killed
  # worker may have run one step it did not log; a worker may finish a step after the chief's
  # final save.
  total = len(_steps(chief_log)) + len(killed_steps) + len(_steps(restarted_log))
  assert total - 2 <= _global_step(train_dir) <= total + 1, (total, _global_step(train_dir))
  assert not glob.glob(str(train_dir / 'worker_1' / 'model.ckpt*'))
  losses = [loss for _, loss in _steps(chief_log)]
  assert np.mean(losses[-5:]) < 0.8 * losses[0], losses


# ------------------------------------------------------------- clones

class _Losses(logging.Handler):
  """Collects the (global step, loss) lines that training logs."""

  def __init__(self):
    super().__init__()
    self.steps = []

  def emit(self, record):
    self.steps += _steps(record.getMessage())


def _losses_of(opts):
  from image_classifier import training
  handler = _Losses()
  logger = logging.getLogger('tensorflow')
  logger.addHandler(handler)
  try:
    training.train(opts)
  finally:
    logger.removeHandler(handler)
  return [loss for _, loss in handler.steps]


def test_two_cpu_clones_follow_one_clone_on_the_double_batch(digits_dir, tmp_path, monkeypatch):
  """Same data order (no shuffling) and the same start (a one-step run's checkpoint): two
  clones on batches of B follow one clone on batches of 2B. LeNet's dropout draws other masks in
  each run, hence a tolerance."""
  from image_classifier import inputs
  from test_training import train_options
  monkeypatch.setattr(inputs, 'batches', functools.partial(inputs.batches, shuffle=False))
  common = dict(dataset_name='custom', dataset_dir=digits_dir, model_name='lenet',
                train_image_size=8, optimizer='sgd', learning_rate=0.02,
                learning_rate_decay_type='fixed', weight_decay=0.0, max_number_of_steps=12,
                log_every_n_steps=1, num_preprocessing_threads=1, save_interval_secs=100000)
  first = dict(common, max_number_of_steps=1)
  _losses_of(train_options(train_dir=str(tmp_path / 'start'), batch_size=8, **first))
  start = str(tmp_path / 'start' / 'model.ckpt-1')
  one = _losses_of(train_options(train_dir=str(tmp_path / 'one'), batch_size=128,
                                 checkpoint_path=start, **common))
  two = _losses_of(train_options(train_dir=str(tmp_path / 'two'), batch_size=64, num_clones=2,
                                 clone_on_cpu=True, checkpoint_path=start, **common))
  assert len(one) == len(two) == 12
  # Dropout differs step by step; over the curve the two runs agree.
  np.testing.assert_allclose(two, one, rtol=0.5)
  assert np.mean(two) == pytest.approx(np.mean(one), rel=0.1)
  assert np.mean(two[-4:]) == pytest.approx(np.mean(one[-4:]), rel=0.15)
  assert np.mean(two[-3:]) < np.mean(two[:3])


def test_one_worker_aggregating_several_of_its_own_gradients(digits_dir, tmp_path):
  """--sync_replicas with more gradients per update than workers (the original allowed it): the
  worker contributes twice per update."""
  from test_training import train_options
  opts = train_options(train_dir=str(tmp_path), dataset_name='custom', dataset_dir=digits_dir,
                       model_name='lenet', train_image_size=8, batch_size=16, optimizer='sgd',
                       learning_rate_decay_type='fixed', max_number_of_steps=3,
                       num_preprocessing_threads=1, log_every_n_steps=1, sync_replicas=True,
                       replicas_to_aggregate=2)
  handler = _Losses()
  logger = logging.getLogger('tensorflow')
  logger.addHandler(handler)
  try:
    from image_classifier import training
    checkpoint = training.train(opts)
  finally:
    logger.removeHandler(handler)
  assert int(tf.train.NewCheckpointReader(checkpoint).get_tensor('global_step')) == 3
  assert 6 <= len(handler.steps) <= 7, handler.steps


def test_close_watchdog_exits_only_when_the_close_hangs():
  code = '\n'.join([
      'import time',
      'from image_classifier import cluster',
      'hook = cluster.CloseWatchdogHook(timeout_secs=1)',
      'hook.begin(); hook.end(None); cluster.session_closed()',  # closed in time: disarmed
      'time.sleep(2); print("alive", flush=True)',
      'hook.begin(); hook.end(None)',  # never closed: the watchdog ends the process
      'time.sleep(30); print("late", flush=True)'])
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split() == ['alive'], result.stdout
  assert 'did not close within 1 s' in result.stderr
