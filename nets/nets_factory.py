"""Maps model names to network functions, arg scopes, and what a script needs to know about them.

One table (`_NETS`) is the single source of truth: the public dicts `networks_map` and
`arg_scopes_map` (which users import, as in the original), the preprocessing map, the default
image sizes, and the hints the scripts give about checkpoints are all built from it.
"""
import collections
import functools

import tf_slim as slim

from nets import alexnet
from nets import cifarnet
from nets import i3d
from nets import inception
from nets import lenet
from nets import s3dg
from nets import mobilenet_v1
from nets.mobilenet import mobilenet_v2
from nets.mobilenet import mobilenet_v3
from nets.nasnet import nasnet
from nets.nasnet import pnasnet
from nets import overfeat
from nets import resnet_v1
from nets import resnet_v2
from nets import shufflenet_v1
from nets import shufflenet_v2
from nets import vgg


class UnknownNetworkError(ValueError):
  """Raised for a model name that is not in the factory (a ValueError, as in the original)."""


# name: factory key; fn: network function; arg_scope: its arg-scope function;
# checkpoint_classes: number of outputs of the published ImageNet checkpoint (1000 or 1001), or None
#   when the net has no such checkpoint; tells the scripts when to suggest --labels_offset=1;
# preprocessing: key of preprocessing_factory used when --preprocessing_name is not given;
# logits_scopes: the scopes holding the classifier layers, to suggest --checkpoint_exclude_scopes.
NetSpec = collections.namedtuple(
    'NetSpec', ['name', 'fn', 'arg_scope', 'checkpoint_classes', 'preprocessing', 'logits_scopes'])

_NETS = (
    NetSpec('cifarnet', cifarnet.cifarnet, cifarnet.cifarnet_arg_scope, None, 'cifarnet',
            ('CifarNet/logits',)),
    NetSpec('inception_v1', inception.inception_v1, inception.inception_v3_arg_scope, 1001,
            'inception', ('InceptionV1/Logits',)),
    NetSpec('inception_v2', inception.inception_v2, inception.inception_v3_arg_scope, 1001,
            'inception', ('InceptionV2/Logits',)),
    NetSpec('inception_v3', inception.inception_v3, inception.inception_v3_arg_scope, 1001,
            'inception', ('InceptionV3/Logits', 'InceptionV3/AuxLogits')),
    NetSpec('inception_v4', inception.inception_v4, inception.inception_v4_arg_scope, 1001,
            'inception', ('InceptionV4/Logits', 'InceptionV4/AuxLogits')),
    NetSpec('inception_resnet_v2', inception.inception_resnet_v2,
            inception.inception_resnet_v2_arg_scope, 1001, 'inception',
            ('InceptionResnetV2/Logits', 'InceptionResnetV2/AuxLogits')),
    # Video nets (5-D input, no image preprocessing, no published slim checkpoint); both use the
    # variable scope `InceptionV1`.
    NetSpec('i3d', i3d.i3d, i3d.i3d_arg_scope, None, None, ('InceptionV1/Logits',)),
    NetSpec('s3dg', s3dg.s3dg, s3dg.s3dg_arg_scope, None, None, ('InceptionV1/Logits',)),
    NetSpec('lenet', lenet.lenet, lenet.lenet_arg_scope, None, 'lenet', ('LeNet/fc4',)),
    NetSpec('mobilenet_v1', mobilenet_v1.mobilenet_v1, mobilenet_v1.mobilenet_v1_arg_scope, 1001,
            'inception', ('MobilenetV1/Logits',)),
    NetSpec('mobilenet_v1_075', mobilenet_v1.mobilenet_v1_075, mobilenet_v1.mobilenet_v1_arg_scope,
            1001, 'inception', ('MobilenetV1/Logits',)),
    NetSpec('mobilenet_v1_050', mobilenet_v1.mobilenet_v1_050, mobilenet_v1.mobilenet_v1_arg_scope,
            1001, 'inception', ('MobilenetV1/Logits',)),
    NetSpec('mobilenet_v1_025', mobilenet_v1.mobilenet_v1_025, mobilenet_v1.mobilenet_v1_arg_scope,
            1001, 'inception', ('MobilenetV1/Logits',)),
    # ---- MobileNet V2 / V3 / EdgeTPU (nets/mobilenet/) ----
    NetSpec('mobilenet_v2', mobilenet_v2.mobilenet, mobilenet_v2.training_scope, 1001,
            'inception', ('MobilenetV2/Logits',)),
    NetSpec('mobilenet_v2_140', mobilenet_v2.mobilenet_v2_140, mobilenet_v2.training_scope, 1001,
            'inception', ('MobilenetV2/Logits',)),
    NetSpec('mobilenet_v2_035', mobilenet_v2.mobilenet_v2_035, mobilenet_v2.training_scope, 1001,
            'inception', ('MobilenetV2/Logits',)),
    NetSpec('mobilenet_v3_small', mobilenet_v3.small, mobilenet_v3.training_scope, 1001,
            'inception', ('MobilenetV3/Logits',)),
    NetSpec('mobilenet_v3_large', mobilenet_v3.large, mobilenet_v3.training_scope, 1001,
            'inception', ('MobilenetV3/Logits',)),
    NetSpec('mobilenet_v3_small_minimalistic', mobilenet_v3.small_minimalistic,
            mobilenet_v3.training_scope, 1001, 'inception', ('MobilenetV3/Logits',)),
    NetSpec('mobilenet_v3_large_minimalistic', mobilenet_v3.large_minimalistic,
            mobilenet_v3.training_scope, 1001, 'inception', ('MobilenetV3/Logits',)),
    NetSpec('mobilenet_edgetpu', mobilenet_v3.edge_tpu, mobilenet_v3.training_scope, 1001,
            'inception', ('MobilenetEdgeTPU/Logits',)),
    NetSpec('mobilenet_edgetpu_075', mobilenet_v3.edge_tpu_075, mobilenet_v3.training_scope, 1001,
            'inception', ('MobilenetEdgeTPU/Logits',)),
    # ---- more families are registered below, one block per family ----
    # ---- ShuffleNet V1 / V2 (never in the original slim; no published checkpoints) ----
    # V1 at 1.0x with 3 groups (the paper's main model), other groups and 0.5x; V2 at its 4 widths.
    NetSpec('shufflenet_v1', shufflenet_v1.shufflenet_v1,
            shufflenet_v1.shufflenet_v1_arg_scope, None, 'inception', ('ShufflenetV1/Logits',)),
    NetSpec('shufflenet_v1_g1', shufflenet_v1.shufflenet_v1_g1,
            shufflenet_v1.shufflenet_v1_arg_scope, None, 'inception', ('ShufflenetV1/Logits',)),
    NetSpec('shufflenet_v1_g2', shufflenet_v1.shufflenet_v1_g2,
            shufflenet_v1.shufflenet_v1_arg_scope, None, 'inception', ('ShufflenetV1/Logits',)),
    NetSpec('shufflenet_v1_g4', shufflenet_v1.shufflenet_v1_g4,
            shufflenet_v1.shufflenet_v1_arg_scope, None, 'inception', ('ShufflenetV1/Logits',)),
    NetSpec('shufflenet_v1_g8', shufflenet_v1.shufflenet_v1_g8,
            shufflenet_v1.shufflenet_v1_arg_scope, None, 'inception', ('ShufflenetV1/Logits',)),
    NetSpec('shufflenet_v1_050', shufflenet_v1.shufflenet_v1_050,
            shufflenet_v1.shufflenet_v1_arg_scope, None, 'inception', ('ShufflenetV1/Logits',)),
    NetSpec('shufflenet_v2', shufflenet_v2.shufflenet_v2,
            shufflenet_v2.shufflenet_v2_arg_scope, None, 'inception', ('ShufflenetV2/Logits',)),
    NetSpec('shufflenet_v2_050', shufflenet_v2.shufflenet_v2_050,
            shufflenet_v2.shufflenet_v2_arg_scope, None, 'inception', ('ShufflenetV2/Logits',)),
    NetSpec('shufflenet_v2_150', shufflenet_v2.shufflenet_v2_150,
            shufflenet_v2.shufflenet_v2_arg_scope, None, 'inception', ('ShufflenetV2/Logits',)),
    NetSpec('shufflenet_v2_200', shufflenet_v2.shufflenet_v2_200,
            shufflenet_v2.shufflenet_v2_arg_scope, None, 'inception', ('ShufflenetV2/Logits',)),
    # ---- AlexNet, OverFeat, VGG, ResNet V1/V2 ----
    # alexnet_v2 and overfeat have no entry in the original preprocessing map; 'vgg' is what a
    # user would expect them to resolve to. VGG 16/19 and ResNet V1 checkpoints were converted
    # from Caffe (1000 classes: --labels_offset=1); ResNet V2's were trained in TF (1001).
    NetSpec('alexnet_v2', alexnet.alexnet_v2, alexnet.alexnet_v2_arg_scope, None, 'vgg',
            ('alexnet_v2/fc8',)),
    NetSpec('overfeat', overfeat.overfeat, overfeat.overfeat_arg_scope, None, 'vgg',
            ('overfeat/fc8',)),
    NetSpec('vgg_a', vgg.vgg_a, vgg.vgg_arg_scope, None, 'vgg', ('vgg_a/fc8',)),
    NetSpec('vgg_16', vgg.vgg_16, vgg.vgg_arg_scope, 1000, 'vgg', ('vgg_16/fc8',)),
    NetSpec('vgg_19', vgg.vgg_19, vgg.vgg_arg_scope, 1000, 'vgg', ('vgg_19/fc8',)),
    NetSpec('resnet_v1_50', resnet_v1.resnet_v1_50, resnet_v1.resnet_arg_scope, 1000, 'vgg',
            ('resnet_v1_50/logits',)),
    NetSpec('resnet_v1_101', resnet_v1.resnet_v1_101, resnet_v1.resnet_arg_scope, 1000, 'vgg',
            ('resnet_v1_101/logits',)),
    NetSpec('resnet_v1_152', resnet_v1.resnet_v1_152, resnet_v1.resnet_arg_scope, 1000, 'vgg',
            ('resnet_v1_152/logits',)),
    NetSpec('resnet_v1_200', resnet_v1.resnet_v1_200, resnet_v1.resnet_arg_scope, None, 'vgg',
            ('resnet_v1_200/logits',)),
    NetSpec('resnet_v2_50', resnet_v2.resnet_v2_50, resnet_v2.resnet_arg_scope, 1001, 'vgg',
            ('resnet_v2_50/logits',)),
    NetSpec('resnet_v2_101', resnet_v2.resnet_v2_101, resnet_v2.resnet_arg_scope, 1001, 'vgg',
            ('resnet_v2_101/logits',)),
    NetSpec('resnet_v2_152', resnet_v2.resnet_v2_152, resnet_v2.resnet_arg_scope, 1001, 'vgg',
            ('resnet_v2_152/logits',)),
    NetSpec('resnet_v2_200', resnet_v2.resnet_v2_200, resnet_v2.resnet_arg_scope, None, 'vgg',
            ('resnet_v2_200/logits',)),
    # ---- NASNet-A and PNASNet-5 (no top-level scope: heads are `final_layer` and `aux_<k>`) ----
    # nasnet_cifar has no entry in the original preprocessing map; CIFAR preprocessing fits it.
    NetSpec('nasnet_cifar', nasnet.build_nasnet_cifar, nasnet.nasnet_cifar_arg_scope, None,
            'cifarnet', ('final_layer', 'aux_11')),
    NetSpec('nasnet_mobile', nasnet.build_nasnet_mobile, nasnet.nasnet_mobile_arg_scope, 1001,
            'inception', ('final_layer', 'aux_7')),
    NetSpec('nasnet_large', nasnet.build_nasnet_large, nasnet.nasnet_large_arg_scope, 1001,
            'inception', ('final_layer', 'aux_11')),
    NetSpec('pnasnet_large', pnasnet.build_pnasnet_large, pnasnet.pnasnet_large_arg_scope, 1001,
            'inception', ('final_layer', 'aux_7')),
    NetSpec('pnasnet_mobile', pnasnet.build_pnasnet_mobile, pnasnet.pnasnet_mobile_arg_scope, 1001,
            'inception', ('final_layer', 'aux_5')),
)

NETS = collections.OrderedDict((spec.name, spec) for spec in _NETS)
networks_map = {name: spec.fn for name, spec in NETS.items()}
arg_scopes_map = {name: spec.arg_scope for name, spec in NETS.items()}


def model_names():
  return sorted(NETS)


def network_spec(name):
  """The NetSpec of `name`; an unknown name raises an error that lists the valid ones."""
  if name not in NETS:
    raise UnknownNetworkError('Name of network unknown %s. Valid names: %s'
                              % (name, ', '.join(model_names())))
  return NETS[name]


def get_network_fn(name, num_classes, weight_decay=0.0, is_training=False):
  """Returns network_fn(images, **kwargs) -> (logits, end_points) for the named network.

  The arg scope is built with `weight_decay` and entered on every call, so the factory's weight
  decay always replaces the arg scope's own default (as in the original).
  """
  spec = network_spec(name)
  func = spec.fn

  @functools.wraps(func)
  def network_fn(images, **kwargs):
    with slim.arg_scope(spec.arg_scope(weight_decay=weight_decay)):
      return func(images, num_classes=num_classes, is_training=is_training, **kwargs)

  if hasattr(func, 'default_image_size'):
    network_fn.default_image_size = func.default_image_size
  return network_fn
