"""Training throughput of 1 vs 2 CPU clones and of 1 vs 2 workers (with one ps) on this machine.

  python benchmarks/scaling_benchmark.py [--model_name=lenet --image_size=28 --batch_size=32 \
      --steps=300] [--markdown=benchmarks/results/scaling.md]

Each configuration trains from scratch on the sample digits (converted to TFRecords in a
temporary folder), through train_image_classifier.py in subprocesses, as a user would run it.
Throughput is the images/sec that training reports at the end (start-up excluded); with two
workers it is the sum of both workers' images/sec. Not a test: it only reports.
"""
import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_data  # noqa: E402
from deployment import launch_local_cluster  # noqa: E402

FINISHED = re.compile(r'Finished: (\d+) steps in ([0-9.]+) s \(([0-9.]+) images/sec\)')


def _common(args, data_dir, train_dir, steps):
  return ['--train_dir=%s' % train_dir, '--dataset_name=custom', '--dataset_dir=%s' % data_dir,
          '--model_name=%s' % args.model_name, '--train_image_size=%d' % args.image_size,
          '--batch_size=%d' % args.batch_size, '--optimizer=sgd', '--learning_rate=0.01',
          '--learning_rate_decay_type=fixed', '--weight_decay=0', '--log_every_n_steps=100',
          '--save_interval_secs=100000', '--save_summaries_secs=100000',
          '--max_number_of_steps=%d' % steps]


def _finished(text):
  found = FINISHED.findall(text)
  if not found:
    raise RuntimeError('no throughput line in:\n' + text[-3000:])
  steps, secs, rate = found[-1]
  return int(steps), float(secs), float(rate)


def run_clones(args, data_dir, work, num_clones):
  command = [sys.executable, os.path.join(ROOT, 'train_image_classifier.py')] + _common(
      args, data_dir, os.path.join(work, 'clones_%d' % num_clones), args.steps) + [
          '--num_clones=%d' % num_clones, '--clone_on_cpu']
  env = dict(os.environ, PYTHONPATH=ROOT)
  result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
  return _finished(result.stdout + result.stderr)[2]


def run_workers(args, data_dir, work, num_workers, sync):
  extra = ['--sync_replicas', '--replicas_to_aggregate=%d' % num_workers] if sync else []
  # Asynchronous workers share the global steps; synchronous ones each take every step.
  steps = args.steps * (num_workers if not sync else 1)
  local = launch_local_cluster.LocalCluster(
      1, num_workers, _common(args, data_dir, os.path.join(work, 'workers_%d_%s' % (num_workers, sync)),
                              steps) + extra,
      os.path.join(work, 'logs_%d_%s' % (num_workers, sync)))
  try:
    local.wait_workers(timeout=1800)
  finally:
    local.stop()
  rates = []
  for i in range(num_workers):
    with open(local.log_path('worker', i)) as f:
      rates.append(_finished(f.read())[2])
  return sum(rates)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model_name', default='lenet')
  parser.add_argument('--image_size', type=int, default=28)
  parser.add_argument('--batch_size', type=int, default=32, help='per clone')
  parser.add_argument('--steps', type=int, default=300)
  parser.add_argument('--markdown', help='also write the results table to this file')
  args = parser.parse_args()
  work = tempfile.mkdtemp(prefix='scaling_benchmark_')
  data_dir = bench_data.digits_tfrecords(os.path.join(work, 'data'))
  rows = []
  one = run_clones(args, data_dir, work, 1)
  rows.append(('1 clone (CPU)', one, one))
  rows.append(('2 CPU clones', run_clones(args, data_dir, work, 2), one))
  w1 = run_workers(args, data_dir, work, 1, sync=False)
  rows.append(('1 worker + 1 ps', w1, one))
  rows.append(('2 workers + 1 ps, asynchronous', run_workers(args, data_dir, work, 2, False), one))
  rows.append(('2 workers + 1 ps, synchronous', run_workers(args, data_dir, work, 2, True), one))
  lines = ['| configuration | images/sec | vs 1 clone |', '|---|---:|---:|']
  lines += ['| %s | %.0f | %.2fx |' % (name, rate, rate / base) for name, rate, base in rows]
  table = '\n'.join(lines)
  print(table)
  if args.markdown:
    cpu = platform.processor() or platform.machine()
    try:
      with open('/proc/cpuinfo') as f:
        names = [l.split(':', 1)[1].strip() for l in f if l.startswith('model name')]
        cpu = '%s x %d' % (names[0], len(names)) if names else cpu
    except OSError:
      pass
    import tensorflow as tf
    with open(args.markdown, 'w') as f:
      f.write('# Scaling: clones and workers\n\n')
      f.write('Machine: %s, %d logical CPUs, no GPU; %s, Python %s, TensorFlow %s.\n\n'
              % (cpu, os.cpu_count(), platform.platform(), platform.python_version(),
                 tf.__version__))
      f.write('Command: `python benchmarks/scaling_benchmark.py --model_name=%s --image_size=%d '
              '--batch_size=%d --steps=%d --markdown=%s`\n\n'
              % (args.model_name, args.image_size, args.batch_size, args.steps, args.markdown))
      f.write(table + '\n\n')
      f.write('Images/sec count every clone\'s batch (`--batch_size` is per clone); for two workers '
              'the sum of both. Start-up (TensorFlow import, graph, server connection) is '
              'excluded.\n')


if __name__ == '__main__':
  main()
