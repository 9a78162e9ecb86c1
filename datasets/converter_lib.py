"""Pieces shared by the converters (cifar10, mnist, visualwakewords, imagenet, image folders).

* `fetch_checked`: `foundation.fileio.fetch` plus an md5 check (the digest these sources publish); a
  downloaded file that fails the check is deleted, a user's local copy never is.
* `parallel_imap`: runs a picklable function over tasks in forked worker processes, in order
  (used by every converter, the image-folder one included).
  Workers only decode and encode images (Pillow, numpy, zlib); the parent process alone talks to
  TensorFlow (Example protos, TFRecord writers and `DecodeCheck`), so forking after TensorFlow was
  imported is safe, and workers start in milliseconds instead of re-importing TensorFlow as spawned
  ones would.
* `DecodeCheck`: TensorFlow's own decoders run on every image before it is written, so that no
  record holds an image that training could not decode.
* `ProgressLine`: a self-overwriting "images done / total, images/s" line on stderr.
"""
import collections
import hashlib
import itertools
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
import urllib.parse

from foundation import fileio
from foundation.errors import UserError


def md5sum(path):
  digest = hashlib.md5()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def join_source(base, name):
  """`base/name` for a base URL or a local folder."""
  if fileio.is_url(base):
    return base.rstrip('/') + '/' + urllib.parse.quote(name)
  return os.path.join(os.path.expanduser(base), name)


def check_md5(path, md5, source, downloaded):
  """Raises UserError unless `path` has md5 `md5`; a downloaded file that fails is removed first."""
  actual = md5sum(path)
  if actual.lower() != md5.lower():
    if downloaded:
      fileio.remove_quietly(path)
    raise UserError('%s (from %s) has md5 %s, expected %s: the file is corrupt or not the one '
                    'expected%s' % (path, source, actual, md5,
                                    ' (the download was deleted)' if downloaded else ''))


def fetch_checked(source, dest_dir, filename=None, md5=None, official_size=None, progress=True):
  """Downloads a URL into `dest_dir` (or takes a local file in place) and checks its md5.

  The md5 is checked when `official_size` is None, or when the file has exactly that size (it
  claims to be the official file: a mirror's copy must match too, while a deliberately different
  archive of another size is the user's choice). Returns `(path, downloaded)`. On a mismatch a
  downloaded file is removed (a local file is left alone) and a UserError names the file, both
  digests and where it came from.
  """
  path, downloaded = fileio.fetch(source, dest_dir, filename, progress=progress)
  if md5 and (official_size is None or os.path.getsize(path) == official_size):
    check_md5(path, md5, source, downloaded)
  return path, downloaded


def default_num_workers():
  return os.cpu_count() or 1


def check_num_workers(num_workers):
  num_workers = default_num_workers() if num_workers is None else int(num_workers)
  if num_workers < 1:
    raise UserError('--num_workers must be at least 1, got %d' % num_workers)
  return num_workers


def _ignore_interrupts():
  # Ctrl-C reaches the whole process group: only the parent handles it (it stops the pool and
  # deletes the shard in progress), so the workers do not each print a traceback.
  signal.signal(signal.SIGINT, signal.SIG_IGN)


def _apply_to_chunk(function_and_chunk):
  function, chunk = function_and_chunk
  return [function(task) for task in chunk]


def parallel_imap(function, tasks, num_workers=None, chunksize=1):
  """Yields `function(task)` for each task in order, computed by up to `num_workers` processes.

  Tasks travel to the workers `chunksize` at a time (one message per chunk instead of per task).
  At most two chunks per worker are in flight, so results (image bytes) never pile up in memory
  when the consumer (the TFRecord writer) is slower than the workers. With one worker (or one task)
  everything runs in this process. The pool is torn down when the generator finishes, fails or is
  closed.
  """
  tasks = list(tasks)
  num_workers = min(check_num_workers(num_workers), len(tasks))
  if num_workers <= 1:
    for task in tasks:
      yield function(task)
    return
  chunksize = max(1, int(chunksize))
  chunks = ((function, tasks[i:i + chunksize]) for i in range(0, len(tasks), chunksize))
  methods = multiprocessing.get_all_start_methods()
  context = multiprocessing.get_context('fork' if 'fork' in methods else None)
  pool = context.Pool(num_workers, initializer=_ignore_interrupts)
  try:
    pending = collections.deque(pool.apply_async(_apply_to_chunk, (chunk,))
                                for chunk in itertools.islice(chunks, 2 * num_workers))
    while pending:
      results = pending.popleft().get()
      for chunk in itertools.islice(chunks, 1):
        pending.append(pool.apply_async(_apply_to_chunk, (chunk,)))
      for result in results:
        yield result
  finally:
    pool.terminate()
    pool.join()


JPEG_EOI = b'\xff\xd9'
# Markers that stand alone (no length field): TEM, RST0-7, SOI.
_JPEG_STANDALONE = frozenset([0x01, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8])
# Start-of-frame markers (C4 DHT, C8 JPG and CC DAC are not frames).
_JPEG_FRAMES = frozenset(range(0xc0, 0xd0)) - frozenset([0xc4, 0xc8, 0xcc])
# Baseline and extended sequential, Huffman-coded.
_JPEG_SEQUENTIAL_HUFFMAN = frozenset([0xc0, 0xc1])
# Inside entropy-coded data a 0xFF byte is followed by 0x00 (a stuffed byte); any other pair is a
# marker.
_JPEG_MARKER = re.compile(b'\xff[^\x00]')


def jpeg_first_scan(data):
  """Walks a JPEG's marker segments from SOI to the end of the first start-of-scan header.

  Returns `(frame_marker, height, width, components, position)`: the last start-of-frame marker
  seen (None if none) with the height, width and number of colour components it declares, and the
  offset of the first entropy-coded byte. Raises ValueError naming the damage when a segment is
  cut or malformed.
  """
  size = len(data)
  if size < 4 or data[0] != 0xff or data[1] != 0xd8:
    raise ValueError('not a JPEG (no start-of-image marker)')
  frame, height, width, components = None, 0, 0, 0
  position = 2
  while True:
    if position >= size or data[position] != 0xff:
      raise ValueError('damaged JPEG header at byte %d' % position)
    while position < size and data[position] == 0xff:  # fill bytes before a marker
      position += 1
    if position + 2 >= size:
      raise ValueError('JPEG header ends before its image data (truncated file)')
    marker = data[position]
    position += 1
    if marker in _JPEG_STANDALONE:
      continue
    if marker == 0xd9:
      raise ValueError('JPEG ends before its image data')
    length = (data[position] << 8) | data[position + 1]
    if length < 2:
      raise ValueError('damaged JPEG segment at byte %d' % position)
    if marker in _JPEG_FRAMES and position + 8 <= size:
      frame = marker
      height = (data[position + 3] << 8) | data[position + 4]
      width = (data[position + 5] << 8) | data[position + 6]
      components = data[position + 7]
    position += length
    if marker == 0xda:  # start of scan: entropy-coded data follows
      return frame, height, width, components, position


def is_single_clean_scan(data):
  """True for a sequential Huffman JPEG whose entropy-coded data holds no marker before its EOI.

  For such a file, once libjpeg has read the header, set up the decoder and decoded the first row
  (which `DecodeCheck` has TensorFlow do), decoding the rest cannot fail: corrupt Huffman codes
  only raise libjpeg warnings, a scan that needs more bits than it has is padded with zeros at the
  EOI marker (which stops the entropy decoder), and the one marker libjpeg reads after the scan
  is the EOI. Everything else (progressive, several scans, restart markers, damage that put a
  marker inside the scan) is decoded in full.
  """
  try:
    frame, height, width, _, position = jpeg_first_scan(data)
  except ValueError:
    return False
  # Huge images are decoded in full, so that no size limit of the full decode is missed (none get
  # here: Pillow refuses such decompression bombs first).
  if frame not in _JPEG_SEQUENTIAL_HUFFMAN or not 0 < height * width < 1 << 28:
    return False
  return first_marker_is_eoi(data, position)


def first_marker_is_eoi(data, position):
  """True when the first marker at or after `position` (a scan's first byte) is the EOI."""
  marker = _JPEG_MARKER.search(data, position)
  return marker is not None and data[marker.start() + 1] == 0xd9


def _without_stop_signals(function):
  """`function()` with SIGINT and SIGTERM blocked in the calling (main) thread, then delivered.

  Threads inherit the signal mask of the thread that starts them, so TensorFlow's thread pools,
  started by the session, never take Ctrl-C: the kernel delivers it to the main thread, where it
  also interrupts a blocking read (of a stalled network file, say) instead of going unnoticed in
  a pool thread. A signal that arrives during `function()` is handled right after it.
  """
  if (not hasattr(signal, 'pthread_sigmask')
      or threading.current_thread() is not threading.main_thread()):
    return function()
  previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
  try:
    return function()
  finally:
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# What `tf.io.is_jpeg` tests: slim's `tfexample_decoder.Image` decodes such bytes with
# `decode_jpeg`, anything else with `decode_image`.
_JPEG_SIGNATURE = b'\xff\xd8\xff'


def _decoder_reason(error):
  """The decoder's own words in a TensorFlow op error, without the graph's traceback lines."""
  lines = [line.strip() for line in error.message.split('\n')]
  kept = [line for line in lines if line and not line.startswith(
      ('Graph execution error', 'Detected at node', 'File "', 'Node:', '[[', 'Original stack'))]
  return ' '.join(kept) or error.message.strip()


class DecodeCheck(object):
  """Tells which images TensorFlow's decoders reject, by running them (in this process).

  The readers decode a record's bytes with `tf.io.decode_jpeg` when they start like a JPEG
  (`tf.io.is_jpeg`) and with `tf.io.decode_image` otherwise; these are the ops run here, so an
  image passes exactly when training can decode it. Pillow is no substitute: TensorFlow's memory
  source does not recover from reading past the end, so an APPn, COM or DNL marker inside the
  entropy-coded data (a damaged byte pair FF E0..EF / FE / DC) fails with "Input file read error"
  where Pillow decodes the image, and the other way round an SOF marker near the end of the scan
  fails in Pillow only; of 9,900 damaged variants of photo-sized JPEGs, Pillow (full or draft
  decode) disagreed with TensorFlow on 466.

  What a full decode costs is the entropy decoding (about 0.6 ms of CPU for a 500x375 photo, half
  of the original converter's time per image): a 1/8-scale decode (`ratio=8`) saves only a fifth.
  So a JPEG made of one sequential Huffman scan whose entropy-coded data holds no marker before its
  EOI (`is_single_clean_scan`, a regular-expression search) is decoded only as far as its first
  pixel (`tf.image.decode_and_crop_jpeg` with a 1x1 window: libjpeg reads and checks the whole
  header, sets up the decoder and decodes the first row); decoding the rest of such a file cannot
  fail. On 47,480 damaged variants of 40 photos (inserted markers, cuts, overwritten bytes, random
  entropy-coded data, damaged headers), every file that passed this way also passed a full decode.
  Any other image is decoded in full (JPEGs at 1/8 scale, whose verdict equalled the full-scale
  one on all 9,900 variants above).

  Up to `batch_size` images go through one session call, decoded in parallel on TensorFlow's
  threads; a batch that fails is halved until each failing image is alone, and that one is
  decoded in full, so that the verdict and the reason given are the full decode's.
  """

  def __init__(self, batch_size=256):
    self._batch_size = max(1, int(batch_size))
    self._session = None

  def _decoder(self, kind):
    """The op decoding a vector of images of `kind` (built on first use: each costs milliseconds)."""
    import tensorflow.compat.v1 as tf
    if self._session is None:
      self._graph = tf.Graph()
      config = tf.ConfigProto()
      # Grappler has nothing to gain on these few ops and would cost more than decoding a small
      # conversion's images.
      config.graph_options.rewrite_options.disable_meta_optimizer = True
      self._session = _without_stop_signals(
          lambda: tf.Session(graph=self._graph, config=config))
      self._ops = {}
    if kind not in self._ops:
      with self._graph.as_default():
        if kind == 'first_pixel':
          decode = lambda data: tf.image.decode_and_crop_jpeg(data, [0, 0, 1, 1], channels=3)
        elif kind == 'jpeg':
          decode = lambda data: tf.io.decode_jpeg(data, channels=3, ratio=8)
        else:
          decode = lambda data: tf.io.decode_image(data, channels=3, expand_animations=False)
        images = tf.placeholder(tf.string, [None], name=kind)
        # The images of a batch are decoded in parallel (a loop of independent iterations).
        self._ops[kind] = images, tf.map_fn(lambda data: tf.shape(decode(data)), images,
                                            fn_output_signature=tf.int32,
                                            parallel_iterations=self._batch_size)
    return self._ops[kind]

  def _run(self, images, clean_scans):
    """Raises tf.errors.OpError when any of `images` does not decode."""
    import numpy as np
    by_kind = {}
    for data, clean_scan in zip(images, clean_scans):
      if data[:3] != _JPEG_SIGNATURE:
        kind = 'other'
      elif clean_scan:
        kind = 'first_pixel'
      else:
        kind = 'jpeg'
      by_kind.setdefault(kind, []).append(data)
    fetches, feeds = [], {}
    for kind, items in by_kind.items():
      placeholder, op = self._decoder(kind)
      fetches.append(op)
      feeds[placeholder] = np.array(items, dtype=object)
    _without_stop_signals(lambda: self._session.run(fetches, feeds))

  def check(self, images, clean_scans=None):
    """Returns, for each encoded image in `images`, None when it decodes, else the reason.

    `clean_scans` may give `is_single_clean_scan` of each image, computed elsewhere (in the
    worker processes, to spare this one); by default it is computed here.
    """
    import tensorflow.compat.v1 as tf
    if clean_scans is None:
      clean_scans = [data[:3] == _JPEG_SIGNATURE and is_single_clean_scan(data) for data in images]
    reasons = [None] * len(images)

    def find_failures(indices):
      # A failing group is halved until the images that fail are alone: a few damaged files
      # cost a few more session calls, not a full decode of every image of their batch.
      try:
        self._run([images[i] for i in indices], [clean_scans[i] for i in indices])
        return
      except tf.errors.OpError as e:
        error = e
      if len(indices) > 1:
        find_failures(indices[:len(indices) // 2])
        find_failures(indices[len(indices) // 2:])
        return
      if clean_scans[indices[0]]:  # the verdict is the full decode's
        try:
          self._run([images[indices[0]]], [False])
          return
        except tf.errors.OpError as e:
          error = e
      reasons[indices[0]] = 'TensorFlow cannot decode it: %s' % _decoder_reason(error)

    for start in range(0, len(images), self._batch_size):
      find_failures(list(range(start, min(start + self._batch_size, len(images)))))
    return reasons

  def close(self):
    if self._session is not None:
      self._session.close()
      self._session = None

  def __enter__(self):
    return self

  def __exit__(self, *unused_exc_info):
    self.close()


class ProgressLine(object):
  """`>> <what> <done>/<total> (<rate> images/s)` rewritten in place on stderr."""

  def __init__(self, what, total, stream=None, min_interval=0.5):
    self._what = what
    self._total = total
    self._stream = stream or sys.stderr
    self._min_interval = min_interval
    self._start = time.monotonic()
    self._last = 0.0
    self._shown = -1
    self.done = 0

  def add(self, count):
    self.done += count
    now = time.monotonic()
    if now - self._last >= self._min_interval or self.done >= self._total:
      self._last = now
      self._write(now)

  def _write(self, now, end=''):
    self._shown = self.done
    rate = self.done / max(now - self._start, 1e-9)
    self._stream.write('\r>> %s %d/%d (%.0f images/s)%s' % (
        self._what, self.done, self._total, rate, end))
    self._stream.flush()

  def finish(self):
    if self._shown == self.done:
      self._stream.write('\n')
      self._stream.flush()
    else:
      self._write(time.monotonic(), '\n')
