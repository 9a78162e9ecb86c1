"""PNASNet-5 for ImageNet (mobile 224 and large 331 variants).

C. Liu, B. Zoph, M. Neumann, J. Shlens, W. Hua, L.-J. Li, L. Fei-Fei, A. Yuille, J. Huang,
K. Murphy, "Progressive Neural Architecture Search", https://arxiv.org/abs/1712.00559.

PNASNet uses a single searched cell: where NASNet inserts a reduction cell, PNASNet builds the
normal cell with stride 2. As NASNet it has no enclosing variable scope, and its auxiliary head
exists only in training graphs.

`arg_scope` is `slim.arg_scope`, reachable through this module as in the original.
"""
import copy

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets.nasnet import nasnet
from nets.nasnet import nasnet_utils
from nets.nasnet.hparams import HParams

arg_scope = slim.arg_scope

# The PNASNet-5 cell lives with the other cells; exported here too.
PNasNetNormalCell = nasnet_utils.PNasNetNormalCell

# Stem, heads and config handling are NASNet's (module-private there).
# pylint: disable=protected-access
_EndPoints = nasnet._EndPoints
_activation_fn = nasnet._activation_fn
_build_aux_head = nasnet._build_aux_head
_build_head = nasnet._build_head
_drop_path_step = nasnet._drop_path_step
_imagenet_stem = nasnet._imagenet_stem
_update_hparams = nasnet._update_hparams
# pylint: enable=protected-access


def large_imagenet_config():
  return HParams(
      stem_multiplier=3.0,
      dense_dropout_keep_prob=0.5,
      num_cells=12,
      filter_scaling_rate=2.0,
      num_conv_filters=216,
      drop_path_keep_prob=0.6,
      use_aux_head=1,
      num_reduction_layers=2,
      data_format='NHWC',
      skip_reduction_layer_input=1,
      total_training_steps=250000,
      use_bounded_activation=False,
  )


def mobile_imagenet_config():
  return HParams(
      stem_multiplier=1.0,
      dense_dropout_keep_prob=0.5,
      num_cells=9,
      filter_scaling_rate=2.0,
      num_conv_filters=54,
      drop_path_keep_prob=1.0,
      use_aux_head=1,
      num_reduction_layers=2,
      data_format='NHWC',
      skip_reduction_layer_input=1,
      total_training_steps=250000,
      use_bounded_activation=False,
  )


def pnasnet_large_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997, batch_norm_epsilon=0.001):
  """Layer defaults of PNASNet-5 Large: those of NASNet-A Large with weight decay 4e-5."""
  return nasnet.nasnet_large_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def pnasnet_mobile_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997,
                             batch_norm_epsilon=0.001):
  """Layer defaults of PNASNet-5 Mobile: those of NASNet-A Mobile."""
  return nasnet.nasnet_mobile_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def _build_pnasnet_base(images, normal_cell, num_classes, hparams, is_training,
                        final_endpoint=None, current_step=None):
  """Stem, the cells (stride 2 at the reduction indices), aux head, head."""
  end_points = _EndPoints(final_endpoint)
  reduction_indices = nasnet_utils.calc_reduction_layers(
      hparams.num_cells, hparams.num_reduction_layers)

  net, cell_outputs = _imagenet_stem(images, hparams, normal_cell, current_step)
  if end_points.add('Stem', net):
    return net, end_points.points

  aux_head_cells = [reduction_indices[1] - 1] if len(reduction_indices) >= 2 else []
  activation_fn = _activation_fn(hparams)
  filter_scaling = 1.0
  # Cell position for drop-path, counting the two stem cells.
  true_cell_num = 2
  prev_layer = None
  for cell_num in range(hparams.num_cells):
    is_reduction = cell_num in reduction_indices
    if is_reduction:
      filter_scaling *= hparams.filter_scaling_rate
    # Without skip_reduction_layer_input a strided cell keeps the previous cell's second input.
    if hparams.skip_reduction_layer_input or not is_reduction:
      prev_layer = cell_outputs[-2]
    net = normal_cell(net, scope='cell_{}'.format(cell_num), filter_scaling=filter_scaling,
                      stride=2 if is_reduction else 1, prev_layer=prev_layer,
                      cell_num=true_cell_num, current_step=current_step)
    if end_points.add('Cell_{}'.format(cell_num), net):
      return net, end_points.points
    true_cell_num += 1
    cell_outputs.append(net)
    if (hparams.use_aux_head and cell_num in aux_head_cells and num_classes and is_training):
      _build_aux_head(activation_fn(net), end_points.points, num_classes, hparams,
                      scope='aux_{}'.format(cell_num))

  return _build_head(net, end_points, num_classes, hparams), end_points.points


def _build(images, num_classes, is_training, final_endpoint, config, default_config):
  hparams = default_config() if config is None else copy.deepcopy(config)
  _update_hparams(hparams, is_training)
  current_step = _drop_path_step(hparams, None)
  if hparams.data_format == 'NCHW':
    images = tf.transpose(images, [0, 3, 1, 2])
  # Every PNASNet cell is a normal cell: the total is the cells plus the two stem cells.
  total_num_cells = hparams.num_cells + 2
  normal_cell = PNasNetNormalCell(
      hparams.num_conv_filters, hparams.drop_path_keep_prob, total_num_cells,
      hparams.total_training_steps, hparams.use_bounded_activation)
  with slim.arg_scope([slim.dropout, nasnet_utils.drop_path, slim.batch_norm],
                      is_training=is_training):
    with slim.arg_scope([slim.avg_pool2d, slim.max_pool2d, slim.conv2d, slim.batch_norm,
                         slim.separable_conv2d, nasnet_utils.factorized_reduction,
                         nasnet_utils.global_avg_pool, nasnet_utils.get_channel_index,
                         nasnet_utils.get_channel_dim],
                        data_format=hparams.data_format):
      return _build_pnasnet_base(images, normal_cell=normal_cell, num_classes=num_classes,
                                 hparams=hparams, is_training=is_training,
                                 final_endpoint=final_endpoint, current_step=current_step)


def build_pnasnet_large(images, num_classes, is_training=True, final_endpoint=None, config=None):
  """PNASNet-5 Large for 331x331 ImageNet images (4 cells per stage, 216 filters).

  Args:
    images: [batch, 331, 331, 3] float tensor (always NHWC; an NCHW config transposes it).
    num_classes: number of outputs; 0 or None returns the pooled features.
    is_training: builds the training graph (batch norm updates, dropout, drop-path, aux head).
    final_endpoint: the end point at which to stop, or None for the whole network.
    config: an HParams like large_imagenet_config() (copied, never modified).

  Returns:
    (logits, end_points).
  """
  return _build(images, num_classes, is_training, final_endpoint, config, large_imagenet_config)


build_pnasnet_large.default_image_size = 331


def build_pnasnet_mobile(images, num_classes, is_training=True, final_endpoint=None, config=None):
  """PNASNet-5 Mobile for 224x224 ImageNet images (3 cells per stage, 54 filters).

  Arguments as build_pnasnet_large.
  """
  return _build(images, num_classes, is_training, final_endpoint, config, mobile_imagenet_config)


build_pnasnet_mobile.default_image_size = 224
