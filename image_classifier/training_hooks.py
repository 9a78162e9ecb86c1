"""What runs around each training step: signals, the NaN guard and log, the run's record
(flags.json), the session's configuration, and the saver."""
import json
import math
import os
import signal
import time

import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

from foundation import fileio
from foundation.errors import UserError
from image_classifier import precision


FLAGS_FILE = 'flags.json'


def write_flags(opts, train_dir):
  """The run's flags as train_dir/flags.json, so that a result can be reproduced."""
  try:
    values = opts.flag_values_dict()
  except AttributeError:
    values = dict(vars(opts))
  fileio.write_json_atomically(os.path.join(train_dir, FLAGS_FILE), {
      k: v for k, v in sorted(values.items())
      if isinstance(v, (str, int, float, bool, type(None)))})


def recorded_flags(train_dir):
  """The flags.json of the run in train_dir ({} when there is none or it cannot be read)."""
  try:
    with open(os.path.join(train_dir, FLAGS_FILE)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


class StopOnSignal(tf.train.SessionRunHook):
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


class WriteFlagsAtStart(tf.train.SessionRunHook):
  """Writes train_dir/flags.json once the session exists, so a run that failed to start leaves the
  record of the run before it untouched."""

  def __init__(self, opts):
    self._opts = opts

  def after_create_session(self, session, coord):
    del session, coord
    write_flags(self._opts, self._opts.train_dir)


class GuardAndLog(tf.train.SessionRunHook):
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


# Grappler optimisers that changed nothing in the executed CPU training graphs of slim's nets.
CPU_IDLE_OPTIMIZERS = ('layout_optimizer', 'function_optimization', 'loop_optimization',
                       'implementation_selector', 'common_subgraph_elimination')


def session_config(opts, config):
  """The training session's ConfigProto: the precision rewrite, and one round of Grappler.

  Grappler optimises the graph again for each distinct fetch (initialisation, saving, the step).
  One round of its optimisers finds all that the default two do on slim's training graphs, and
  switching Grappler off entirely slowed the steps. On a CPU-only machine the passes that leave
  slim's CPU training graphs unchanged are skipped (`skip_idle_cpu_optimizers`;
  tests/test_speed.py compares the executed graphs). What each saves is in
  benchmarks/results/speed.md.
  """
  config = precision.session_config(getattr(opts, 'mixed_precision', 'none'), config)
  rewrite = config.graph_options.rewrite_options
  rewrite.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
  if not tf.config.list_physical_devices('GPU'):
    skip_idle_cpu_optimizers(rewrite)
  return config


def skip_idle_cpu_optimizers(rewrite):
  """Turns off, in a RewriterConfig, the Grappler passes that change nothing on CPU."""
  rewrite.disable_tfg_optimizer = True
  for name in CPU_IDLE_OPTIMIZERS:
    setattr(rewrite, name, rewriter_config_pb2.RewriterConfig.OFF)
  rewrite.memory_optimization = rewriter_config_pb2.RewriterConfig.NO_MEM_OPT


class SaverWithMetaGraph(tf.train.Saver):
  """Writes the `.meta` beside every checkpoint, as the original's Supervisor did, even when the
  checkpoint hook is told not to write the graph (which also skips the slow graph.pbtxt)."""

  def save(self, sess, save_path, global_step=None, latest_filename=None, meta_graph_suffix='meta',
           write_meta_graph=True, write_state=True, strip_default_attrs=False,
           save_debug_info=False):
    del write_meta_graph
    return super(SaverWithMetaGraph, self).save(
        sess, save_path, global_step=global_step, latest_filename=latest_filename,
        meta_graph_suffix=meta_graph_suffix, write_meta_graph=True, write_state=write_state,
        strip_default_attrs=strip_default_attrs, save_debug_info=save_debug_info)
