"""Building blocks of MobileNet V2 / V3: the inverted residual (`expanded_conv`) and friends.

Mark Sandler, Andrew Howard, Menglong Zhu, Andrey Zhmoginov, Liang-Chieh Chen. "MobileNetV2:
Inverted Residuals and Linear Bottlenecks", CVPR 2018. https://arxiv.org/abs/1801.04381
Squeeze-and-excite as used by MobileNet V3: Andrew Howard et al. "Searching for MobileNetV3",
ICCV 2019. https://arxiv.org/abs/1905.02244

Scope names inside a block (`expand`, `depthwise`, `project`, `squeeze_excite/Conv`,
`squeeze_excite/Conv_1`) and the identity ops `input`, `expansion_output`, `depthwise_output`,
`output` are part of the checkpoint and end-point contract.
"""
import functools

import tensorflow.compat.v1 as tf
import tf_slim as slim

from nets import net_utils

_fixed_padding = net_utils.fixed_padding
_make_divisible = net_utils.make_divisible


class ConvBlockError(TypeError):
  """A bad argument to a MobileNet block (a TypeError, as in the original)."""


def _split_divisible(num, num_ways, divisible_by=8):
  """Splits `num` channels into `num_ways` near-equal parts, each a multiple of `divisible_by`."""
  assert num % divisible_by == 0
  assert num / num_ways >= divisible_by
  base = num // num_ways // divisible_by * divisible_by
  result = []
  accumulated = 0
  for i in range(num_ways):
    part = base
    while accumulated + part < num * (i + 1) / num_ways:
      part += divisible_by
    result.append(part)
    accumulated += part
  assert accumulated == num
  return result


def expand_input_by_factor(n, divisible_by=8):
  """An `expansion_size` for `expanded_conv`: n times the block's input depth, made divisible."""
  return functools.partial(_expand_input_by_factor, n, divisible_by)


def _expand_input_by_factor(n, divisible_by, num_inputs, **unused_kwargs):
  return _make_divisible(num_inputs * n, divisible_by)


@slim.add_arg_scope
def split_conv(input_tensor, num_outputs, num_ways, scope, divisible_by=8, **kwargs):
  """A 1x1 convolution, optionally computed as `num_ways` convolutions on channel groups.

  With num_ways == 1 (or groups that would be narrower than `divisible_by`) this is one ordinary
  1x1 convolution named `scope`; otherwise the parts are `<scope>_part_<i>` and are concatenated.
  """
  input_depth = input_tensor.get_shape().as_list()[3]
  if num_ways == 1 or min(input_depth // num_ways, num_outputs // num_ways) < divisible_by:
    return slim.conv2d(input_tensor, num_outputs, [1, 1], scope=scope, **kwargs)

  input_splits = _split_divisible(input_depth, num_ways, divisible_by=divisible_by)
  output_splits = _split_divisible(num_outputs, num_ways, divisible_by=divisible_by)
  parts = tf.split(input_tensor, input_splits, axis=3, name='split_' + scope)
  outputs = []
  part_scope = scope
  for i, (part, part_outputs) in enumerate(zip(parts, output_splits)):
    part_scope = '%s_part_%d' % (scope, i)
    net = slim.conv2d(part, part_outputs, [1, 1], scope=part_scope, **kwargs)
    outputs.append(tf.identity(net, part_scope + '_output'))
  return tf.concat(outputs, 3, name=part_scope + '_concat')


@slim.add_arg_scope
def split_separable_conv2d(input_tensor,
                           num_outputs,
                           scope=None,
                           normalizer_fn=None,
                           stride=1,
                           rate=1,
                           endpoints=None,
                           use_explicit_padding=False):
  """A 3x3 depthwise convolution (`<scope>_depthwise`) then a 1x1 one (`<scope>_pointwise`).

  The MobileNet V1 layer pair expressed as one op of the op-list library.
  """
  with _v1_compatible_scope_naming(scope) as scope:
    dw_scope = scope + 'depthwise'
    endpoints = endpoints if endpoints is not None else {}
    kernel_size = [3, 3]
    padding = 'SAME'
    if use_explicit_padding:
      padding = 'VALID'
      input_tensor = _fixed_padding(input_tensor, kernel_size, rate)
    net = slim.separable_conv2d(input_tensor, None, kernel_size, depth_multiplier=1, stride=stride,
                                rate=rate, normalizer_fn=normalizer_fn, padding=padding,
                                scope=dw_scope)
    endpoints[dw_scope] = net

    pw_scope = scope + 'pointwise'
    net = slim.conv2d(net, num_outputs, [1, 1], stride=1, normalizer_fn=normalizer_fn,
                      scope=pw_scope)
    endpoints[pw_scope] = net
  return net


class _v1_compatible_scope_naming(object):  # pylint: disable=invalid-name
  """Yields the prefix for `split_separable_conv2d` layer names.

  With no scope, a uniquified `separable` variable scope holds the layers (prefix ''); with a scope,
  the layers sit next to each other as `<scope>_depthwise` / `<scope>_pointwise` (prefix
  `<scope>_`), the naming of MobileNet V1.
  """

  def __init__(self, scope):
    self._scope = scope
    self._context = None

  def __enter__(self):
    if self._scope is None:
      self._context = tf.variable_scope(None, default_name='separable')
      self._context.__enter__()
      return ''
    return self._scope + '_'

  def __exit__(self, *exc_info):
    if self._context is not None:
      return self._context.__exit__(*exc_info)
    return False


def _activation_scope(func, activation_fn):
  """arg_scope setting the activation of `func`, or a scope that changes nothing when None."""
  if activation_fn is None:
    return slim.arg_scope([func])
  return slim.arg_scope([func], activation_fn=activation_fn)


@slim.add_arg_scope
def expanded_conv(input_tensor,
                  num_outputs,
                  expansion_size=expand_input_by_factor(6),
                  stride=1,
                  rate=1,
                  kernel_size=(3, 3),
                  residual=True,
                  normalizer_fn=None,
                  split_projection=1,
                  split_expansion=1,
                  split_divisible_by=8,
                  expansion_transform=None,
                  depthwise_location='expansion',
                  depthwise_channel_multiplier=1,
                  endpoints=None,
                  use_explicit_padding=False,
                  padding='SAME',
                  inner_activation_fn=None,
                  depthwise_activation_fn=None,
                  project_activation_fn=tf.identity,
                  depthwise_fn=slim.separable_conv2d,
                  expansion_fn=split_conv,
                  projection_fn=split_conv,
                  scope=None):
  """Inverted residual block: 1x1 expansion, depthwise conv, linear 1x1 projection, residual add.

  Args:
    input_tensor: [batch, height, width, depth] input.
    num_outputs: channels of the projection (the block's output).
    expansion_size: channels after expansion, or a function of `num_inputs` giving them (default:
      6 times the input depth). No `expand` layer is built unless it exceeds the input depth.
    stride: stride of the depthwise convolution.
    rate: atrous rate of the depthwise convolution.
    kernel_size: depthwise kernel.
    residual: add the input to the output when stride is 1 and depths match; or a function
      (input_tensor=, output_tensor=) -> tensor.
    normalizer_fn: normalization of the three convolutions.
    split_projection, split_expansion: compute the 1x1 convolutions as that many channel groups.
    split_divisible_by: each group's width is a multiple of this.
    expansion_transform: optional function (expansion_tensor=, input_tensor=) applied after the
      depthwise convolution, e.g. squeeze-and-excite.
    depthwise_location: 'expansion' (after the expansion, the MobileNet V2 layout), 'input',
      'output', or None for no depthwise layer.
    depthwise_channel_multiplier: channel multiplier of the depthwise convolution.
    endpoints: optional dict receiving `expansion_output`, `depthwise_output`, `projection_output`.
    use_explicit_padding: pad explicitly and convolve with VALID (requires padding 'SAME').
    padding: padding of the depthwise convolution.
    inner_activation_fn: activation of the expansion and depthwise layers (default: arg scope's).
    depthwise_activation_fn: activation of the depthwise layer only, over inner_activation_fn.
    project_activation_fn: activation of the projection (linear by default).
    depthwise_fn, expansion_fn, projection_fn: the layer functions used.
    scope: variable scope, default `expanded_conv` (uniquified).

  Returns:
    The block output (identity op named `output`).

  Raises:
    TypeError: unknown depthwise_location, or explicit padding with padding other than 'SAME'.
  """
  if depthwise_location not in (None, 'input', 'output', 'expansion'):
    raise ConvBlockError('%r is unknown value for depthwise_location' % (depthwise_location,))
  if use_explicit_padding:
    if padding != 'SAME':
      raise ConvBlockError('`use_explicit_padding` should only be used with "SAME" padding.')
    padding = 'VALID'
  depthwise_activation = depthwise_activation_fn or inner_activation_fn

  with tf.variable_scope(scope, default_name='expanded_conv') as s, \
       tf.name_scope(s.original_name_scope), \
       _activation_scope(slim.conv2d, inner_activation_fn), \
       _activation_scope(slim.separable_conv2d, depthwise_activation):
    prev_depth = input_tensor.get_shape().as_list()[3]

    def depthwise(net, **kwargs):
      if use_explicit_padding:
        net = _fixed_padding(net, kernel_size, rate)
      net = depthwise_fn(net, num_outputs=None, kernel_size=kernel_size,
                         depth_multiplier=depthwise_channel_multiplier, stride=stride, rate=rate,
                         normalizer_fn=normalizer_fn, padding=padding, scope='depthwise', **kwargs)
      net = tf.identity(net, name='depthwise_output')
      if endpoints is not None:
        endpoints['depthwise_output'] = net
      return net

    input_tensor = tf.identity(input_tensor, 'input')
    net = input_tensor

    if depthwise_location == 'input':
      net = depthwise(net, activation_fn=None)

    if callable(expansion_size):
      inner_size = expansion_size(num_inputs=prev_depth)
    else:
      inner_size = expansion_size
    if inner_size > net.get_shape().as_list()[3]:
      expand = expansion_fn
      if expand is split_conv:
        expand = functools.partial(split_conv, num_ways=split_expansion,
                                   divisible_by=split_divisible_by, stride=1)
      net = expand(net, inner_size, scope='expand', normalizer_fn=normalizer_fn)
      net = tf.identity(net, 'expansion_output')
      if endpoints is not None:
        endpoints['expansion_output'] = net

    if depthwise_location == 'expansion':
      net = depthwise(net)

    if expansion_transform:
      net = expansion_transform(expansion_tensor=net, input_tensor=input_tensor)

    # The projection always runs: it is what gives the block its number of outputs.
    project = projection_fn
    if project is split_conv:
      project = functools.partial(split_conv, num_ways=split_projection,
                                  divisible_by=split_divisible_by, stride=1)
    net = project(net, num_outputs, scope='project', normalizer_fn=normalizer_fn,
                  activation_fn=project_activation_fn)
    if endpoints is not None:
      endpoints['projection_output'] = net

    if depthwise_location == 'output':
      net = depthwise(net, activation_fn=None)

    if callable(residual):
      net = residual(input_tensor=input_tensor, output_tensor=net)
    elif (residual and stride == 1 and
          net.get_shape().as_list()[3] == input_tensor.get_shape().as_list()[3]):
      net += input_tensor
    return tf.identity(net, name='output')


@slim.add_arg_scope
def squeeze_excite(input_tensor,
                   divisible_by=8,
                   squeeze_factor=3,
                   inner_activation_fn=tf.nn.relu,
                   gating_fn=tf.sigmoid,
                   squeeze_input_tensor=None,
                   pool=None):
  """Squeeze-and-excite: channel gates computed from spatially pooled features.

  Args:
    input_tensor: the tensor to gate.
    divisible_by: the squeezed width is a multiple of this.
    squeeze_factor: squeezed width = input channels / squeeze_factor.
    inner_activation_fn: activation of the squeeze convolution (`Conv`).
    gating_fn: activation of the excite convolution (`Conv_1`), giving the gates.
    squeeze_input_tensor: tensor the gates are computed from (default: input_tensor).
    pool: if set, pool over pool x pool windows (local gates, resized back) instead of globally.

  Returns:
    input_tensor times the gates.
  """
  with tf.variable_scope('squeeze_excite'):
    if squeeze_input_tensor is None:
      squeeze_input_tensor = input_tensor
    input_size = input_tensor.get_shape().as_list()[1:3]
    pool_height, pool_width = squeeze_input_tensor.get_shape().as_list()[1:3]
    input_channels = squeeze_input_tensor.get_shape().as_list()[3]
    output_channels = input_tensor.get_shape().as_list()[3]
    squeeze_channels = _make_divisible(input_channels / squeeze_factor, divisor=divisible_by)

    if pool is not None and pool_height is not None and pool_height >= pool:
      pooled = tf.nn.avg_pool2d(squeeze_input_tensor, (1, pool, pool, 1),
                                strides=(1, pool, pool, 1), padding='VALID')
    else:
      # The mean over the whole map equals a VALID average pool of its full size, and also
      # works when the spatial size is only known at run time.
      pool = None
      pooled = tf.reduce_mean(squeeze_input_tensor, [1, 2], keepdims=True)
    squeeze = slim.conv2d(pooled, squeeze_channels, [1, 1], normalizer_fn=None,
                          activation_fn=inner_activation_fn)
    excite = slim.conv2d(squeeze, output_channels, [1, 1], normalizer_fn=None,
                         activation_fn=gating_fn)
    if pool is not None:
      excite = tf.image.resize_bilinear(excite, input_size, align_corners=True)
    return input_tensor * excite
