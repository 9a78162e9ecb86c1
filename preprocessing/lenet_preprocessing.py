"""Image preprocessing of LeNet (MNIST style digits): centre crop or pad, then scale to [-1, 1)."""
import tensorflow.compat.v1 as tf


def preprocess_image(image, output_height, output_width, is_training=False, use_grayscale=False):
  """Centre crop or pad `image` to the output size and map pixel values v to (v - 128) / 128.

  Args:
    image: 3-D image tensor in pixel units (0-255).
    output_height, output_width: output size.
    is_training: ignored; training and evaluation use the same transform.
    use_grayscale: convert an RGB image to one grey channel first.

  Returns:
    float32 tensor [output_height, output_width, channels].
  """
  del is_training  # The same deterministic transform serves training and evaluation.
  image = tf.cast(image, tf.float32)
  if use_grayscale:
    image = tf.image.rgb_to_grayscale(image)
  # The original passed (output_width, output_height); with the arguments in the expected order a
  # non-square output has the requested size. Square outputs are unchanged.
  image = tf.image.resize_image_with_crop_or_pad(image, output_height, output_width)
  image = tf.subtract(image, 128.0)
  image = tf.div(image, 128.0)
  return image
