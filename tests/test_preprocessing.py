"""Tests of the preprocessing modules and of preprocessing_factory.

Eval transforms are checked value by value on small inputs whose expected output is worked out by
hand; train transforms (random) are checked for shape, dtype and range over several runs.
"""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from foundation.errors import UserError
from preprocessing import cifarnet_preprocessing
from preprocessing import inception_preprocessing
from preprocessing import lenet_preprocessing
from preprocessing import preprocessing_factory
from preprocessing import vgg_preprocessing

_VGG_MEANS = np.array([123.68, 116.78, 103.94], np.float32)

# The original factory's map (slim_spec.md section 3.1): name -> module key.
_ORIGINAL_MAP = dict(
    [('cifarnet', 'cifarnet'), ('lenet', 'lenet')]
    + [(n, 'inception') for n in (
        'inception', 'inception_v1', 'inception_v2', 'inception_v3', 'inception_v4',
        'inception_resnet_v2', 'mobilenet_v1', 'mobilenet_v2', 'mobilenet_v2_035',
        'mobilenet_v2_140', 'mobilenet_v3_small', 'mobilenet_v3_large',
        'mobilenet_v3_small_minimalistic', 'mobilenet_v3_large_minimalistic', 'mobilenet_edgetpu',
        'mobilenet_edgetpu_075', 'nasnet_mobile', 'nasnet_large', 'pnasnet_mobile',
        'pnasnet_large')]
    + [(n, 'vgg') for n in (
        'vgg', 'vgg_a', 'vgg_16', 'vgg_19', 'resnet_v1_50', 'resnet_v1_101', 'resnet_v1_152',
        'resnet_v1_200', 'resnet_v2_50', 'resnet_v2_101', 'resnet_v2_152', 'resnet_v2_200')])

_MODULES = {'cifarnet': cifarnet_preprocessing, 'inception': inception_preprocessing,
            'lenet': lenet_preprocessing, 'vgg': vgg_preprocessing}


def _run(fn, image, feed_placeholder=False):
  """Builds fn(image_tensor) in a fresh graph and returns its value (and static shape)."""
  with tf.Graph().as_default():
    if feed_placeholder:
      x = tf.placeholder(tf.as_dtype(image.dtype), [None, None, image.shape[2]])
      out = fn(x)
      feed = {x: image}
    else:
      out = fn(tf.constant(image))
      feed = None
    with tf.Session() as sess:
      return sess.run(out, feed), out.get_shape().as_list()


def _position_image(height, width, dtype=np.uint8):
  """Channel 0 = row index, channel 1 = column index, channel 2 = 100."""
  rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing='ij')
  return np.stack([rows, cols, np.full_like(rows, 100)], axis=-1).astype(dtype)


# ---------------------------------------------------------------- inception

def test_inception_eval_of_constant_image_is_scaled_to_minus_one_one():
  image = np.full((40, 30, 3), 128, np.uint8)
  out, shape = _run(lambda x: inception_preprocessing.preprocess_image(x, 17, 23), image)
  assert shape == [17, 23, 3]
  assert out.dtype == np.float32
  np.testing.assert_allclose(out, 2.0 * 128 / 255 - 1.0, rtol=0, atol=1e-6)


def test_inception_eval_crops_central_87_5_percent_and_resizes_like_tf1_bilinear():
  # 16 x 16 -> central crop keeps rows/cols int((16 - 14) / 2) = 1 .. 14; a TF1 bilinear resize
  # (corners not aligned, no half-pixel centres) from 14 to 7 samples every other pixel exactly.
  values = np.arange(16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3) / (16 * 16 * 3)
  cropped, shape = _run(lambda x: inception_preprocessing.preprocess_for_eval(x, None, None),
                        values)
  assert shape == [14, 14, 3]
  np.testing.assert_allclose(cropped, (values[1:15, 1:15] - 0.5) * 2, atol=1e-6)
  resized, _ = _run(lambda x: inception_preprocessing.preprocess_for_eval(x, 7, 7), values,
                    feed_placeholder=True)
  np.testing.assert_allclose(resized, (values[1:15:2, 1:15:2] - 0.5) * 2, atol=1e-6)
  uncropped, _ = _run(lambda x: inception_preprocessing.preprocess_image(
      x, 8, 8, crop_image=False), values)
  np.testing.assert_allclose(uncropped, (values[::2, ::2] - 0.5) * 2, atol=1e-6)


@pytest.mark.parametrize('height,width,fast_mode', [(32, 32, True), (20, 45, False), (7, 5, True)])
def test_inception_train_shape_and_range(height, width, fast_mode):
  rng = np.random.RandomState(0)
  image = rng.randint(0, 256, size=(50, 60, 3)).astype(np.uint8)
  with tf.Graph().as_default():
    x = tf.placeholder(tf.uint8, [None, None, 3])
    out = inception_preprocessing.preprocess_image(x, height, width, is_training=True,
                                                   fast_mode=fast_mode)
    assert out.get_shape().as_list() == [height, width, 3]
    assert len(tf.get_collection(tf.GraphKeys.SUMMARIES)) == 4
    with tf.Session() as sess:
      results = [sess.run(out, {x: image}) for _ in range(6)]
  for r in results:
    assert r.shape == (height, width, 3)
    assert r.min() >= -1.0 and r.max() <= 1.0
  # Random crops and colours: two runs differ.
  assert not np.allclose(results[0], results[1])


def test_inception_train_with_bbox_and_without_summaries():
  image = np.random.RandomState(1).rand(30, 30, 3).astype(np.float32)
  with tf.Graph().as_default():
    bbox = tf.constant([[[0.25, 0.25, 0.75, 0.75]]], tf.float32)
    out = inception_preprocessing.preprocess_for_train(
        tf.constant(image), 10, 12, bbox, add_image_summaries=False)
    assert not tf.get_collection(tf.GraphKeys.SUMMARIES)
    with tf.Session() as sess:
      r = sess.run(out)
  assert r.shape == (10, 12, 3) and -1 <= r.min() and r.max() <= 1


def _photo_jpeg(height, width, seed=0):
  """A photo-like JPEG (smooth gradients, edges, noise; 4:2:0 chroma) and its size."""
  import io
  from PIL import Image
  rng = np.random.RandomState(seed)
  rows, cols = np.mgrid[0:height, 0:width]
  pixels = np.stack([rows * 255 // height, cols * 255 // width, (rows + cols) % 256], -1)
  pixels = np.clip(pixels + rng.normal(0, 12, pixels.shape), 0, 255).astype(np.uint8)
  pixels[height // 3:height // 2, width // 4:width // 2] = [250, 30, 60]
  out = io.BytesIO()
  Image.fromarray(pixels).save(out, format='JPEG', quality=90)
  return out.getvalue()


@pytest.mark.parametrize('window', [(0, 0, 97, 131), (17, 33, 55, 71), (1, 3, 120, 154),
                                    (64, 80, 57, 77), (0, 0, 121, 157), (120, 156, 1, 1)])
def test_jpeg_window_decode_is_the_slice_of_the_full_decode(window):
  # The JPEG training path decodes only the crop window: it must be the same pixels.
  data = _photo_jpeg(121, 157)
  with tf.Graph().as_default(), tf.Session() as sess:
    encoded = tf.constant(data)
    full = tf.image.decode_jpeg(encoded, channels=3)
    top, left, height, width = window
    sliced = full[top:top + height, left:left + width]
    window_only = inception_preprocessing.decode_jpeg_window(
        encoded, tf.image.extract_jpeg_shape(encoded), tf.constant(window[:2]),
        tf.constant(window[2:]))
    # TensorFlow's own window decode alone differs at the cut edges (chroma upsampling).
    raw = tf.image.decode_and_crop_jpeg(encoded, tf.constant(window), channels=3)
    expected, got, raw = sess.run([sliced, window_only, raw])
  np.testing.assert_array_equal(got, expected)
  assert raw.shape == expected.shape


@pytest.mark.parametrize('method', [0, 1, 2, 3])
def test_resizing_integer_pixels_then_rescaling_equals_rescaling_first(method):
  # The JPEG training path resizes the uint8 crop and rescales 224x224 pixels to [0, 1], where the
  # original converts the whole image first: the same values up to float rounding.
  image = np.random.RandomState(method).randint(0, 256, (45, 67, 3)).astype(np.uint8)
  with tf.Graph().as_default(), tf.Session() as sess:
    as_uint8 = inception_preprocessing._resize_to_unit_range(tf.constant(image), 24, 31, method)
    as_float = inception_preprocessing._resize_to_unit_range(
        tf.image.convert_image_dtype(tf.constant(image), tf.float32), 24, 31, method)
    got, expected = sess.run([as_uint8, as_float])
  assert got.dtype == np.float32
  np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)


def test_jpeg_train_path_shape_range_and_crop_statistics():
  # Same transform as preprocess_for_train: output size and range, and the crops it takes cover
  # between 5% and 100% of the image (here visible as the share of the red patch that survives).
  data = _photo_jpeg(120, 160, seed=1)
  with tf.Graph().as_default(), tf.Session() as sess:
    out = inception_preprocessing.preprocess_jpeg_for_train(tf.constant(data), 40, 50)
    assert out.get_shape().as_list() == [40, 50, 3]
    op_types = {op.type for op in tf.get_default_graph().get_operations()}
    assert 'DecodeAndCropJpeg' in op_types and 'DecodeJpeg' not in op_types
    values = [sess.run(out) for _ in range(30)]
  for value in values:
    assert value.min() >= -1.0 and value.max() <= 1.0
  assert len({value.tobytes() for value in values}) == len(values)  # random crops and colours


def test_apply_with_random_selector_runs_exactly_one_branch():
  with tf.Graph().as_default():
    x = tf.constant(1.0)
    out = inception_preprocessing.apply_with_random_selector(
        x, lambda v, case: v * 10.0 ** case, num_cases=4)
    with tf.Session() as sess:
      seen = {float(sess.run(out)) for _ in range(60)}
  assert seen == {1.0, 10.0, 100.0, 1000.0}


def test_distort_color_orderings():
  with tf.Graph().as_default():
    image = tf.random_uniform([4, 4, 3])
    for fast_mode, n in ((True, 2), (False, 4)):
      for ordering in range(n):
        out = inception_preprocessing.distort_color(image, ordering, fast_mode)
        assert out.get_shape().as_list() == [4, 4, 3]
      with pytest.raises(ValueError):
        inception_preprocessing.distort_color(image, n, fast_mode)


# ---------------------------------------------------------------- vgg

def test_vgg_smallest_size_at_least():
  with tf.Graph().as_default(), tf.Session() as sess:
    cases = [(100, 200, 50, (50, 100)), (333, 500, 256, (256, 384)), (500, 333, 256, (384, 256)),
             (64, 64, 32, (32, 32))]
    for h, w, side, expected in cases:
      got = sess.run(vgg_preprocessing._smallest_size_at_least(h, w, side))
      assert tuple(got) == expected


def test_vgg_eval_central_crop_offsets_and_mean_subtraction():
  # Smaller side already 256: the resize keeps the size, the crop starts at
  # ((256 - 224) // 2, (300 - 224) // 2) = (16, 38).
  image = _position_image(256, 300)
  out, shape = _run(lambda x: vgg_preprocessing.preprocess_image(x, 224, 224), image,
                    feed_placeholder=True)
  assert shape == [224, 224, 3]
  expected = image[16:240, 38:262].astype(np.float32) - _VGG_MEANS
  np.testing.assert_allclose(out, expected, atol=1e-4)


def test_vgg_eval_non_square_output_and_odd_offsets():
  image = _position_image(21, 40)
  out, _ = _run(lambda x: vgg_preprocessing.preprocess_image(x, 10, 13, resize_side_min=21),
                image)
  # Offsets (21 - 10) // 2 = 5 and (40 - 13) // 2 = 13.
  expected = image[5:15, 13:26].astype(np.float32) - _VGG_MEANS
  assert out.shape == (10, 13, 3)
  np.testing.assert_allclose(out, expected, atol=1e-4)


def test_vgg_eval_aspect_preserving_resize_halves_the_image():
  # 40 x 60 with smaller side 20: new size rint(40 * .5), rint(60 * .5) = 20 x 30, a 2x TF1
  # bilinear downsampling, which picks every other pixel; then crop 20 x 30 (offsets 0).
  image = np.random.RandomState(2).randint(0, 256, (40, 60, 3)).astype(np.uint8)
  out, _ = _run(lambda x: vgg_preprocessing.preprocess_for_eval(x, 20, 30, 20), image)
  np.testing.assert_allclose(out, image[::2, ::2].astype(np.float32) - _VGG_MEANS, atol=1e-4)


@pytest.mark.parametrize('size,side_min,side_max', [((224, 224), 256, 512), ((13, 17), 20, 30)])
def test_vgg_train_shape_and_range(size, side_min, side_max):
  image = np.random.RandomState(3).randint(0, 256, (50, 70, 3)).astype(np.uint8)
  fn = lambda x: vgg_preprocessing.preprocess_image(  # noqa: E731
      x, size[0], size[1], is_training=True, resize_side_min=side_min, resize_side_max=side_max)
  with tf.Graph().as_default():
    x = tf.placeholder(tf.uint8, [None, None, 3])
    out = fn(x)
    assert out.get_shape().as_list() == [size[0], size[1], 3]
    with tf.Session() as sess:
      for _ in range(3):
        r = sess.run(out, {x: image})
        assert r.shape == (size[0], size[1], 3)
        assert np.all(r >= -_VGG_MEANS - 1e-3) and np.all(r <= 255 - _VGG_MEANS + 1e-3)


def test_vgg_mean_subtraction_checks_channels():
  with tf.Graph().as_default():
    with pytest.raises(ValueError):
      vgg_preprocessing._mean_image_subtraction(tf.zeros([4, 4, 1]), [1., 2., 3.])
    with pytest.raises(ValueError):
      vgg_preprocessing._mean_image_subtraction(tf.zeros([2, 4, 4, 3]), [1., 2., 3.])


# ---------------------------------------------------------------- cifarnet and lenet

def test_cifarnet_eval_is_per_image_standardisation():
  image = np.random.RandomState(4).randint(0, 256, (32, 32, 3)).astype(np.uint8)
  out, shape = _run(lambda x: cifarnet_preprocessing.preprocess_image(x, 32, 32), image)
  x = image.astype(np.float64)
  expected = (x - x.mean()) / max(x.std(), 1.0 / np.sqrt(x.size))
  assert shape == [32, 32, 3]
  np.testing.assert_allclose(out, expected, atol=1e-4)


def test_cifarnet_eval_crops_and_pads_to_any_size():
  image = np.random.RandomState(5).randint(1, 256, (10, 10, 3)).astype(np.uint8)
  out, shape = _run(lambda x: cifarnet_preprocessing.preprocess_image(x, 6, 14), image)
  assert shape == [6, 14, 3]
  # Height cropped to rows 2..7, width padded with 2 zero columns on each side.
  x = np.zeros((6, 14, 3))
  x[:, 2:12] = image[2:8]
  np.testing.assert_allclose(out, (x - x.mean()) / x.std(), atol=1e-4)


@pytest.mark.parametrize('size', [(32, 32), (24, 28)])
def test_cifarnet_train_shape_and_standardised(size):
  image = np.random.RandomState(6).randint(0, 256, (32, 32, 3)).astype(np.uint8)
  out, shape = _run(lambda x: cifarnet_preprocessing.preprocess_image(
      x, size[0], size[1], is_training=True), image)
  assert shape == [size[0], size[1], 3]
  assert abs(out.mean()) < 1e-4
  assert abs(out.std() - 1.0) < 1e-3


def test_lenet_scales_and_pads():
  image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1) * 16
  out, shape = _run(lambda x: lenet_preprocessing.preprocess_image(x, 6, 6, False), image)
  expected = np.zeros((6, 6, 1), np.float32)
  expected[1:5, 1:5] = image
  assert shape == [6, 6, 1]
  np.testing.assert_allclose(out, (expected - 128) / 128, atol=1e-6)
  out, shape = _run(lambda x: lenet_preprocessing.preprocess_image(x, 2, 6, True), image)
  assert shape == [2, 6, 1]
  np.testing.assert_allclose(out[:, 1:5, 0], (image[1:3, :, 0] - 128.) / 128, atol=1e-6)


# ---------------------------------------------------------------- grayscale

@pytest.mark.parametrize('name', sorted(_MODULES))
@pytest.mark.parametrize('is_training', [False, True])
def test_use_grayscale_gives_one_channel(name, is_training):
  image = np.random.RandomState(7).randint(0, 256, (40, 44, 3)).astype(np.uint8)
  fn = preprocessing_factory.get_preprocessing(name, is_training=is_training, use_grayscale=True)
  kwargs = {'resize_side_min': 32, 'resize_side_max': 40} if name == 'vgg' else {}
  out, shape = _run(lambda x: fn(x, 24, 28, **kwargs), image, feed_placeholder=(name == 'vgg'))
  assert out.shape == (24, 28, 1)
  assert shape == [24, 28, 1]
  assert np.all(np.isfinite(out))


def test_vgg_grayscale_is_grey_of_the_centred_image():
  image = _position_image(20, 24)
  fn = preprocessing_factory.get_preprocessing('vgg', use_grayscale=True)
  out, _ = _run(lambda x: fn(x, 20, 24, resize_side_min=20), image)
  grey_weights = np.array([0.2989, 0.5870, 0.1140], np.float32)
  expected = (image.astype(np.float32) - _VGG_MEANS) @ grey_weights
  np.testing.assert_allclose(out[..., 0], expected, atol=1e-2)


# ---------------------------------------------------------------- factory

def test_factory_passes_settings_and_kwargs():
  image = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
  fn = preprocessing_factory.get_preprocessing('inception')
  out, shape = _run(lambda x: fn(x, 8, 8, crop_image=False), image)
  assert shape == [8, 8, 3]
  np.testing.assert_allclose(out, image[::2, ::2] / 255. * 2 - 1, atol=1e-6)
  fn = preprocessing_factory.get_preprocessing('inception', is_training=True)
  with tf.Graph().as_default():
    fn(tf.constant(image), 8, 8, add_image_summaries=False, fast_mode=False)
    assert not tf.get_collection(tf.GraphKeys.SUMMARIES)
    assert any(op.name.startswith('distort_image/') for op in tf.get_default_graph().get_operations())


def test_factory_height_and_width_are_the_default_output_size():
  image = _position_image(40, 30)
  # The snippet of the troubleshooting notes, as written.
  train_fn = preprocessing_factory.get_preprocessing('inception_v3', height=24, width=16,
                                                     is_training=True)
  out, shape = _run(lambda x: train_fn(x, add_image_summaries=False), image)
  assert shape == [24, 16, 3] and -1 <= out.min() and out.max() <= 1
  # Explicit sizes still win, one or both.
  assert _run(lambda x: train_fn(x, 8, 12, add_image_summaries=False), image)[1] == [8, 12, 3]
  assert _run(lambda x: train_fn(x, output_width=10, add_image_summaries=False),
              image)[1] == [24, 10, 3]
  # Evaluation is deterministic: the default size gives the values of the explicit one.
  eval_fn = preprocessing_factory.get_preprocessing('vgg_16', height=20, width=20)
  by_default, default_shape = _run(eval_fn, image)
  explicit, _ = _run(lambda x: preprocessing_factory.get_preprocessing('vgg_16')(x, 20, 20), image)
  assert default_shape == [20, 20, 3]
  np.testing.assert_array_equal(by_default, explicit)


def test_factory_without_a_size_raises_type_error():
  fn = preprocessing_factory.get_preprocessing('lenet', height=28)
  with tf.Graph().as_default():
    assert fn(tf.zeros([30, 30, 1], tf.uint8), output_width=28).get_shape().as_list() == [28, 28, 1]
    with pytest.raises(TypeError, match='output_width'):
      fn(tf.zeros([30, 30, 1], tf.uint8))
    with pytest.raises(TypeError, match='output_height'):
      preprocessing_factory.get_preprocessing('lenet')(tf.zeros([30, 30, 1], tf.uint8))


def test_factory_default_size_reaches_the_jpeg_path():
  fn = preprocessing_factory.get_preprocessing('inception', height=12, width=18)
  with tf.Graph().as_default():
    encoded = tf.image.encode_jpeg(tf.constant(_position_image(40, 30)))
    assert fn.from_jpeg(encoded).get_shape().as_list() == [12, 18, 3]
    assert fn.from_jpeg(encoded, 6, 6).get_shape().as_list() == [6, 6, 3]


def test_factory_map_is_built_from_the_network_table():
  from nets import nets_factory
  mapping = preprocessing_factory.preprocessing_fn_map()
  for name, module in _MODULES.items():
    assert mapping[name] is module
  for spec in nets_factory.NETS.values():
    if spec.preprocessing is None:
      assert spec.name not in mapping or spec.name in _MODULES
    else:
      assert mapping[spec.name] is _MODULES[spec.preprocessing], spec.name
  assert set(mapping) == set(_MODULES) | {
      s.name for s in nets_factory.NETS.values() if s.preprocessing is not None}


@pytest.mark.parametrize('name', sorted(_ORIGINAL_MAP))
def test_every_original_name_resolves_to_the_original_module(name):
  fn = preprocessing_factory.get_preprocessing(name)
  assert fn.__module__ == _MODULES[_ORIGINAL_MAP[name]].__name__
  assert preprocessing_factory.get_module(name) is _MODULES[_ORIGINAL_MAP[name]]


def test_unknown_name_error_lists_valid_names():
  with pytest.raises(ValueError) as info:
    preprocessing_factory.get_preprocessing('resnet_v9')
  assert not isinstance(info.value, UserError)  # a plain ValueError, as the original raised
  message = str(info.value)
  assert message.startswith('Preprocessing name [resnet_v9] was not recognized')
  names = preprocessing_factory.preprocessing_names()
  assert names == sorted(names) and 'inception' in names
  assert ', '.join(names) in message


def test_factory_eval_preprocessing_reproduces_the_published_top1():
  """The factory's preprocessing of a real photo + the real MobileNet V1 0.25 checkpoint give the
  original slim's confident top-1 (89 macaw, ../shared/README.md)."""
  from tests.conftest import shared_path
  from nets import nets_factory
  folder = 'mobilenet_v1_0.25_128'
  ckpt = shared_path('pretrained', folder, folder + '.ckpt.index')[:-len('.index')]
  photo = shared_path('images', 'coral_parrot.jpg')
  with tf.Graph().as_default():
    image = tf.image.decode_jpeg(tf.io.read_file(photo), channels=3)
    fn = preprocessing_factory.get_preprocessing('mobilenet_v1_025', is_training=False)
    images = tf.expand_dims(fn(image, 128, 128), 0)
    network_fn = nets_factory.get_network_fn('mobilenet_v1_025', num_classes=1001)
    logits, _ = network_fn(images)
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, ckpt)
      assert int(np.argmax(sess.run(logits))) == 89
