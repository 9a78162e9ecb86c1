"""Small helpers several network families share (each family keeps its original name for them)."""
import tensorflow.compat.v1 as tf


def fixed_padding(inputs, kernel_size, rate=1):
  """Zero-pads H and W of an NHWC tensor so that a VALID convolution of `kernel_size` (dilated by
  `rate`) gives the size SAME would, whatever the input's parity.

  SAME puts the odd pixel of padding at the end only for some sizes; padding explicitly (the extra
  pixel at the end) makes the result the same for even and odd inputs.
  """
  effective = [kernel_size[0] + (kernel_size[0] - 1) * (rate - 1),
               kernel_size[1] + (kernel_size[1] - 1) * (rate - 1)]
  pad_total = [effective[0] - 1, effective[1] - 1]
  pad_beg = [pad_total[0] // 2, pad_total[1] // 2]
  pad_end = [pad_total[0] - pad_beg[0], pad_total[1] - pad_beg[1]]
  return tf.pad(inputs, [[0, 0], [pad_beg[0], pad_end[0]], [pad_beg[1], pad_end[1]], [0, 0]])


def make_divisible(v, divisor, min_value=None):
  """Rounds `v` to the nearest multiple of `divisor` (at least `min_value`), losing at most 10%."""
  if min_value is None:
    min_value = divisor
  new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
  if new_v < 0.9 * v:
    new_v += divisor
  return new_v


def reduced_kernel_size_for_small_input(input_tensor, kernel_size):
  """Shrinks a [height, width] pooling/conv kernel to the input's static size when that is smaller.

  When the spatial size is unknown at graph-building time the kernel is returned unchanged, as the
  networks then assume an input of their default size.
  """
  shape = input_tensor.get_shape().as_list()
  if shape[1] is None or shape[2] is None:
    return kernel_size
  return [min(shape[1], kernel_size[0]), min(shape[2], kernel_size[1])]
