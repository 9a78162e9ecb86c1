r"""Where a script's start-up goes: phase by phase, port vs the original path.

Each configuration runs in its own process, as in startup_benchmark.py (same commands, same
environment); this worker records when each phase starts and ends, in seconds from the command:

  imports        the interpreter up, `import tensorflow` done, the script's own modules imported
                 and its flags parsed (absl's main called)
  graph          input pipeline, network, fetches (evaluation); the network and the GraphDef
                 (export)
  session        session created (Saver built, variables restored, queue runners started)
  runs           every Session.run: the first one of each fetch set pays Grappler and the oneDNN
                 primitives, later ones only the computation
  write          the GraphDef serialised and written (export)

The evaluation profile runs two batches (--eval_batches) so the second batch shows what the first
would cost without the one-time work; the time to the first batch's line is the start-up figure.
With --grappler, TensorFlow's meta optimizer logs each pass's time (TF_CPP_VMODULE), summed per pass.

  flock -x /work/cpu.lock python benchmarks/startup_profile.py --scripts=eval,export

A benchmark, not a test; hold /work/cpu.lock exclusively while it runs.
"""
import json
import os
import re
import runpy
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

_T0 = float(os.environ.get('SLIM_PROFILE_T0', time.time()))
_EVENTS = []


def _stamp(name, start, end=None):
  _EVENTS.append((name, start - _T0, (end if end is not None else start) - _T0))


def _timed(owner, attribute, name, describe=None):
  """Replaces owner.attribute by a wrapper recording each call's start and end."""
  original = getattr(owner, attribute)

  def wrapper(*args, **kwargs):
    start = time.time()
    try:
      return original(*args, **kwargs)
    finally:
      _stamp(name + (describe(*args, **kwargs) if describe else ''), start, time.time())

  setattr(owner, attribute, wrapper)


def _fetch_text(session, fetches, *args, **kwargs):
  del session, args, kwargs
  if isinstance(fetches, (list, tuple)):
    names = [getattr(f, 'name', str(f)) for f in fetches]
  else:
    names = [getattr(fetches, 'name', str(fetches))]
  text = ', '.join(names)
  return ' (%s)' % (text if len(text) < 70 else text[:67] + '...')


def _instrument(config, script):
  """Wrappers around the phases' entry points; TensorFlow is imported here (timed)."""
  start = time.time()
  import tensorflow.compat.v1 as tf
  _stamp('import tensorflow', start, time.time())
  from tensorflow.python.client import session as session_lib
  from absl import app
  _timed(session_lib.BaseSession, '__init__', 'tf.Session created')
  _timed(session_lib.BaseSession, 'run', 'Session.run', _fetch_text)
  _timed(tf.train.Saver, '__init__', 'Saver built')
  _timed(tf.train.Saver, 'restore', 'Saver.restore')
  _timed(tf.Graph, 'as_graph_def', 'Graph.as_graph_def')
  original_run = app.run

  def app_run(main, *args, **kwargs):
    def timed_main(argv):
      _stamp('main called (imports done, flags parsed)', time.time())
      return main(argv)
    return original_run(timed_main, *args, **kwargs)

  app.run = app_run
  from nets import nets_factory
  original_get = nets_factory.get_network_fn

  def get_network_fn(*args, **kwargs):
    network_fn = original_get(*args, **kwargs)

    def timed_network(*a, **k):
      begin = time.time()
      try:
        return network_fn(*a, **k)
      finally:
        _stamp('network built', begin, time.time())

    for key in ('default_image_size',):
      setattr(timed_network, key, getattr(network_fn, key))
    return timed_network

  nets_factory.get_network_fn = get_network_fn
  if script == 'eval':
    from image_classifier import evaluation
    from image_classifier import inputs
    _timed(inputs, 'build_model_inputs', 'input pipeline built')
    _timed(evaluation, 'model_fetches', 'fetches built (network, folding, top-k)')
    _timed(tf.train.MonitoredSession, '__init__', 'MonitoredSession created')
  if script == 'export' and config == 'port':
    from foundation import fileio
    _timed(fileio, 'write_atomically', 'GraphDef written')
    from image_classifier import exporting
    _timed(exporting, 'export_graph', 'export_graph')
  _stamp('wrappers installed (nets_factory%s imported)' % (
      ', evaluation' if script == 'eval' else ', exporting' if config == 'port' else ''),
      time.time())


def _worker(config, script, argv):
  _stamp('interpreter up', time.time())
  if config == 'port' or script == 'eval':
    # What the scripts' first import (image_classifier.cli) does before TensorFlow loads.
    from image_classifier import process
    process.prepare_environment(argv)
  else:
    from image_classifier import process
    process.prepare_environment([])
  _instrument(config, script)
  try:
    if script == 'export' and config == 'original':
      import startup_benchmark
      output = argv[argv.index('--output_file') + 1]
      begin = time.time()
      startup_benchmark._original_export('inception_v3' if '--model' not in argv
                                         else argv[argv.index('--model') + 1], output)
      _stamp('original export (imports, graph, write)', begin, time.time())
    else:
      sys.argv = argv
      runpy.run_path(argv[0], run_name='__main__')
  except SystemExit as e:
    if e.code:
      raise
  finally:
    print('PROFILE ' + json.dumps(_EVENTS), flush=True)


def main():
  if len(sys.argv) > 2 and sys.argv[1] == '--worker':
    _worker(sys.argv[2], sys.argv[3], sys.argv[4:])
    return
  from absl import flags
  import bench_data
  import bench_util
  import startup_benchmark  # its flags too: --scripts, --model, --eval_batch, --work_dir
  flags.DEFINE_string('configs', 'original,port', 'Configurations.')
  flags.DEFINE_integer('eval_batches', 2, 'Batches the evaluation profile runs.')
  flags.DEFINE_bool('grappler', False, 'Log and sum Grappler\'s per-pass times.')
  flags.DEFINE_string('extra_port_flags', '', 'Comma-separated flags added to the port\'s command.')
  FLAGS = flags.FLAGS
  FLAGS(sys.argv)
  print(bench_util.cpu_flags_line(), flush=True)
  dataset_dir = bench_data.make_tfrecords(FLAGS.work_dir)
  scripts = [s for s in FLAGS.scripts.split(',') if s]
  checkpoint = startup_benchmark._eval_checkpoint(dataset_dir) if 'eval' in scripts else None
  for script in scripts:
    for config in FLAGS.configs.split(','):
      folder = tempfile.mkdtemp(dir=FLAGS.work_dir, prefix='profile_%s_%s_' % (script, config))
      command = startup_benchmark._commands(script, config, dataset_dir, checkpoint, folder)
      env = startup_benchmark.environment(config, script)
      if script == 'eval':
        command = [c if not c.startswith('--max_num_batches=') else
                   '--max_num_batches=%d' % FLAGS.eval_batches for c in command]
      if config == 'port' and FLAGS.extra_port_flags:
        command += FLAGS.extra_port_flags.split(',')
      if FLAGS.grappler:
        env = dict(env, TF_CPP_MIN_LOG_LEVEL='0', TF_CPP_VMODULE='meta_optimizer=1')
      if script == 'export' and config == 'original':
        argv = [command[1], '--model', FLAGS.model, '--output_file',
                command[-1].split('=', 1)[1]]
      else:
        argv = command[1:]
      env['SLIM_PROFILE_T0'] = repr(time.time())
      result = subprocess.run([sys.executable, os.path.abspath(__file__), '--worker', config,
                               script] + argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env, cwd=ROOT)
      wall = time.time() - float(env['SLIM_PROFILE_T0'])
      events, marker, passes = [], None, {}
      for line in result.stdout.splitlines():
        if line.startswith('PROFILE '):
          events = json.loads(line[len('PROFILE '):])
        if marker is None and startup_benchmark._MARKERS[script].search(line):
          marker = line
        found = re.search(r'^\s+(\w[\w ]*?): (?:Graph size after: .*?, )?time = ([\d.]+)ms', line)
        if found:
          passes[found.group(1)] = passes.get(found.group(1), 0.0) + float(found.group(2))
      print('\n## %s, %s (%.1f s whole command, exit %d)' % (script, config, wall,
                                                              result.returncode))
      if result.returncode:
        print(result.stdout[-3000:])
      for name, start, end in sorted(events, key=lambda e: e[1]):
        print('  %6.2f - %6.2f  (%5.2f s)  %s' % (start, end, end - start, name))
      if passes:
        print('  Grappler passes, summed over the graph items (ms): ' + ', '.join(
            '%s %.0f' % item for item in sorted(passes.items(), key=lambda x: -x[1])))
  print('* ' + bench_util.load_line())


if __name__ == '__main__':
  main()
