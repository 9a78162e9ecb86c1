"""Image preprocessing of CifarNet (CIFAR-10 style 32x32 images).

Training: pad by 4 pixels, take a random crop of the output size, flip, change brightness and
contrast at random. Evaluation: centre crop (or pad) to the output size. Both finish with
per-image standardisation (zero mean, unit variance of each image).
"""
import tensorflow.compat.v1 as tf

_PADDING = 4


def preprocess_for_train(image,
                         output_height,
                         output_width,
                         padding=_PADDING,
                         add_image_summaries=True,
                         use_grayscale=False):
  """Random crop of the padded image, random flip, brightness and contrast, standardisation.

  Args:
    image: 3-D image tensor in pixel units (0-255).
    output_height, output_width: output size.
    padding: zero pixels added on each side before the random crop.
    add_image_summaries: add summaries of the input and the distorted image.
    use_grayscale: return a one-channel grey image.

  Returns:
    float32 tensor [output_height, output_width, channels], standardised.
  """
  if add_image_summaries:
    tf.summary.image('image', tf.expand_dims(image, 0))
  image = tf.cast(image, tf.float32)
  if use_grayscale:
    image = tf.image.rgb_to_grayscale(image)
  if padding > 0:
    image = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
  # The original cropped [h, w, 3] whatever the image held, so grey training crashed; crop with the
  # real channel count instead (3 for RGB, 1 after the grey conversion).
  channels = image.get_shape().with_rank(3)[-1]
  if channels is None:
    channels = tf.shape(image)[2]
  distorted_image = tf.random_crop(image, [output_height, output_width, channels])
  distorted_image = tf.image.random_flip_left_right(distorted_image)
  if add_image_summaries:
    tf.summary.image('distorted_image', tf.expand_dims(distorted_image, 0))
  # Brightness and contrast do not commute, but only one order is used here.
  distorted_image = tf.image.random_brightness(distorted_image, max_delta=63)
  distorted_image = tf.image.random_contrast(distorted_image, lower=0.2, upper=1.8)
  return tf.image.per_image_standardization(distorted_image)


def preprocess_for_eval(image, output_height, output_width, add_image_summaries=True,
                        use_grayscale=False):
  """Centre crop or pad to the output size, then per-image standardisation.

  Returns:
    float32 tensor [output_height, output_width, channels], standardised.
  """
  if add_image_summaries:
    tf.summary.image('image', tf.expand_dims(image, 0))
  image = tf.cast(image, tf.float32)
  if use_grayscale:
    image = tf.image.rgb_to_grayscale(image)
  # The original passed (output_width, output_height) here, so a non-square output came out
  # transposed in size; the arguments are in the order the function expects. Same for square sizes.
  resized_image = tf.image.resize_image_with_crop_or_pad(image, output_height, output_width)
  if add_image_summaries:
    tf.summary.image('resized_image', tf.expand_dims(resized_image, 0))
  return tf.image.per_image_standardization(resized_image)


def preprocess_image(image,
                     output_height,
                     output_width,
                     is_training=False,
                     add_image_summaries=True,
                     use_grayscale=False):
  """Preprocesses one image for training or evaluation.

  Args:
    image: 3-D image tensor in pixel units.
    output_height, output_width: output size.
    is_training: training (random) or evaluation (deterministic) transform.
    add_image_summaries: add image summaries.
    use_grayscale: return a one-channel grey image.

  Returns:
    float32 tensor [output_height, output_width, channels], standardised.
  """
  if is_training:
    return preprocess_for_train(image, output_height, output_width,
                                add_image_summaries=add_image_summaries,
                                use_grayscale=use_grayscale)
  return preprocess_for_eval(image, output_height, output_width,
                             add_image_summaries=add_image_summaries,
                             use_grayscale=use_grayscale)
