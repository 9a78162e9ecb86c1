"""Starts a training cluster of parameter servers and workers on this machine, for trying it out.

  python deployment/launch_local_cluster.py --num_ps=1 --num_workers=2 --log_dir=/tmp/cluster -- \
      --train_dir=/tmp/train --dataset_name=flowers --dataset_dir=/tmp/flowers \
      --model_name=inception_v1 --sync_replicas --replicas_to_aggregate=2

Every task is train_image_classifier.py on its own free port of 127.0.0.1 (loopback only), given
`--job_name`, `--task`, `--ps_hosts` and `--worker_hosts`; the arguments after `--` go to every
worker. Each task's log location is printed. When all workers have finished, the parameter
servers are stopped; Ctrl-C stops every task. Worker 0 (the chief) writes checkpoints to
--train_dir; worker i > 0 gets `<train_dir>/worker_<i>` unless given its own --train_dir.
On real machines run the same train_image_classifier.py commands on each host (see README.md).
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'train_image_classifier.py')


def free_ports(count):
  """`count` distinct ports of 127.0.0.1 that are free now (held open together, then released)."""
  sockets = []
  try:
    for _ in range(count):
      s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
      s.bind(('127.0.0.1', 0))
      sockets.append(s)
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


class LocalCluster(object):
  """The processes of one local cluster: `ps` and `workers` lists of Popen, logs in `log_dir`."""

  def __init__(self, num_ps, num_workers, train_args, log_dir, python=sys.executable,
               worker_args=None, chief_wait_secs=120):
    self.log_dir = log_dir
    os.makedirs(log_dir, exist_ok=True)
    ports = free_ports(num_ps + num_workers)
    self.ps_hosts = ['127.0.0.1:%d' % p for p in ports[:num_ps]]
    self.worker_hosts = ['127.0.0.1:%d' % p for p in ports[num_ps:]]
    self._python = python
    self._train_args = list(train_args)
    self._worker_args = worker_args or {}
    self.ps = [self._start('ps', i) for i in range(num_ps)]
    self.workers = [self.start_worker(0)]
    # The other workers start once the chief has initialised the variables: a worker that finds
    # them uninitialised checks again only 30 s later.
    self._wait_for_chief(chief_wait_secs)
    self.workers += [self.start_worker(i) for i in range(1, num_workers)]

  def _wait_for_chief(self, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline and self.workers[0].poll() is None:
      with open(self.log_path('worker', 0)) as log:
        if 'Done running local_init_op' in log.read():
          return
      time.sleep(0.2)

  def log_path(self, job_name, index):
    return os.path.join(self.log_dir, '%s_%d.log' % (job_name, index))

  def command(self, job_name, index):
    command = [self._python, SCRIPT, '--job_name=%s' % job_name, '--task=%d' % index,
               '--ps_hosts=%s' % ','.join(self.ps_hosts),
               '--worker_hosts=%s' % ','.join(self.worker_hosts)]
    if job_name == 'worker':
      args = list(self._train_args)
      if index > 0:  # only the chief writes to --train_dir
        args = ['--train_dir=' + os.path.join(a[len('--train_dir='):], 'worker_%d' % index)
                if a.startswith('--train_dir=') else a for a in args]
      command += args + list(self._worker_args.get(index, ()))
    return command

  def _start(self, job_name, index, mode='w'):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    env.pop('TF_CONFIG', None)  # the flags describe the cluster
    with open(self.log_path(job_name, index), mode) as log:
      # A new session: Ctrl-C in the launcher's terminal reaches the launcher only, which then
      # stops the tasks itself (the workers save a checkpoint on SIGINT).
      return subprocess.Popen(self.command(job_name, index), stdout=log, stderr=subprocess.STDOUT,
                              cwd=ROOT, env=env, start_new_session=True)

  def start_worker(self, index, mode='w'):
    process = self._start('worker', index, mode)
    if index < len(getattr(self, 'workers', [])):
      self.workers[index] = process
    return process

  def wait_workers(self, timeout=None):
    """Waits for every worker to exit; returns their exit codes (TimeoutExpired after timeout)."""
    deadline = None if timeout is None else time.time() + timeout
    codes = []
    for process in self.workers:
      left = None if deadline is None else max(0.1, deadline - time.time())
      codes.append(process.wait(timeout=left))
    return codes

  def stop(self, grace_secs=20):
    """SIGINT to the workers still running (they save a checkpoint and stop), then, once they are
    gone, SIGTERM to the ps tasks (the workers' last save and session close need them); SIGKILL
    for any task still alive `grace_secs` after its signal."""
    for group, sig in ((self.workers, signal.SIGINT), (self.ps, signal.SIGTERM)):
      for process in group:
        if process.poll() is None:
          process.send_signal(sig)
      deadline = time.time() + grace_secs
      for process in group:
        try:
          process.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
          process.kill()
          process.wait(timeout=10)

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    self.stop()


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog=__doc__[__doc__.index('Every task'):])
  parser.add_argument('--num_ps', type=int, default=1, help='parameter-server tasks')
  parser.add_argument('--num_workers', type=int, default=2, help='worker tasks')
  parser.add_argument('--log_dir', default='/tmp/slim_local_cluster', help='one log per task')
  parser.add_argument('train_args', nargs='*',
                      help='train_image_classifier.py flags for the workers (after --)')
  args = parser.parse_args(argv)
  if args.num_workers < 1 or args.num_ps < 0 or (args.num_workers > 1 and args.num_ps < 1):
    parser.error('need at least one worker, and a ps task when there are several workers')
  cluster = LocalCluster(args.num_ps, args.num_workers, args.train_args, args.log_dir)
  for name, processes in (('ps', cluster.ps), ('worker', cluster.workers)):
    for i, process in enumerate(processes):
      hosts = cluster.ps_hosts if name == 'ps' else cluster.worker_hosts
      print('%s %d (pid %d) on %s: log %s' % (name, i, process.pid, hosts[i],
                                               cluster.log_path(name, i)))
  print('Ctrl-C stops every task.')
  sys.stdout.flush()
  try:
    codes = cluster.wait_workers()
  except KeyboardInterrupt:
    print('\nstopping the cluster...')
    cluster.stop()
    return 130
  cluster.stop()
  for i, code in enumerate(codes):
    print('worker %d exited with %d' % (i, code))
  return 0 if not any(codes) else 1


if __name__ == '__main__':
  sys.exit(main())
