"""Image preprocessing of the VGG and ResNet networks (as used to train the published checkpoints).

Training: resize so that the smaller side is a random length in [256, 512], take a random crop of
the output size and flip it at random. Evaluation: resize so that the smaller side is 256 and take
the central crop. Both subtract the ImageNet channel means and keep pixel units (no scaling), which
is what the Caffe-converted VGG / ResNet V1 weights expect.
"""
import tensorflow.compat.v1 as tf

_R_MEAN = 123.68
_G_MEAN = 116.78
_B_MEAN = 103.94

_RESIZE_SIDE_MIN = 256
_RESIZE_SIDE_MAX = 512


def _crop(image, offset_height, offset_width, crop_height, crop_width):
  """Crops `image` [height, width, channels] at the given offsets to the given size.

  The checks run in the graph because the image size is usually only known at run time.

  Returns:
    The cropped image.

  Raises:
    InvalidArgumentError (at run time): the image is not 3-D or is smaller than the crop.
  """
  original_shape = tf.shape(image)
  rank_assertion = tf.Assert(tf.equal(tf.rank(image), 3), ['Rank of image must be equal to 3.'])
  with tf.control_dependencies([rank_assertion]):
    cropped_shape = tf.stack([crop_height, crop_width, original_shape[2]])

  size_assertion = tf.Assert(
      tf.logical_and(tf.greater_equal(original_shape[0], crop_height),
                     tf.greater_equal(original_shape[1], crop_width)),
      ['Crop size greater than the image size.'])
  offsets = tf.cast(tf.stack([offset_height, offset_width, 0]), tf.int32)
  # tf.slice does not check that the window fits, hence the explicit assertion above.
  with tf.control_dependencies([size_assertion]):
    image = tf.slice(image, offsets, cropped_shape)
  return tf.reshape(image, cropped_shape)


def _check_image_list(image_list, crop_height, crop_width, name):
  """Asserts that every image is 3-D, at least the crop size, and of the first image's size."""
  if not image_list:
    raise ValueError('Empty image_list.')
  rank_assertions = []
  for i, image in enumerate(image_list):
    rank_assertions.append(tf.Assert(
        tf.equal(tf.rank(image), 3),
        ['Wrong rank for tensor %s [expected] [actual]' % image.name, 3, tf.rank(image)],
        name='%s_rank_%d' % (name, i)))
  with tf.control_dependencies([rank_assertions[0]]):
    image_shape = tf.shape(image_list[0])
  image_height, image_width = image_shape[0], image_shape[1]
  crop_size_assert = tf.Assert(
      tf.logical_and(tf.greater_equal(image_height, crop_height),
                     tf.greater_equal(image_width, crop_width)),
      ['Crop size greater than the image size.'])
  asserts = [rank_assertions[0], crop_size_assert]
  for i in range(1, len(image_list)):
    image = image_list[i]
    with tf.control_dependencies([rank_assertions[i]]):
      shape = tf.shape(image)
    asserts.append(tf.Assert(tf.equal(shape[0], image_height),
                             ['Wrong height for tensor %s [expected][actual]' % image.name,
                              shape[0], image_height]))
    asserts.append(tf.Assert(tf.equal(shape[1], image_width),
                             ['Wrong width for tensor %s [expected][actual]' % image.name,
                              shape[1], image_width]))
  return image_height, image_width, asserts


def _random_crop(image_list, crop_height, crop_width):
  """Crops every image of `image_list` at the same random offsets.

  Args:
    image_list: list of 3-D tensors of the same height and width (channels may differ), e.g. an
      image and its segmentation mask.
    crop_height, crop_width: crop size.

  Returns:
    List of the cropped images.

  Raises:
    ValueError: `image_list` is empty.
  """
  image_height, image_width, asserts = _check_image_list(
      image_list, crop_height, crop_width, 'random_crop')
  # Offsets are uniform in [0, size - crop] inclusive; maxval of random_uniform is exclusive.
  with tf.control_dependencies(asserts):
    max_offset_height = tf.reshape(image_height - crop_height + 1, [])
  with tf.control_dependencies(asserts):
    max_offset_width = tf.reshape(image_width - crop_width + 1, [])
  offset_height = tf.random_uniform([], maxval=max_offset_height, dtype=tf.int32)
  offset_width = tf.random_uniform([], maxval=max_offset_width, dtype=tf.int32)
  return [_crop(image, offset_height, offset_width, crop_height, crop_width)
          for image in image_list]


def _central_crop(image_list, crop_height, crop_width):
  """Crops the centre of every image of `image_list`.

  Offsets are (height - crop_height) / 2 and (width - crop_width) / 2, rounded down.

  Returns:
    List of the cropped images.
  """
  outputs = []
  for image in image_list:
    image_height = tf.shape(image)[0]
    image_width = tf.shape(image)[1]
    offset_height = (image_height - crop_height) // 2
    offset_width = (image_width - crop_width) // 2
    outputs.append(_crop(image, offset_height, offset_width, crop_height, crop_width))
  return outputs


def _mean_image_subtraction(image, means):
  """Subtracts `means[i]` from channel i of `image` [height, width, channels].

  Raises:
    ValueError: the image is not 3-D or its channel count differs from len(means).
  """
  if image.get_shape().ndims != 3:
    raise ValueError('Input must be of size [height, width, C>0]')
  num_channels = image.get_shape().as_list()[-1]
  if len(means) != num_channels:
    raise ValueError('len(means) must match the number of channels')
  channels = tf.split(axis=2, num_or_size_splits=num_channels, value=image)
  for i in range(num_channels):
    channels[i] -= means[i]
  return tf.concat(axis=2, values=channels)


def _smallest_size_at_least(height, width, smallest_side):
  """Size that keeps the aspect ratio and makes the smaller side equal to `smallest_side`.

  Args:
    height, width: int32 scalar tensors (or ints), the current size.
    smallest_side: int32 scalar tensor (or int), the wanted smaller side.

  Returns:
    (new_height, new_width) as int32 scalar tensors, rounded to the nearest integer.
  """
  smallest_side = tf.convert_to_tensor(smallest_side, dtype=tf.int32)
  height = tf.cast(height, tf.float32)
  width = tf.cast(width, tf.float32)
  smallest_side = tf.cast(smallest_side, tf.float32)
  scale = tf.cond(tf.greater(height, width),
                  lambda: smallest_side / width,
                  lambda: smallest_side / height)
  new_height = tf.cast(tf.rint(height * scale), tf.int32)
  new_width = tf.cast(tf.rint(width * scale), tf.int32)
  return new_height, new_width


def _aspect_preserving_resize(image, smallest_side):
  """Bilinear resize of `image` [height, width, channels] so its smaller side is `smallest_side`."""
  smallest_side = tf.convert_to_tensor(smallest_side, dtype=tf.int32)
  shape = tf.shape(image)
  new_height, new_width = _smallest_size_at_least(shape[0], shape[1], smallest_side)
  channels = image.get_shape().with_rank(3)[-1]
  image = tf.expand_dims(image, 0)
  resized_image = tf.image.resize_bilinear(image, [new_height, new_width], align_corners=False)
  resized_image = tf.squeeze(resized_image, [0])
  # The original hard-coded 3 channels here; the real count lets grey inputs through.
  resized_image.set_shape([None, None, channels])
  return resized_image


def _to_grayscale_after_means(image, use_grayscale):
  # The original converted to grey BEFORE subtracting the three channel means, which always raised
  # (one channel, three means), so use_grayscale could not work. A user asking for grey input wants
  # the grey version of the centred image: since the grey weights sum to one, converting the
  # mean-subtracted image equals the grey image minus the grey mean.
  if use_grayscale:
    image = tf.image.rgb_to_grayscale(image)
  return image


def preprocess_for_train(image,
                         output_height,
                         output_width,
                         resize_side_min=_RESIZE_SIDE_MIN,
                         resize_side_max=_RESIZE_SIDE_MAX,
                         use_grayscale=False):
  """Random rescale, random crop, random flip and mean subtraction of one RGB image.

  Args:
    image: 3-D RGB image tensor in pixel units (0-255).
    output_height, output_width: output size.
    resize_side_min, resize_side_max: the smaller side is resized to a random integer in this
      inclusive range (which must be at least the output size).
    use_grayscale: return a one-channel grey image.

  Returns:
    float32 tensor [output_height, output_width, 3 (or 1)], channel means subtracted.
  """
  resize_side = tf.random_uniform([], minval=resize_side_min, maxval=resize_side_max + 1,
                                  dtype=tf.int32)
  channels = image.get_shape().with_rank(3)[-1]
  image = _aspect_preserving_resize(image, resize_side)
  image = _random_crop([image], output_height, output_width)[0]
  image.set_shape([output_height, output_width, channels])
  image = tf.cast(image, tf.float32)
  image = tf.image.random_flip_left_right(image)
  image = _mean_image_subtraction(image, [_R_MEAN, _G_MEAN, _B_MEAN])
  return _to_grayscale_after_means(image, use_grayscale)


def preprocess_for_eval(image, output_height, output_width, resize_side, use_grayscale=False):
  """Rescale (smaller side = `resize_side`), central crop and mean subtraction of one RGB image.

  Returns:
    float32 tensor [output_height, output_width, 3 (or 1)], channel means subtracted.
  """
  channels = image.get_shape().with_rank(3)[-1]
  image = _aspect_preserving_resize(image, resize_side)
  image = _central_crop([image], output_height, output_width)[0]
  image.set_shape([output_height, output_width, channels])
  image = tf.cast(image, tf.float32)
  image = _mean_image_subtraction(image, [_R_MEAN, _G_MEAN, _B_MEAN])
  return _to_grayscale_after_means(image, use_grayscale)


def preprocess_image(image,
                     output_height,
                     output_width,
                     is_training=False,
                     resize_side_min=_RESIZE_SIDE_MIN,
                     resize_side_max=_RESIZE_SIDE_MAX,
                     use_grayscale=False):
  """Preprocesses one RGB image for training or evaluation.

  Args:
    image: 3-D RGB image tensor in pixel units.
    output_height, output_width: output size.
    is_training: training (random) or evaluation (deterministic) transform.
    resize_side_min: smaller side after the resize in evaluation; lower bound of the random side
      in training.
    resize_side_max: upper bound of the random side in training (ignored in evaluation).
    use_grayscale: return a one-channel grey image.

  Returns:
    float32 tensor [output_height, output_width, 3 (or 1)], channel means subtracted.
  """
  if is_training:
    return preprocess_for_train(image, output_height, output_width,
                                resize_side_min, resize_side_max, use_grayscale)
  return preprocess_for_eval(image, output_height, output_width, resize_side_min, use_grayscale)
