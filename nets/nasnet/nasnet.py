"""NASNet-A for CIFAR-10 and ImageNet (mobile 224 and large 331 variants).

B. Zoph, V. Vasudevan, J. Shlens, Q. V. Le, "Learning Transferable Architectures for Scalable Image
Recognition", https://arxiv.org/abs/1707.07012.

The network has no enclosing variable scope: its variables start at `conv0`, `cell_stem_0`,
`cell_<i>`, `reduction_cell_<i>`, `aux_<i>` and `final_layer`, as in the published checkpoints.
The auxiliary head exists only in training graphs.

`arg_scope` is `slim.arg_scope`, reachable through this module as in the original.
"""
import copy

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets.nasnet import nasnet_utils
from nets.nasnet.hparams import HParams

arg_scope = slim.arg_scope


def cifar_config():
  return HParams(
      stem_multiplier=3.0,
      drop_path_keep_prob=0.6,
      num_cells=18,
      use_aux_head=1,
      num_conv_filters=32,
      dense_dropout_keep_prob=1.0,
      filter_scaling_rate=2.0,
      num_reduction_layers=2,
      data_format='NHWC',
      skip_reduction_layer_input=0,
      # 600 epochs of the 50,000 CIFAR-10 training images at batch size 32.
      total_training_steps=937500,
      use_bounded_activation=False,
  )


def large_imagenet_config():
  return HParams(
      stem_multiplier=3.0,
      dense_dropout_keep_prob=0.5,
      num_cells=18,
      filter_scaling_rate=2.0,
      num_conv_filters=168,
      drop_path_keep_prob=0.7,
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
      num_cells=12,
      filter_scaling_rate=2.0,
      drop_path_keep_prob=1.0,
      num_conv_filters=44,
      use_aux_head=1,
      num_reduction_layers=2,
      data_format='NHWC',
      skip_reduction_layer_input=0,
      total_training_steps=250000,
      use_bounded_activation=False,
  )


def _update_hparams(hparams, is_training):
  """Evaluation graphs never drop paths."""
  if not is_training:
    hparams.set_hparam('drop_path_keep_prob', 1.0)


def _nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon):
  batch_norm_params = {
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'scale': True,
      'fused': True,
  }
  layers = [slim.fully_connected, slim.conv2d, slim.separable_conv2d]
  with slim.arg_scope(layers,
                      weights_regularizer=slim.l2_regularizer(weight_decay),
                      weights_initializer=slim.variance_scaling_initializer(mode='FAN_OUT')):
    # The classifiers are linear and named `FC` wherever they are built.
    with slim.arg_scope([slim.fully_connected], activation_fn=None, scope='FC'):
      # Every convolution is followed by batch norm, hence no activation and no biases.
      with slim.arg_scope([slim.conv2d, slim.separable_conv2d],
                          activation_fn=None, biases_initializer=None):
        with slim.arg_scope([slim.batch_norm], **batch_norm_params) as sc:
          return sc


def nasnet_cifar_arg_scope(weight_decay=5e-4, batch_norm_decay=0.9, batch_norm_epsilon=1e-5):
  """Layer defaults of NASNet-A CIFAR: FAN_OUT init, L2 decay, no conv biases, scaled batch norm."""
  return _nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def nasnet_mobile_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997, batch_norm_epsilon=1e-3):
  """Layer defaults of NASNet-A Mobile (see nasnet_cifar_arg_scope)."""
  return _nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def nasnet_large_arg_scope(weight_decay=5e-5, batch_norm_decay=0.9997, batch_norm_epsilon=1e-3):
  """Layer defaults of NASNet-A Large (see nasnet_cifar_arg_scope)."""
  return _nasnet_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def _activation_fn(hparams):
  return tf.nn.relu6 if hparams.use_bounded_activation else tf.nn.relu


def _build_aux_head(net, end_points, num_classes, hparams, scope):
  """Auxiliary classifier on an intermediate cell: end point `AuxLogits`."""
  activation_fn = _activation_fn(hparams)
  with tf.variable_scope(scope):
    aux = tf.identity(net)
    with tf.variable_scope('aux_logits'):
      aux = slim.avg_pool2d(aux, [5, 5], stride=3, padding='VALID')
      aux = slim.conv2d(aux, 128, [1, 1], scope='proj')
      aux = slim.batch_norm(aux, scope='aux_bn0')
      aux = activation_fn(aux)
      # A VALID convolution as large as the feature map leaves 1x1.
      if hparams.data_format == 'NHWC':
        kernel = aux.shape[1:3]
      else:
        kernel = aux.shape[2:4]
      aux = slim.conv2d(aux, 768, kernel.as_list(), padding='VALID')
      aux = slim.batch_norm(aux, scope='aux_bn1')
      aux = activation_fn(aux)
      aux = slim.flatten(aux)
      aux = slim.fully_connected(aux, num_classes)
      end_points['AuxLogits'] = aux


def _imagenet_stem(inputs, hparams, stem_cell, current_step=None):
  """conv0 (3x3 stride 2 VALID) and two stride-2 stem cells at 1/4 and 1/2 filter scaling."""
  num_stem_cells = 2
  net = slim.conv2d(inputs, int(32 * hparams.stem_multiplier), [3, 3], stride=2, padding='VALID',
                    scope='conv0')
  net = slim.batch_norm(net, scope='conv0_bn')
  cell_outputs = [None, net]
  filter_scaling = 1.0 / (hparams.filter_scaling_rate ** num_stem_cells)
  for cell_num in range(num_stem_cells):
    net = stem_cell(net, scope='cell_stem_{}'.format(cell_num), filter_scaling=filter_scaling,
                    stride=2, prev_layer=cell_outputs[-2], cell_num=cell_num,
                    current_step=current_step)
    cell_outputs.append(net)
    filter_scaling *= hparams.filter_scaling_rate
  return net, cell_outputs


def _cifar_stem(inputs, hparams):
  """A single 3x3 convolution that keeps the 32x32 resolution."""
  net = slim.conv2d(inputs, int(hparams.num_conv_filters * hparams.stem_multiplier), 3,
                    scope='l1_stem_3x3')
  net = slim.batch_norm(net, scope='l1_stem_bn')
  return net, [None, net]


class _EndPoints(object):
  """Collects end points and tells when `final_endpoint` has been reached."""

  def __init__(self, final_endpoint):
    self.final_endpoint = final_endpoint
    self.points = {}

  def add(self, name, tensor):
    self.points[name] = tensor
    return bool(self.final_endpoint) and name == self.final_endpoint


def _build_head(net, end_points, num_classes, hparams):
  """`final_layer`: activation, global average pool, dropout, `FC` logits and softmax.

  Returns the network output (pooled features without classes) and whether `final_endpoint` was
  reached. Used by PNASNet too.
  """
  with tf.variable_scope('final_layer'):
    net = _activation_fn(hparams)(net)
    net = nasnet_utils.global_avg_pool(net)
    if end_points.add('global_pool', net) or not num_classes:
      return net
    net = slim.dropout(net, hparams.dense_dropout_keep_prob, scope='dropout')
    logits = slim.fully_connected(net, num_classes)
    if end_points.add('Logits', logits):
      return logits
    predictions = tf.nn.softmax(logits, name='predictions')
    end_points.add('Predictions', predictions)
  return logits


def _build_nasnet_base(images, normal_cell, reduction_cell, num_classes, hparams, is_training,
                       stem_type, final_endpoint=None, current_step=None):
  """Stem, the normal cells with a reduction cell before each reduction index, aux head, head."""
  end_points = _EndPoints(final_endpoint)
  reduction_indices = nasnet_utils.calc_reduction_layers(
      hparams.num_cells, hparams.num_reduction_layers)

  if stem_type == 'imagenet':
    net, cell_outputs = _imagenet_stem(images, hparams, reduction_cell, current_step)
  elif stem_type == 'cifar':
    net, cell_outputs = _cifar_stem(images, hparams)
  else:
    raise ValueError('Unknown stem_type: %s' % stem_type)
  if end_points.add('Stem', net):
    return net, end_points.points

  # The auxiliary classifier sits on the last cell before the second reduction.
  aux_head_cells = [reduction_indices[1] - 1] if len(reduction_indices) >= 2 else []
  activation_fn = _activation_fn(hparams)
  filter_scaling = 1.0
  # Cell position for drop-path, counting the stem and reduction cells.
  true_cell_num = 2 if stem_type == 'imagenet' else 0
  prev_layer = None
  for cell_num in range(hparams.num_cells):
    # With skip_reduction_layer_input the normal cell after a reduction cell reads the state
    # from before the reduction cell, not the reduction cell's input.
    if hparams.skip_reduction_layer_input:
      prev_layer = cell_outputs[-2]
    if cell_num in reduction_indices:
      filter_scaling *= hparams.filter_scaling_rate
      reduction_num = reduction_indices.index(cell_num)
      net = reduction_cell(net, scope='reduction_cell_{}'.format(reduction_num),
                           filter_scaling=filter_scaling, stride=2,
                           prev_layer=cell_outputs[-2], cell_num=true_cell_num,
                           current_step=current_step)
      if end_points.add('Reduction_Cell_{}'.format(reduction_num), net):
        return net, end_points.points
      true_cell_num += 1
      cell_outputs.append(net)
    if not hparams.skip_reduction_layer_input:
      prev_layer = cell_outputs[-2]
    net = normal_cell(net, scope='cell_{}'.format(cell_num), filter_scaling=filter_scaling,
                      stride=1, prev_layer=prev_layer, cell_num=true_cell_num,
                      current_step=current_step)
    if end_points.add('Cell_{}'.format(cell_num), net):
      return net, end_points.points
    true_cell_num += 1
    if (hparams.use_aux_head and cell_num in aux_head_cells and num_classes and is_training):
      _build_aux_head(activation_fn(net), end_points.points, num_classes, hparams,
                      scope='aux_{}'.format(cell_num))
    cell_outputs.append(net)

  return _build_head(net, end_points, num_classes, hparams), end_points.points


def _drop_path_step(hparams, current_step):
  """The step that ramps drop-path in: `current_step`, else the global step (created if needed).

  The global step is fetched here, outside any cell, so that a stand-alone training graph creates
  it as `global_step` (as the training script does) rather than inside the first cell's scope.
  """
  if current_step is None and hparams.drop_path_keep_prob < 1.0:
    current_step = tf.train.get_or_create_global_step()
  return current_step


def _build(images, num_classes, is_training, config, default_config, stem_type, final_endpoint,
           current_step):
  hparams = default_config() if config is None else copy.deepcopy(config)
  _update_hparams(hparams, is_training)
  current_step = _drop_path_step(hparams, current_step)
  if hparams.data_format == 'NCHW':
    images = tf.transpose(images, [0, 3, 1, 2])
  # Drop-path depth scaling counts the two reduction cells, and the two stem cells on ImageNet.
  total_num_cells = hparams.num_cells + 2 + (2 if stem_type == 'imagenet' else 0)
  cell_args = (hparams.num_conv_filters, hparams.drop_path_keep_prob, total_num_cells,
               hparams.total_training_steps, hparams.use_bounded_activation)
  normal_cell = nasnet_utils.NasNetANormalCell(*cell_args)
  reduction_cell = nasnet_utils.NasNetAReductionCell(*cell_args)
  with slim.arg_scope([slim.dropout, nasnet_utils.drop_path, slim.batch_norm],
                      is_training=is_training):
    with slim.arg_scope([slim.avg_pool2d, slim.max_pool2d, slim.conv2d, slim.batch_norm,
                         slim.separable_conv2d, nasnet_utils.factorized_reduction,
                         nasnet_utils.global_avg_pool, nasnet_utils.get_channel_index,
                         nasnet_utils.get_channel_dim],
                        data_format=hparams.data_format):
      return _build_nasnet_base(images, normal_cell=normal_cell, reduction_cell=reduction_cell,
                                num_classes=num_classes, hparams=hparams,
                                is_training=is_training, stem_type=stem_type,
                                final_endpoint=final_endpoint, current_step=current_step)


def build_nasnet_cifar(images, num_classes, is_training=True, config=None, current_step=None):
  """NASNet-A for 32x32 CIFAR images (6 cells per stage, 32 filters).

  Args:
    images: [batch, 32, 32, 3] float tensor (always NHWC; an NCHW config transposes it).
    num_classes: number of outputs; 0 or None returns the pooled features.
    is_training: builds the training graph (batch norm updates, dropout, drop-path, aux head).
    config: an HParams like cifar_config() (copied, never modified).
    current_step: step tensor that ramps drop-path in; defaults to the global step.

  Returns:
    (logits, end_points).
  """
  return _build(images, num_classes, is_training, config, cifar_config, 'cifar', None,
                current_step)


build_nasnet_cifar.default_image_size = 32


def build_nasnet_mobile(images, num_classes, is_training=True, final_endpoint=None, config=None,
                        current_step=None):
  """NASNet-A Mobile for 224x224 ImageNet images (4 cells per stage, 44 filters).

  Arguments as build_nasnet_cifar, plus `final_endpoint`: the end point at which to stop.
  """
  return _build(images, num_classes, is_training, config, mobile_imagenet_config, 'imagenet',
                final_endpoint, current_step)


build_nasnet_mobile.default_image_size = 224


def build_nasnet_large(images, num_classes, is_training=True, final_endpoint=None, config=None,
                       current_step=None):
  """NASNet-A Large for 331x331 ImageNet images (6 cells per stage, 168 filters).

  Arguments as build_nasnet_mobile.
  """
  return _build(images, num_classes, is_training, config, large_imagenet_config, 'imagenet',
                final_endpoint, current_step)


build_nasnet_large.default_image_size = 331
