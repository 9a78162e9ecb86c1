"""Between-graph replicated training: the cluster of parameter servers and workers.

Every task of a cluster runs train_image_classifier.py. The cluster comes either from the flags
`--job_name`, `--task`, `--ps_hosts`, `--worker_hosts` (new), or from the standard `TF_CONFIG`
environment variable:

  {"cluster": {"ps": ["host0:2222"], "worker": ["host1:2222", "host2:2222"]},
   "task": {"type": "worker", "index": 0}}

(a separate "chief" job in TF_CONFIG becomes worker 0, its workers 1, 2, ...). A `ps` task starts
its server and serves until it is stopped (SIGINT/SIGTERM). A worker starts an in-process server
for its own task and uses that server's target as the session master; worker 0 is the chief (it
initialises the variables and alone writes checkpoints and summaries). Without a cluster (neither
the flags nor TF_CONFIG), `--master`, `--task`, `--worker_replicas`, `--num_ps_tasks` are used as
given, as in the original script.
"""
import collections
import json
import os
import signal
import threading
import time

import tensorflow.compat.v1 as tf

from foundation import internals
from foundation.errors import UserError
from image_classifier import shared_flags

# job_name: 'ps' or 'worker'; index: task index in that job; cluster: {'ps': [...], 'worker': [...]}.
Task = collections.namedtuple('Task', ['job_name', 'index', 'cluster'])

# Seconds the session waits for its threads at the end. With --sync_replicas the chief's queue
# runner waits for gradients that no worker sends any more: it is cancelled after this delay.
STOP_GRACE_SECS = 3

# Servers of this process: kept referenced so that they live as long as the process.
_SERVERS = []


def from_flags(opts):
  """The Task described by --job_name/--task/--ps_hosts/--worker_hosts, or None without hosts."""
  ps_hosts = shared_flags.split_list(getattr(opts, 'ps_hosts', None))
  worker_hosts = shared_flags.split_list(getattr(opts, 'worker_hosts', None))
  job_name = getattr(opts, 'job_name', None) or 'worker'
  if not ps_hosts and not worker_hosts:
    if job_name == 'ps':
      raise UserError('--job_name=ps needs the cluster: --ps_hosts and --worker_hosts '
                      '(or the TF_CONFIG environment variable)')
    return None
  if not worker_hosts:
    raise UserError('--ps_hosts is given but --worker_hosts is empty; list every worker '
                    'as host:port, comma-separated')
  return _checked(Task(job_name, opts.task, {'ps': ps_hosts, 'worker': worker_hosts}),
                  '--job_name/--task')


def from_tf_config(text):
  """The Task described by a TF_CONFIG value, or None when it holds no multi-task cluster."""
  if not text or not text.strip():
    return None
  try:
    config = json.loads(text)
  except ValueError as e:
    raise UserError('TF_CONFIG is not valid JSON: %s' % e)
  cluster = {job: list(hosts) for job, hosts in (config.get('cluster') or {}).items()}
  task = config.get('task') or {}
  job_name, index = task.get('type', 'worker'), int(task.get('index', 0))
  unknown = set(cluster) - {'chief', 'worker', 'ps'}
  if unknown or job_name not in ('chief', 'worker', 'ps'):
    raise UserError('TF_CONFIG: this script runs chief, worker and ps tasks only (found %s); '
                    'evaluate with eval_image_classifier.py'
                    % ', '.join(sorted(unknown | {job_name} - {'chief', 'worker', 'ps'})))
  # The chief job, if any, becomes worker 0: the workers of this script are one job.
  chief = cluster.pop('chief', [])
  if len(chief) > 1:
    raise UserError('TF_CONFIG: the chief job has %d tasks; it can have one' % len(chief))
  workers = chief + cluster.get('worker', [])
  if job_name == 'chief':
    job_name, index = 'worker', 0
  elif job_name == 'worker':
    index += len(chief)
  ps = cluster.get('ps', [])
  if not ps and len(workers) <= 1:
    return None  # a single machine: nothing to connect to
  return _checked(Task(job_name, index, {'ps': ps, 'worker': workers}), 'TF_CONFIG task')


def _checked(task, source):
  hosts = task.cluster.get(task.job_name)
  if task.job_name not in ('ps', 'worker'):
    raise UserError('%s: job %r is neither ps nor worker' % (source, task.job_name))
  if not hosts or not 0 <= task.index < len(hosts):
    raise UserError('%s: %s task %d does not exist; the cluster has %d %s task(s)'
                    % (source, task.job_name, task.index, len(hosts or []), task.job_name))
  if len(task.cluster['worker']) > 1 and not task.cluster['ps']:
    raise UserError('%d workers need at least one parameter server (--ps_hosts or a ps job '
                    'in TF_CONFIG) to share the variables' % len(task.cluster['worker']))
  return task


def resolve(opts, environ=None):
  """This process's Task: from the cluster flags, else TF_CONFIG, else None (no cluster)."""
  environ = os.environ if environ is None else environ
  return from_flags(opts) or from_tf_config(environ.get('TF_CONFIG'))


def cluster_spec(task):
  return tf.train.ClusterSpec({job: hosts for job, hosts in task.cluster.items() if hosts})


def start(opts, environ=None):
  """Starts this task's server; returns its Task (None when there is no cluster).

  A ps task serves here until SIGINT/SIGTERM. For a worker, the deployment flags of `opts` are set
  from the cluster: `master` (this task's in-process server), `task`, `worker_replicas` and
  `num_ps_tasks`.
  """
  task = resolve(opts, environ)
  if task is None:
    return None
  num_workers, num_ps = len(task.cluster['worker']), len(task.cluster['ps'])
  if task.job_name == 'worker':
    if getattr(opts, 'master', ''):
      raise UserError('--master=%s and a cluster (--worker_hosts or TF_CONFIG) were both given; '
                      'a worker of a cluster is its own master: drop --master' % opts.master)
    for flag, value in (('worker_replicas', num_workers), ('num_ps_tasks', num_ps)):
      given = getattr(opts, flag)
      if given not in (None, value) and not (flag == 'worker_replicas' and given == 1) \
          and not (flag == 'num_ps_tasks' and given == 0):
        raise UserError('--%s=%d but the cluster has %d; leave --%s out'
                        % (flag, given, value, flag))
  server = tf.train.Server(cluster_spec(task), job_name=task.job_name, task_index=task.index,
                           config=tf.ConfigProto(allow_soft_placement=True), start=True)
  _SERVERS.append(server)
  tf.logging.info('Started %s task %d of a cluster of %d ps and %d worker(s): %s',
                  task.job_name, task.index, num_ps, num_workers, server.target)
  if task.job_name == 'ps':
    serve_until_stopped()
    return task
  opts.master = server.target
  opts.task = task.index
  opts.worker_replicas = num_workers
  opts.num_ps_tasks = num_ps
  return task


def serve_until_stopped(poll_secs=0.5):
  """Blocks until SIGINT or SIGTERM (server.join() would block in C++, deaf to Ctrl-C)."""
  stopping = []

  def handle(signum, frame):
    del frame
    stopping.append(signal.Signals(signum).name)

  previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
  try:
    while not stopping:
      time.sleep(poll_secs)
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
  tf.logging.info('Parameter server stopped by %s', stopping[0])


def session_config(opts):
  """The session ConfigProto: with parameter servers, a worker sees only the ps tasks and itself.

  Without the filter, ops placed on '/job:worker' (no task, as DeploymentConfig writes them) could
  land on another worker, and session creation would wait for every worker to be up.
  """
  config = tf.ConfigProto(allow_soft_placement=True)
  if opts.num_ps_tasks > 0 and opts.master:
    config.device_filters.extend(['/job:ps', '/job:worker/task:%d' % opts.task])
  return config


def _placed_on(op, graph):
  """The device an op runs on: its own, or that of the op it is colocated with."""
  if op.device:
    return op.device
  for group in op.colocation_groups():
    name = group.decode()[len('loc:@'):]
    if name != op.name:
      return _placed_on(graph.get_operation_by_name(name), graph)
  return ''


def variables_off_ps(graph=None):
  """Names of the global variables of `graph` that would not live on a parameter server."""
  graph = graph or tf.get_default_graph()
  with graph.as_default():
    variables = tf.global_variables()
  return sorted(v.op.name for v in variables
                if tf.DeviceSpec.from_string(_placed_on(v.op, graph)).job != 'ps')


def check_variables_on_ps(num_ps_tasks, graph=None):
  """With parameter servers, every global variable (model, global step, optimizer slots, moving
  averages) must be on one: a variable left on a worker would not be shared."""
  if num_ps_tasks <= 0:
    return
  stray = variables_off_ps(graph)
  if stray:
    raise RuntimeError('variables not placed on a parameter server: %s' % ', '.join(stray))


class ReleaseWorkersHook(tf.train.SessionRunHook):
  """At the end of synchronous training, the chief adds tokens to the sync token queue.

  A worker whose last gradient arrived after the final update waits for a token that no update
  will produce any more; these tokens let its step finish so it sees the final global step and
  stops instead of hanging.
  """

  def __init__(self, sync_optimizer, num_workers):
    self._optimizer = sync_optimizer
    self._num_workers = num_workers
    self._op = None

  def begin(self):
    self._op = self._optimizer.get_init_tokens_op(2 * self._num_workers)
    # The queue runner's last step (waiting for gradients) is cancelled when the session closes:
    # that is its normal end here, not an error worth a traceback.
    internals.treat_cancelled_as_closed(self._optimizer.get_chief_queue_runner())

  def end(self, session):
    try:
      session.run(self._op, options=tf.RunOptions(timeout_in_ms=10000))
    except tf.errors.OpError as e:  # the queue may already be closed: nobody waits any more
      tf.logging.info('Did not release the workers: %s', e.message)


# Seconds a worker of a cluster waits for its session to close before it exits anyway.
CLOSE_TIMEOUT_SECS = 20
_closed = threading.Event()


class CloseWatchdogHook(tf.train.SessionRunHook):
  """Ends the process of a cluster worker whose session close hangs.

  After a worker has been killed mid-step and restarted, closing another worker's session can
  wait forever on the parameter server (for the killed worker's unfinished step). Everything is
  saved by then (the checkpoint hook ran before), so after CLOSE_TIMEOUT_SECS the process says so
  and exits with status 0. `session_closed()`, called once the session is closed, disarms it.
  """

  def __init__(self, timeout_secs=None):
    self._timeout = CLOSE_TIMEOUT_SECS if timeout_secs is None else timeout_secs

  def begin(self):
    _closed.clear()

  def end(self, session):
    del session
    threading.Thread(target=self._watch, name='close_watchdog', daemon=True).start()

  def _watch(self):
    if _closed.wait(self._timeout):
      return
    tf.logging.warning('The session did not close within %d s (a worker of the cluster was '
                       'probably killed mid-step); everything is saved, exiting.', self._timeout)
    internals.exit_now(0)


def session_closed():
  _closed.set()
