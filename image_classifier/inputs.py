"""Input pipelines from a slim `Dataset` descriptor to batches of preprocessed images and labels.

Two paths yield the same examples: the descriptor's own `TFExampleDecoder` decodes each record in
both, so labels and evaluation images are identical (training images: the same random transform);
only the machinery around it differs.

* `tf_data` (default, fast): shards interleaved in parallel, decode + preprocessing in parallel on
  tf.data's own thread pool, shuffle, batch, prefetch; no Python queue-runner threads. With the
  Inception transforms, a JPEG is decoded only inside the window they keep: the random crop in
  training (the same transform, see `inception_preprocessing.preprocess_jpeg_for_train`), the
  central crop in evaluation (the very same tensor, `preprocess_jpeg_for_eval`).
* `queue` (the original): `DatasetDataProvider` + `tf.train.batch` driven by queue runners.
"""
import os
import time

import tensorflow.compat.v1 as tf
import tf_slim as slim

from datasets import dataset_utils
from foundation import errors
from foundation import internals
from foundation.errors import UserError
from image_classifier import model_info


# Batches made ahead of the model: enough to cover one step's jitter (two clones each take one).
_PREFETCH_BATCHES = 2


def data_files(dataset):
  """The files of a descriptor's split; a clear error when there are none."""
  sources = dataset.data_sources
  patterns = [sources] if isinstance(sources, str) else list(sources)
  files = []
  for pattern in patterns:
    files.extend(sorted(tf.io.gfile.glob(pattern)))
  if not files:
    raise UserError(
        'no data files match %s. Create them first, for example with '
        'download_and_convert_data.py --dataset_name=... --dataset_dir=%s'
        % (', '.join(patterns), os.path.dirname(patterns[0]) or '.'))
  return files


def _decode(dataset, serialized):
  image, label = dataset.decoder.decode(serialized, ['image', 'label'])
  return image, tf.reshape(label, [])


def _jpeg_window_prepare(dataset, preprocess, image_size, labels_offset):
  """A tf.data map function for preprocessings that can start from JPEG bytes, or None.

  When the preprocessing offers `from_jpeg` (Inception: it decodes only the crop it keeps)
  and the descriptor's image is a plain `tfexample_decoder.Image`, each record is parsed once, a
  JPEG goes to `from_jpeg` and anything else (PNG...) through the descriptor's decoder and the
  ordinary preprocessing. Labels come from the descriptor's own handler either way.
  """
  from_jpeg = getattr(preprocess, 'from_jpeg', None)
  plain = internals.plain_image_decoding(dataset.decoder) if from_jpeg else None
  if plain is None:
    return None
  features, handlers = plain.keys_to_features, plain.items_to_handlers

  def prepare_record(serialized):
    # As TFExampleDecoder.decode does, but one parse serves both the bytes and the items.
    example = tf.io.parse_single_example(serialized, features)
    for key, feature in features.items():
      if isinstance(feature, tf.io.FixedLenFeature):
        example[key] = tf.reshape(example[key], feature.shape)

    def item(name):
      handler = handlers[name]
      return handler.tensors_to_item({key: example[key] for key in handler.keys})

    encoded = example[plain.image_key]
    image = tf.cond(tf.io.is_jpeg(encoded),
                    lambda: from_jpeg(encoded, image_size, image_size, plain.channels),
                    lambda: preprocess(item('image'), image_size, image_size))
    return image, tf.reshape(item('label'), []) - labels_offset

  return prepare_record


def batches(dataset, preprocess, image_size, batch_size, is_training, labels_offset=0,
            pipeline='tf_data', num_readers=4, num_threads=4, shuffle=None, num_epochs=None,
            seed=None):
  """Returns a function `next_batch()` -> (images [B,H,W,C] float32, labels [B] int64).

  `preprocess(image, height, width)` is the preprocessing function. In training mode the data repeats
  forever and every batch is full; in evaluation mode (`num_epochs=1`) the last batch may be smaller.
  Call `next_batch()` once per clone: each call takes a different batch.
  """
  files = data_files(dataset)
  shuffle = is_training if shuffle is None else shuffle

  def prepare(image, label):
    image = preprocess(image, image_size, image_size)
    return image, label - labels_offset

  if pipeline == 'queue':
    provider = slim.dataset_data_provider.DatasetDataProvider(
        dataset, num_readers=num_readers if is_training else 1,
        common_queue_capacity=(20 if is_training else 2) * batch_size,
        common_queue_min=(10 if is_training else 1) * batch_size, shuffle=shuffle,
        num_epochs=num_epochs, seed=seed)
    image, label = provider.get(['image', 'label'])
    image, label = prepare(image, tf.reshape(label, []))
    images, labels = tf.train.batch(
        [image, label], batch_size=batch_size, num_threads=num_threads,
        capacity=5 * batch_size, allow_smaller_final_batch=not is_training)
    if not is_training:
      # As the original evaluation: no prefetch queue (a FIFO queue needs the static batch size
      # that a smaller final batch does not have).
      return lambda: (images, labels)
    queue = slim.prefetch_queue.prefetch_queue([images, labels], capacity=2)
    return queue.dequeue

  if pipeline != 'tf_data':
    raise UserError('unknown input pipeline %r: use tf_data or queue' % pipeline)
  # Parallelism comes from the flags (--num_readers, --num_preprocessing_threads) rather than
  # tf.data's autotuner, whose thread could hold up closing the session after the last batch on a
  # small CPU; and so the flags keep meaning what they meant for the queue path.
  readers = max(1, min(num_readers, len(files)))
  threads = max(1, num_threads)
  ds = tf.data.Dataset.from_tensor_slices(files)
  if shuffle:
    ds = ds.shuffle(len(files), seed=seed)
  ds = ds.repeat(num_epochs)
  ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=readers, block_length=1,
                     num_parallel_calls=readers, deterministic=not shuffle)
  if shuffle:
    ds = ds.shuffle(20 * batch_size, seed=seed)
  map_fn = _jpeg_window_prepare(dataset, preprocess, image_size, labels_offset)
  if map_fn is None:
    map_fn = lambda s: prepare(*_decode(dataset, s))  # noqa: E731
  # The preprocessing is plain graph code (slim's, with no Python control flow on tensors), so
  # AutoGraph's source conversion would change nothing and only slow the start.
  ds = ds.map(tf.autograph.experimental.do_not_convert(map_fn), num_parallel_calls=threads,
              deterministic=not shuffle)
  ds = ds.batch(batch_size, drop_remainder=is_training)
  ds = ds.prefetch(_PREFETCH_BATCHES)
  options = tf.data.Options()
  options.autotune.enabled = False
  options.threading.private_threadpool_size = threads
  options.threading.max_intra_op_parallelism = 1
  ds = ds.with_options(options)
  iterator = tf.data.make_one_shot_iterator(ds)
  return iterator.get_next


def build_model_inputs(opts, dataset, is_training, num_epochs=None):
  """(spec, network_fn, next_batch) for the flags' model, preprocessing and data set."""
  spec = model_info.network_spec(opts.model_name)
  network_fn = model_info.network_fn(
      opts.model_name, dataset.num_classes - opts.labels_offset,
      weight_decay=opts.weight_decay if is_training else 0.0, is_training=is_training)
  preprocess = model_info.preprocessing_fn(
      model_info.preprocessing_name(opts.model_name, opts.preprocessing_name),
      is_training=is_training, use_grayscale=opts.use_grayscale)
  image_size = (opts.train_image_size if is_training else opts.eval_image_size) \
      or network_fn.default_image_size
  next_batch = batches(
      dataset, preprocess, image_size, opts.batch_size, is_training=is_training,
      labels_offset=opts.labels_offset, pipeline=opts.input_pipeline,
      num_readers=getattr(opts, 'num_readers', 4), num_threads=opts.num_preprocessing_threads,
      num_epochs=num_epochs)
  return spec, network_fn, next_batch


def encoded_and_preprocessed(dataset, preprocess, batch_size, labels_offset=0, num_threads=2):
  """One pass over a split: the next (encoded photos, preprocessed images, labels) batch tensors.

  `preprocess(image)` takes a decoded uint8 image. The encoded bytes feed models that decode
  photos themselves (a SavedModel); the images feed the others.
  """
  def parse(serialized):
    image, label = _decode(dataset, serialized)
    encoded = tf.io.parse_single_example(
        serialized, {'image/encoded': tf.FixedLenFeature((), tf.string)})['image/encoded']
    image.set_shape([None, None, 3])
    return encoded, preprocess(image), label - labels_offset

  ds = tf.data.TFRecordDataset(data_files(dataset))
  ds = ds.map(tf.autograph.experimental.do_not_convert(parse), num_parallel_calls=num_threads)
  return tf.data.make_one_shot_iterator(ds.batch(batch_size)).get_next()


def is_input_failure(error):
  """True for an error raised while the input pipeline read or decoded a record."""
  if not isinstance(error, (tf.errors.InvalidArgumentError, tf.errors.DataLossError)):
    return False
  op = getattr(error, 'op', None)
  if op is not None and op.type in ('IteratorGetNext', 'IteratorGetNextSync'):
    return True
  # Raised inside tf.data's own functions, the error names the iterator in its node trace.
  return '[[IteratorGetNext' in (error.message or '')


def find_bad_record(dataset, max_seconds=300):
  """(file, record number, reason) of the first record of the split that cannot be read or whose
  image does not decode, or None; gives up after `max_seconds` (a very large split)."""
  deadline = time.time() + max_seconds
  with tf.Graph().as_default():
    serialized = tf.placeholder(tf.string, [])
    image, _ = _decode(dataset, serialized)
    with tf.Session() as session:
      for path in data_files(dataset):
        number = -1
        try:
          for number, record in enumerate(tf.io.tf_record_iterator(path)):
            try:
              session.run(image, {serialized: record})
            except tf.errors.OpError as e:
              return path, number, errors.reason(e)
            if time.time() > deadline:
              return None
        except tf.errors.DataLossError as e:
          return path, number + 1, errors.reason(e)
  return None


def bad_record_error(dataset, dataset_name, dataset_dir, error):
  """The UserError for an input failure: the shard and record when they can be found, and how to
  rebuild the data set."""
  found = find_bad_record(dataset)
  rebuild = dataset_utils.converter_command(dataset_name, dataset_dir)
  if found:
    path, number, reason = found
    return UserError('record %d of %s cannot be read or decoded (%s); rebuild the data set: %s '
                     '(the converters check every image)' % (number, path, reason, rebuild))
  return UserError('a record of %s cannot be read or decoded (%s); rebuild the data set: %s'
                   % (dataset.data_sources, errors.reason(error), rebuild))
