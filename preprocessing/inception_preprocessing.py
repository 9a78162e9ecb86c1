"""Image preprocessing of the Inception networks (also used by MobileNet, NASNet and PNASNet).

Training: a random crop that keeps part of the (optional) object box, a resize to the network's input
size, a random horizontal flip and random colour changes. Evaluation: a central crop of 87.5% of each
side and a bilinear resize. Both return float images scaled to [-1, 1].
"""
import tensorflow.compat.v1 as tf


def apply_with_random_selector(x, func, num_cases):
  """Applies `func(x, case)` for one `case` drawn uniformly from [0, num_cases).

  Args:
    x: input tensor.
    func: python function `func(x, case)` where `case` is a python integer.
    num_cases: number of cases to choose from.

  Returns:
    The output of the selected branch. Every branch is in the graph, but only the chosen one receives
    `x` (through a switch), so the others do no work.
  """
  selector = tf.random_uniform([], maxval=num_cases, dtype=tf.int32)
  # switch() forwards x on its second output only when the predicate holds; merge() then returns
  # whichever branch produced a value.
  branches = [func(tf.raw_ops.Switch(data=x, pred=tf.equal(selector, case))[1], case)
              for case in range(num_cases)]
  return tf.raw_ops.Merge(inputs=branches)[0]


def distort_color(image, color_ordering=0, fast_mode=True, scope=None):
  """Randomly changes the brightness, saturation, hue and contrast of an image in [0, 1].

  The order of the changes matters, so the caller picks one of several orderings at random.

  Args:
    image: 3-D float tensor [height, width, 3] with values in [0, 1].
    color_ordering: which ordering to use: 0-1 in fast mode, 0-3 otherwise.
    fast_mode: only change brightness and saturation (hue and contrast are slow).
    scope: optional name scope.

  Returns:
    The colour-distorted image, clipped to [0, 1].

  Raises:
    ValueError: if `color_ordering` is out of range.
  """
  def brightness(x):
    return tf.image.random_brightness(x, max_delta=32. / 255.)

  def saturation(x):
    return tf.image.random_saturation(x, lower=0.5, upper=1.5)

  def hue(x):
    return tf.image.random_hue(x, max_delta=0.2)

  def contrast(x):
    return tf.image.random_contrast(x, lower=0.5, upper=1.5)

  if fast_mode:
    orderings = {0: (brightness, saturation), 1: (saturation, brightness)}
  else:
    orderings = {0: (brightness, saturation, hue, contrast),
                 1: (saturation, brightness, contrast, hue),
                 2: (contrast, hue, brightness, saturation),
                 3: (hue, saturation, contrast, brightness)}
  if color_ordering not in orderings:
    raise ValueError('color_ordering must be in %s, got %r' % (sorted(orderings), color_ordering))
  with tf.name_scope(scope, 'distort_color', [image]):
    for change in orderings[color_ordering]:
      image = change(image)
    # The changes can push values outside the valid range.
    return tf.clip_by_value(image, 0.0, 1.0)


# The training crop's constraints (also used by the JPEG-window path below).
_CROP = {'min_object_covered': 0.1, 'aspect_ratio_range': (0.75, 1.33), 'area_range': (0.05, 1.0),
         'max_attempts': 100}
_WHOLE_IMAGE_BOX = [0.0, 0.0, 1.0, 1.0]


def distorted_bounding_box_crop(image,
                                bbox,
                                min_object_covered=_CROP['min_object_covered'],
                                aspect_ratio_range=_CROP['aspect_ratio_range'],
                                area_range=_CROP['area_range'],
                                max_attempts=_CROP['max_attempts'],
                                scope=None):
  """Crops a random part of `image` that covers part of the object box(es).

  Args:
    image: 3-D tensor [height, width, channels].
    bbox: float tensor [1, num_boxes, 4] of (ymin, xmin, ymax, xmax) in [0, 1] coordinates.
    min_object_covered: the crop must contain at least this fraction of some box.
    aspect_ratio_range: allowed range of width / height of the crop.
    area_range: allowed range of the crop's fraction of the image area.
    max_attempts: tries to find a valid crop before returning the whole image.
    scope: optional name scope.

  Returns:
    (cropped_image, distort_bbox): the crop, and the box it came from as [1, 1, 4].
  """
  with tf.name_scope(scope, 'distorted_bounding_box_crop', [image, bbox]):
    # When the data set has no box, the whole image is the box, so any crop satisfying the area and
    # aspect ratio constraints is acceptable.
    bbox_begin, bbox_size, distort_bbox = tf.image.sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=bbox,
        min_object_covered=min_object_covered,
        aspect_ratio_range=aspect_ratio_range,
        area_range=area_range,
        max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=True)
    cropped_image = tf.slice(image, bbox_begin, bbox_size)
    return cropped_image, distort_bbox


def _num_channels(image, default=3):
  channels = image.get_shape().with_rank_at_least(3)[-1]
  return channels if channels is not None else default


def preprocess_for_train(image,
                         height,
                         width,
                         bbox,
                         fast_mode=True,
                         scope=None,
                         add_image_summaries=True,
                         random_crop=True,
                         use_grayscale=False):
  """Distorts one RGB image for training.

  Args:
    image: 3-D RGB image tensor; integer types are rescaled to [0, 1], floats must already be in [0, 1].
    height, width: output size.
    bbox: float tensor [1, num_boxes, 4] of object boxes (ymin, xmin, ymax, xmax), or None for the
      whole image.
    fast_mode: use only the bilinear resize and the fast colour changes.
    scope: optional name scope.
    add_image_summaries: add image summaries of the intermediate steps.
    random_crop: crop a random box first; if False the whole image is resized.
    use_grayscale: return a one-channel grey image.

  Returns:
    float32 tensor [height, width, 3 (or 1)] with values in [-1, 1].
  """
  with tf.name_scope(scope, 'distort_image', [image, height, width, bbox]):
    if bbox is None:
      bbox = tf.constant(_WHOLE_IMAGE_BOX, dtype=tf.float32, shape=[1, 1, 4])
    if image.dtype != tf.float32:
      image = tf.image.convert_image_dtype(image, dtype=tf.float32)
    channels = _num_channels(image)
    if add_image_summaries:
      image_with_box = tf.image.draw_bounding_boxes(tf.expand_dims(image, 0), bbox)
      tf.summary.image('image_with_bounding_boxes', image_with_box)

    if random_crop:
      distorted_image, distorted_bbox = distorted_bounding_box_crop(image, bbox)
      distorted_image.set_shape([None, None, channels])
      if add_image_summaries:
        image_with_distorted_box = tf.image.draw_bounding_boxes(
            tf.expand_dims(image, 0), distorted_bbox)
        tf.summary.image('images_with_distorted_bounding_box', image_with_distorted_box)
    else:
      distorted_image = image

    return _resize_and_distort(distorted_image, height, width, fast_mode, use_grayscale,
                               add_image_summaries, random_crop)


def _resize_to_unit_range(image, height, width, method):
  """Resizes a [0, 1] float image, or an integer one then rescales it to [0, 1]."""
  resized = tf.cast(tf.image.resize_images(image, [height, width], method), tf.float32)
  if image.dtype.is_integer:
    resized = tf.multiply(resized, 1.0 / image.dtype.max)
  return resized


def _resize_and_distort(image, height, width, fast_mode, use_grayscale, add_image_summaries=False,
                        random_crop=True):
  """The part of the training transform after the crop: resize, flip, colours, scale to [-1, 1].

  `image` is float in [0, 1], or an integer image that is rescaled to [0, 1] after the resize (the
  resize is linear, so this equals rescaling first up to float rounding, on far fewer pixels).
  """
  # Using all four resize methods costs time, so fast mode keeps bilinear only.
  num_resize_cases = 1 if fast_mode else 4
  distorted_image = apply_with_random_selector(
      image, lambda x, method: _resize_to_unit_range(x, height, width, method),
      num_cases=num_resize_cases)
  if add_image_summaries:
    tf.summary.image('cropped_resized_image' if random_crop else 'resized_image',
                     tf.expand_dims(distorted_image, 0))

  distorted_image = tf.image.random_flip_left_right(distorted_image)

  num_distort_cases = 1 if fast_mode else 4
  distorted_image = apply_with_random_selector(
      distorted_image,
      lambda x, ordering: distort_color(x, ordering, fast_mode),
      num_cases=num_distort_cases)

  if use_grayscale:
    distorted_image = tf.image.rgb_to_grayscale(distorted_image)
  if add_image_summaries:
    tf.summary.image('final_distorted_image', tf.expand_dims(distorted_image, 0))
  distorted_image = tf.subtract(distorted_image, 0.5)
  distorted_image = tf.multiply(distorted_image, 2.0)
  return distorted_image


# Decoding a window treats its edges as the image's: chroma upsampling then changes the pixels
# nearest a cut edge. Decoding this much more on each side (clipped to the image) and slicing it
# off gives exactly the pixels of a full decode.
_WINDOW_MARGIN = 16


def decode_jpeg_window(encoded, shape, begin, size, channels=3):
  """The pixels `[begin:begin + size]` (rows, columns) of the JPEG `encoded` of size `shape`.

  Equal to decoding the whole image and slicing it, but only the window (plus a small margin) is
  decoded.
  """
  top = tf.maximum(begin[0] - _WINDOW_MARGIN, 0)
  left = tf.maximum(begin[1] - _WINDOW_MARGIN, 0)
  bottom = tf.minimum(begin[0] + size[0] + _WINDOW_MARGIN, shape[0])
  right = tf.minimum(begin[1] + size[1] + _WINDOW_MARGIN, shape[1])
  padded = tf.image.decode_and_crop_jpeg(
      encoded, tf.stack([top, left, bottom - top, right - left]), channels=channels)
  return tf.slice(padded, tf.stack([begin[0] - top, begin[1] - left, 0]),
                  tf.stack([size[0], size[1], -1]))


def preprocess_jpeg_for_train(encoded, height, width, bbox=None, fast_mode=True, channels=3,
                              random_crop=True, use_grayscale=False, scope=None):
  """`preprocess_for_train` from encoded JPEG bytes, decoding only the pixels the crop keeps.

  The crop window is drawn by the same sampler with the same constraints, from the size in the
  JPEG header; `decode_jpeg_window` decodes just that window (the same pixels as a full decode then
  a slice) and the rescaling to [0, 1] comes after the resize. The outputs therefore
  follow the same distribution as `preprocess_for_train` on the decoded image, for a fraction of
  the decode and conversion work. No image summaries (this runs inside tf.data).
  """
  with tf.name_scope(scope, 'distort_jpeg', [encoded, height, width, bbox]):
    if random_crop:
      if bbox is None:
        bbox = tf.constant(_WHOLE_IMAGE_BOX, dtype=tf.float32, shape=[1, 1, 4])
      shape = tf.image.extract_jpeg_shape(encoded)
      begin, size, _ = tf.image.sample_distorted_bounding_box(
          shape, bounding_boxes=bbox, use_image_if_no_bounding_boxes=True, **_CROP)
      image = decode_jpeg_window(encoded, shape, begin, size, channels)
    else:
      image = tf.image.decode_jpeg(encoded, channels=channels)
    image.set_shape([None, None, channels])
    return _resize_and_distort(image, height, width, fast_mode, use_grayscale)


def preprocess_for_eval(image,
                        height,
                        width,
                        central_fraction=0.875,
                        scope=None,
                        central_crop=True,
                        use_grayscale=False):
  """Prepares one image for evaluation: central crop, bilinear resize, scale to [-1, 1].

  Args:
    image: 3-D image tensor; integer types are rescaled to [0, 1], floats must already be in [0, 1].
    height, width: output size; if either is falsy the image is not resized.
    central_fraction: fraction of each side kept by the central crop.
    scope: optional name scope.
    central_crop: apply the central crop (when `central_fraction` is set).
    use_grayscale: return a one-channel grey image.

  Returns:
    float32 image tensor with values in [-1, 1].
  """
  with tf.name_scope(scope, 'eval_image', [image, height, width]):
    if image.dtype != tf.float32:
      image = tf.image.convert_image_dtype(image, dtype=tf.float32)
    if use_grayscale:
      image = tf.image.rgb_to_grayscale(image)
    if central_crop and central_fraction:
      image = tf.image.central_crop(image, central_fraction=central_fraction)
    if height and width:
      # The published checkpoints were evaluated with this exact resize (TF1 bilinear, corners not
      # aligned, no half-pixel centres), so it is kept rather than the TF2 tf.image.resize.
      image = tf.expand_dims(image, 0)
      image = tf.image.resize_bilinear(image, [height, width], align_corners=False)
      image = tf.squeeze(image, [0])
    image = tf.subtract(image, 0.5)
    image = tf.multiply(image, 2.0)
    return image


def _central_window(shape, central_fraction):
  """(begin, size) of `tf.image.central_crop` on an image of `shape`, computed as it does."""
  sides = tf.cast(shape[:2], tf.float64)
  begin = tf.cast((sides - sides * central_fraction) / 2, tf.int32)
  return begin, shape[:2] - 2 * begin


def preprocess_jpeg_for_eval(encoded, height, width, central_fraction=0.875, channels=3,
                             central_crop=True, use_grayscale=False, scope=None):
  """`preprocess_for_eval` from encoded JPEG bytes, decoding only the central crop.

  The crop's window is computed from the JPEG header exactly as `tf.image.central_crop` computes it
  from the decoded image, and the per-pixel conversion to float then runs on the crop alone: the
  result is the same tensor as `preprocess_for_eval` of the whole decoded image.
  """
  with tf.name_scope(scope, 'eval_jpeg', [encoded, height, width]):
    if central_crop and central_fraction and central_fraction < 1.0:
      shape = tf.image.extract_jpeg_shape(encoded)
      begin, size = _central_window(shape, central_fraction)
      image = decode_jpeg_window(encoded, shape, begin, size, channels)
    else:
      image = tf.image.decode_jpeg(encoded, channels=channels)
    image.set_shape([None, None, channels])
    return preprocess_for_eval(image, height, width, central_crop=False,
                               use_grayscale=use_grayscale)


def preprocess_image(image,
                     height,
                     width,
                     is_training=False,
                     bbox=None,
                     fast_mode=True,
                     add_image_summaries=True,
                     crop_image=True,
                     use_grayscale=False):
  """Preprocesses one image for training or evaluation.

  Args:
    image: 3-D image tensor [height, width, channels].
    height, width: output size.
    is_training: training (random distortions) or evaluation (deterministic).
    bbox: object boxes for the training crop, see `preprocess_for_train`.
    fast_mode: training only; see `preprocess_for_train`.
    add_image_summaries: training only; add image summaries.
    crop_image: random crop in training, central crop in evaluation.
    use_grayscale: return a one-channel grey image.

  Returns:
    float32 image tensor with values in [-1, 1].
  """
  if is_training:
    return preprocess_for_train(image, height, width, bbox, fast_mode,
                                add_image_summaries=add_image_summaries,
                                random_crop=crop_image,
                                use_grayscale=use_grayscale)
  return preprocess_for_eval(image, height, width, central_crop=crop_image,
                             use_grayscale=use_grayscale)
