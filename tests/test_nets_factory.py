"""The factory table: every original name, its maps, and the checks that make a new net tested."""
import os

import pytest
import tensorflow.compat.v1 as tf

from nets import nets_factory
from foundation.errors import UserError
from zoo_helpers import MANIFEST_DIR

ORIGINAL_NAMES = """alexnet_v2 cifarnet overfeat vgg_a vgg_16 vgg_19 inception_v1 inception_v2 inception_v3
inception_v4 inception_resnet_v2 i3d s3dg lenet resnet_v1_50 resnet_v1_101 resnet_v1_152 resnet_v1_200
resnet_v2_50 resnet_v2_101 resnet_v2_152 resnet_v2_200 mobilenet_v1 mobilenet_v1_075 mobilenet_v1_050
mobilenet_v1_025 mobilenet_v2 mobilenet_v2_140 mobilenet_v2_035 mobilenet_v3_small mobilenet_v3_large
mobilenet_v3_small_minimalistic mobilenet_v3_large_minimalistic mobilenet_edgetpu mobilenet_edgetpu_075
nasnet_cifar nasnet_mobile nasnet_large pnasnet_large pnasnet_mobile""".split()
SHUFFLENETS = """shufflenet_v1 shufflenet_v1_g1 shufflenet_v1_g2 shufflenet_v1_g4 shufflenet_v1_g8
shufflenet_v1_050 shufflenet_v2 shufflenet_v2_050 shufflenet_v2_150 shufflenet_v2_200""".split()


def test_the_maps_hold_every_original_name_and_the_shufflenets():
  assert len(ORIGINAL_NAMES) == 40
  assert set(nets_factory.networks_map) == set(ORIGINAL_NAMES) | set(SHUFFLENETS)
  assert set(nets_factory.arg_scopes_map) == set(nets_factory.networks_map)


@pytest.mark.parametrize('name', sorted(nets_factory.NETS))
def test_every_net_has_a_size_a_manifest_and_a_consistent_row(name):
  spec = nets_factory.network_spec(name)
  fn = nets_factory.get_network_fn(name, num_classes=10)
  assert fn.default_image_size == spec.fn.default_image_size > 0
  assert os.path.exists(os.path.join(MANIFEST_DIR, name + '.txt')), 'no checked-in manifest'
  assert spec.checkpoint_classes in (None, 1000, 1001)
  assert spec.logits_scopes and all(isinstance(s, str) for s in spec.logits_scopes)


def test_unknown_name_lists_the_valid_ones():
  with pytest.raises(ValueError) as error:
    nets_factory.get_network_fn('resnet_v9', num_classes=10)
  # A plain ValueError, as the original raised; the application layer makes it a user's error.
  assert not isinstance(error.value, UserError)
  assert 'Name of network unknown resnet_v9' in str(error.value)
  assert 'inception_v3' in str(error.value) and 'shufflenet_v2' in str(error.value)


def test_factory_weight_decay_replaces_the_arg_scope_default():
  for decay, expected in ((0.0, 0), (1e-3, 4)):
    with tf.Graph().as_default():
      fn = nets_factory.get_network_fn('lenet', num_classes=10, weight_decay=decay)
      fn(tf.zeros([1, 28, 28, 1]))
      assert len(tf.losses.get_regularization_losses()) == expected
