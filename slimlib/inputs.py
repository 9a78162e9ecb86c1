"""Input pipelines from a slim `Dataset` descriptor to batches of preprocessed images and labels.

Two paths yield the same examples: the descriptor's own `TFExampleDecoder` decodes each record in
both, so images and labels are identical; only the machinery around it differs.

* `tf_data` (default, fast): shards interleaved in parallel, decode + preprocessing in parallel on
  tf.data's own thread pool, shuffle, batch, prefetch; no Python queue-runner threads.
* `queue` (the original): `DatasetDataProvider` + `tf.train.batch` driven by queue runners.
"""
import os

import tensorflow.compat.v1 as tf
import tf_slim as slim

from slimlib.errors import UserError


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
  autotune = tf.data.experimental.AUTOTUNE
  ds = tf.data.Dataset.from_tensor_slices(files)
  if shuffle:
    ds = ds.shuffle(len(files), seed=seed)
  ds = ds.repeat(num_epochs)
  ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=max(1, min(num_readers, len(files))),
                     block_length=1, num_parallel_calls=autotune, deterministic=not shuffle)
  if shuffle:
    ds = ds.shuffle(20 * batch_size, seed=seed)
  ds = ds.map(lambda s: prepare(*_decode(dataset, s)), num_parallel_calls=autotune,
              deterministic=not shuffle)
  ds = ds.batch(batch_size, drop_remainder=is_training)
  ds = ds.prefetch(autotune)
  options = tf.data.Options()
  options.threading.private_threadpool_size = max(1, num_threads)
  ds = ds.with_options(options)
  iterator = tf.data.make_one_shot_iterator(ds)
  return iterator.get_next
