"""Pieces shared by the converters (cifar10, mnist, visualwakewords, imagenet, image folders).

* `fetch_checked`: `foundation.fileio.fetch` plus an md5 check (the digest these sources publish); a
  downloaded file that fails the check is deleted, a user's local copy never is.
* `parallel_imap`: runs a picklable function over tasks in forked worker processes, in order
  (used by every converter, the image-folder one included).
  Workers only decode and encode images (Pillow, numpy, zlib); the parent process alone talks to
  TensorFlow (Example protos and TFRecord writers), so forking after TensorFlow was imported is
  safe, and workers start in milliseconds instead of re-importing TensorFlow as spawned ones would.
* `ProgressLine`: a self-overwriting "images done / total, images/s" line on stderr.
"""
import collections
import hashlib
import itertools
import multiprocessing
import os
import signal
import sys
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
