r"""Where a bfloat16 training step's time goes: per op type and dtype, from RunMetadata step stats.

Builds the training step of train_image_classifier.py's defaults (network in training mode, softmax
cross-entropy, weight decay, RMSProp) on in-graph random images, with the session configuration the
training script uses for --mixed_precision (float32 or bfloat16: the oneDNN auto mixed precision
rewrite), runs --warmup steps, then traces --steps steps (FULL_TRACE + partition graphs) and sums
the executed kernels' wall time per (op type, dtype T) over the executed graph. It tells which ops
the rewrite put in bfloat16, which stayed float32, and what the inserted casts cost.

  python benchmarks/bf16_profile.py --model=mobilenet_v1 --precision=bfloat16
  python benchmarks/bf16_profile.py --model=mobilenet_v1 --precision=none --top=25

Several variants of the rewrite's op lists can be timed (--variants), each in its own process
because TensorFlow reads those lists from the environment once per process:

  python benchmarks/bf16_profile.py --model=mobilenet_v1 --variants=none,bfloat16,bf16_dw_fp32

A benchmark, not a test. Untimed runs (the op table) can share the machine; timed ones should hold
/work/cpu.lock exclusively.
"""
import collections
import json
import os
import statistics
import subprocess
import sys
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_string('model', 'mobilenet_v1', 'Network.')
flags.DEFINE_string('precision', 'bfloat16', 'none (float32) or bfloat16.')
flags.DEFINE_integer('batch', 32, 'Batch size.')
flags.DEFINE_integer('warmup', 3, 'Untraced steps first.')
flags.DEFINE_integer('steps', 3, 'Traced steps.')
flags.DEFINE_integer('timed_steps', 0, 'Untraced timed steps after the traced ones (0 = none).')
flags.DEFINE_integer('top', 30, 'Rows of the op table.')
flags.DEFINE_string('variants', '', 'Comma-separated variants (see VARIANTS) run as separate '
                    'processes and compared; empty = profile --precision in this process.')
flags.DEFINE_string('json_out', '', 'Internal: write the summary as JSON here.')
FLAGS = flags.FLAGS

# name -> (precision, environment). The oneDNN rewrite reads these lists of op types (comma
# separated) when it first runs: TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_{ALLOW,DENY,INFER,CLEAR}LIST_
# {ADD,REMOVE}.
_DEPTHWISE = ('DepthwiseConv2dNative,DepthwiseConv2dNativeBackpropInput,'
              'DepthwiseConv2dNativeBackpropFilter')
_DEPTHWISE_GRADS = 'DepthwiseConv2dNativeBackpropInput,DepthwiseConv2dNativeBackpropFilter'
VARIANTS = {
    'none': ('none', {}),
    'bfloat16': ('bfloat16', {}),
    'bf16_dw_fp32': ('bfloat16', {
        'TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_ALLOWLIST_REMOVE': _DEPTHWISE,
        'TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_DENYLIST_ADD': _DEPTHWISE}),
    'bf16_dw_relu6_fp32': ('bfloat16', {
        'TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_ALLOWLIST_REMOVE': _DEPTHWISE,
        'TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_DENYLIST_ADD': _DEPTHWISE + ',Relu6,Relu6Grad',
        'TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_INFERLIST_REMOVE': 'Relu6,Relu6Grad',
        'TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_CLEARLIST_REMOVE': 'Relu6,Relu6Grad'}),
    'bf16_dw_grads_fp32': ('bfloat16', {
        'TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_ALLOWLIST_REMOVE': _DEPTHWISE_GRADS,
        'TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_DENYLIST_ADD': _DEPTHWISE_GRADS}),
}


def _training_step(model, batch):
  import tensorflow.compat.v1 as tf
  from nets import nets_factory
  classes = 1001
  global_step = tf.train.get_or_create_global_step()
  network_fn = nets_factory.get_network_fn(model, classes, weight_decay=0.00004, is_training=True)
  size = network_fn.default_image_size
  images = tf.random.uniform([batch, size, size, 3], -1.0, 1.0)
  labels = tf.random.uniform([batch], 0, classes, dtype=tf.int64)
  logits, end_points = network_fn(images)
  onehot = tf.one_hot(labels, classes)
  if 'AuxLogits' in end_points:
    tf.losses.softmax_cross_entropy(onehot, end_points['AuxLogits'], weights=0.4, scope='aux_loss')
  tf.losses.softmax_cross_entropy(onehot, logits)
  loss = tf.losses.get_total_loss()
  optimizer = tf.train.RMSPropOptimizer(0.01, decay=0.9, momentum=0.9, epsilon=1.0)
  update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
  train = optimizer.minimize(loss, global_step=global_step)
  with tf.control_dependencies([train] + update_ops):
    return tf.identity(loss)


def _dtype_name(node):
  from tensorflow.core.framework import types_pb2
  for key in ('T', 'DstT', 'dtype'):
    if key in node.attr and node.attr[key].type:
      name = types_pb2.DataType.Name(node.attr[key].type)
      if key == 'DstT':
        name = '%s->%s' % (types_pb2.DataType.Name(node.attr['SrcT'].type)[3:].lower(),
                           name[3:].lower())
        return name
      return name[3:].lower()
  return '-'


def profile(model, precision, batch, warmup, steps, timed_steps):
  """Summary dict: per (op, dtype) ms per step, step wall times, counts."""
  from image_classifier import process
  process.configure(['--mixed_precision=%s' % precision])
  import tensorflow.compat.v1 as tf
  from image_classifier import training_hooks
  with tf.Graph().as_default():
    step = _training_step(model, batch)
    config = training_hooks.session_config(types.SimpleNamespace(mixed_precision=precision),
                                           tf.ConfigProto(allow_soft_placement=True))
    with tf.Session(config=config) as session:
      session.run(tf.global_variables_initializer())
      for _ in range(warmup):
        session.run(step)
      options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE, output_partition_graphs=True)
      per_op = collections.defaultdict(float)
      counts = collections.Counter()
      traced = []
      for _ in range(steps):
        metadata = tf.RunMetadata()
        start = time.time()
        session.run(step, options=options, run_metadata=metadata)
        traced.append(time.time() - start)
        kinds = {}
        for graph in metadata.partition_graphs:
          for node in graph.node:
            kinds[node.name] = (node.op, _dtype_name(node))
        for device in metadata.step_stats.dev_stats:
          for stats in device.node_stats:
            kind = kinds.get(stats.node_name)
            if kind is None:
              continue
            per_op[kind] += (stats.all_end_rel_micros or stats.op_end_rel_micros) / 1000.0
      for graph in metadata.partition_graphs:
        for node in graph.node:
          counts[(node.op, _dtype_name(node))] += 1
      timed = []
      for _ in range(timed_steps):
        start = time.time()
        session.run(step)
        timed.append(time.time() - start)
  return {'model': model, 'precision': precision, 'batch': batch,
          'per_op_ms': {'%s|%s' % k: v / steps for k, v in per_op.items()},
          'counts': {'%s|%s' % k: v for k, v in counts.items()},
          'traced_step_s': traced, 'timed_step_s': timed}


def _table(summary, top):
  per_op = summary['per_op_ms']
  total = sum(per_op.values())
  lines = ['| op | dtype | nodes | ms/step (summed kernel time) | share |', '|---|---|---|---|---|']
  for key, ms in sorted(per_op.items(), key=lambda kv: -kv[1])[:top]:
    op, dtype = key.split('|')
    lines.append('| %s | %s | %d | %.1f | %.1f%% |' % (op, dtype, summary['counts'].get(key, 0),
                                                       ms, 100 * ms / total))
  casts = sum(ms for key, ms in per_op.items() if key.startswith('Cast|'))
  cast_nodes = sum(n for key, n in summary['counts'].items() if key.startswith('Cast|'))
  by_dtype = collections.defaultdict(float)
  for key, ms in per_op.items():
    by_dtype[key.split('|')[1]] += ms
  notes = ['summed kernel time %.0f ms/step (2 cores run kernels in parallel, so more than the '
           'wall time); %d Cast nodes take %.1f ms (%.1f%%)' % (total, cast_nodes, casts,
                                                                100 * casts / total),
           'time by dtype T: ' + ', '.join('%s %.0f ms' % kv for kv in
                                            sorted(by_dtype.items(), key=lambda kv: -kv[1])[:6])]
  if summary['timed_step_s']:
    notes.append('untraced step wall time: median %.3f s of %d' % (
        statistics.median(summary['timed_step_s']), len(summary['timed_step_s'])))
  return lines, notes


def _run_variant(name, model, batch, warmup, steps, timed_steps, out_path):
  precision, env = VARIANTS[name]
  command = [sys.executable, os.path.abspath(__file__), '--model=%s' % model,
             '--precision=%s' % precision, '--batch=%d' % batch, '--warmup=%d' % warmup,
             '--steps=%d' % steps, '--timed_steps=%d' % timed_steps, '--json_out=%s' % out_path]
  environment = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL='2', **env)
  result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT)
  if result.returncode:
    print(result.stdout[-2000:], result.stderr[-3000:], file=sys.stderr)
    raise SystemExit('variant %s failed' % name)
  with open(out_path) as f:
    return json.load(f)


def main(argv):
  del argv
  if FLAGS.variants:
    import tempfile
    folder = tempfile.mkdtemp(prefix='bf16_profile_')
    for name in FLAGS.variants.split(','):
      summary = _run_variant(name, FLAGS.model, FLAGS.batch, FLAGS.warmup, FLAGS.steps,
                             FLAGS.timed_steps, os.path.join(folder, name + '.json'))
      lines, notes = _table(summary, FLAGS.top)
      print('\n### %s, %s (batch %d)\n' % (FLAGS.model, name, FLAGS.batch))
      print('\n'.join(lines))
      for note in notes:
        print('* ' + note)
      sys.stdout.flush()
    return
  summary = profile(FLAGS.model, FLAGS.precision, FLAGS.batch, FLAGS.warmup, FLAGS.steps,
                    FLAGS.timed_steps)
  if FLAGS.json_out:
    with open(FLAGS.json_out, 'w') as f:
      json.dump(summary, f)
    return
  lines, notes = _table(summary, FLAGS.top)
  print('\n'.join(lines))
  for note in notes:
    print('* ' + note)


if __name__ == '__main__':
  app.run(main)
