"""Every network of the factory exports, freezes and runs: export_graph -> random-init checkpoint ->
freeze -> the frozen graph computes what the exported graph computes, on one image, at the network's
default image size (video nets: a 64-frame clip).

New nets added to `nets_factory.networks_map` are picked up automatically. The 18 nets in `_HEAVY`
(large graphs to build, or hundreds of MB of weights to write and fold: about 8 minutes of CPU for
all of them; VGG, AlexNet, OverFeat, NASNet, PNASNet, the video nets, the deepest ResNets) run only
with SLIM_FULL_ZOO=1; the other 32 run on CI. With SLIM_FULL_ZOO=1 all 50 pass
(`pytest -n 2 tests/test_export_zoo.py`: about 6 minutes on 2 cores).
"""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conftest import ROOT  # noqa: F401  (puts the project on sys.path)
from nets import nets_factory
from image_classifier import exporting
from image_classifier import serving

_VIDEO = {'i3d': 64, 's3dg': 64}  # frames of the default clip
_HEAVY = {
    'alexnet_v2', 'overfeat', 'vgg_a', 'vgg_16', 'vgg_19',  # 50-140 M weights: 16-55 s each
    'inception_v4', 'inception_resnet_v2', 'resnet_v1_152', 'resnet_v1_200', 'resnet_v2_152',
    'resnet_v2_200', 'nasnet_cifar', 'nasnet_mobile', 'nasnet_large', 'pnasnet_mobile',
    'pnasnet_large', 'i3d', 's3dg',  # 17-48 s each
}
_FULL = os.environ.get('SLIM_FULL_ZOO') == '1'
_NUM_CLASSES = 10


def _variables(graph_def):
  return [n for n in graph_def.node if n.op in ('VariableV2', 'VarHandleOp')]


def _random_checkpoint(graph_def, path, output, image):
  """Initialises the exported graph's variables with their own initialisers, saves them to `path`
  and returns the exported graph's output for `image` with these values."""
  with tf.Graph().as_default() as graph:
    tf.import_graph_def(graph_def, name='')
    variables = _variables(graph_def)
    assert variables
    init = [graph.get_operation_by_name(n.name + '/Assign') for n in variables]
    values = []
    for node in variables:
      if node.op == 'VarHandleOp':
        values.append(tf.raw_ops.ReadVariableOp(resource=graph.get_tensor_by_name(node.name + ':0'),
                                                dtype=node.attr['dtype'].type))
      else:
        values.append(graph.get_tensor_by_name(node.name + ':0'))
    save = tf.raw_ops.SaveV2(prefix=path, tensor_names=[n.name for n in variables],
                             shape_and_slices=[''] * len(variables), tensors=values)
    with tf.Session() as session:
      session.run(init)
      session.run(save)
      return session.run(output + ':0', {exporting.INPUT_NODE + ':0': image})


@pytest.mark.parametrize('name', sorted(nets_factory.networks_map))
def test_export_freeze_run(name, tmp_path):
  if name in _HEAVY and not _FULL:
    pytest.skip('%s is slow to export, freeze and run on CI; set SLIM_FULL_ZOO=1' % name)
  path = str(tmp_path / 'graph.pb')
  info = exporting.export_graph(name, path, _NUM_CLASSES, batch_size=1,
                                is_video_model=name in _VIDEO, num_frames=_VIDEO.get(name))
  graph_def = exporting.load_graph_def(path)
  assert exporting.read_nodes(path)['output'] == info['output']
  image = np.random.RandomState(0).uniform(-1, 1, info['input_shape']).astype(np.float32)
  checkpoint = str(tmp_path / 'random.ckpt')
  expected = _random_checkpoint(graph_def, checkpoint, info['output'], image)

  frozen, count = exporting.freeze(graph_def, checkpoint, [info['output']])
  # Every variable the output needs (not, e.g., the auxiliary logits') became a constant.
  needed = tf.graph_util.extract_sub_graph(graph_def, [info['output']])
  assert count == len(_variables(needed)) > 0
  kinds = {n.op for n in frozen.node}
  assert not kinds & {'VariableV2', 'VarHandleOp', 'Assign', 'AssignVariableOp', 'ReadVariableOp',
                      'RestoreV2', 'SaveV2', 'TruncatedNormal', 'RandomUniform'}, kinds
  out = serving.run_graph(frozen, exporting.INPUT_NODE, info['output'], image)
  assert out.shape[0] == 1 and out.shape[-1] == _NUM_CLASSES, out.shape
  assert np.all(np.isfinite(out))
  # Freezing lets Grappler fold the weights into the kernels (oneDNN fuses them differently), so
  # float32 rounding differs through the depth of the net: with random weights a probability of
  # 0.08 came out 2.5e-4 apart (inception_v2). A wrong weight or a missed variable is far larger.
  np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-4 * max(1.0, np.abs(expected).max()))
