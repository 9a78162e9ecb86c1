"""File plumbing shared by every data set converter.

* `fetch`: a URL is downloaded (with progress, checked against Content-Length and an optional
  size/sha256); a local path is used in place (never copied, never deleted).
* `verify_archive` / `safe_extract`: an archive is read to its end before anything is unpacked, and no
  member may land outside the target folder (absolute paths, `..`, links pointing out, devices).
* `atomic_output` / `AtomicTFRecordWriter`: output is written under a temporary name and renamed to its
  final name only once complete, so a file with a final name is always a whole file.

Every failure a user can cause (bad URL, truncated download, hostile archive) is a `UserError`.
"""
import contextlib
import hashlib
import json
import http.client
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from foundation.errors import UserError

# Temporary outputs carry this marker plus the writer's pid, so a run can tell a leftover of an
# interrupted run (safe to delete) from a final file.
TEMP_MARKER = '.incomplete-'

_CHUNK = 1 << 20


def is_url(source):
  """True for http(s)/ftp/file URLs, False for a local path."""
  return urllib.parse.urlparse(str(source)).scheme in ('http', 'https', 'ftp', 'file')


def human_size(num_bytes):
  for unit in ('B', 'KB', 'MB', 'GB'):
    if num_bytes < 1024 or unit == 'GB':
      return ('%d %s' % (num_bytes, unit)) if unit == 'B' else ('%.1f %s' % (num_bytes, unit))
    num_bytes /= 1024.0


class _Progress(object):
  """One self-overwriting line on stderr: bytes so far, total and percentage."""

  def __init__(self, name, total, stream=None, min_interval=0.25):
    self._name = name
    self._total = total
    self._stream = stream or sys.stderr
    self._min_interval = min_interval
    self._last = 0.0

  def update(self, done, final=False):
    now = time.monotonic()
    if not final and now - self._last < self._min_interval:
      return
    self._last = now
    if self._total:
      text = '>> Downloading %s %s / %s (%.1f%%)' % (
          self._name, human_size(done), human_size(self._total), 100.0 * done / self._total)
    else:
      text = '>> Downloading %s %s' % (self._name, human_size(done))
    self._stream.write('\r' + text + ('\n' if final else ''))
    self._stream.flush()


def sha256sum(path):
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(_CHUNK), b''):
      digest.update(block)
  return digest.hexdigest()


def _check_expected(path, expected_size, sha256):
  size = os.path.getsize(path)
  if expected_size is not None and size != expected_size:
    raise UserError('%s has %d bytes, expected %d: the file is incomplete or not the one expected'
                    % (path, size, expected_size))
  if sha256 is not None:
    actual = sha256sum(path)
    if actual.lower() != sha256.lower():
      raise UserError('%s has sha256 %s, expected %s: the file is corrupt or not the one expected'
                      % (path, actual, sha256))


def download(url, dest_dir, filename=None, expected_size=None, sha256=None, progress=True,
             timeout=60):
  """Downloads `url` into `dest_dir/filename` (default: the URL's basename) and returns the path.

  The bytes go to a temporary file that is renamed only after the whole body arrived, its length
  matches the server's Content-Length and the optional `expected_size`/`sha256` match.
  """
  filename = filename or os.path.basename(urllib.parse.urlparse(url).path) or 'download'
  os.makedirs(dest_dir, exist_ok=True)
  final_path = os.path.join(dest_dir, filename)
  temp_path = _temp_name(final_path)
  try:
    try:
      response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as e:
      raise UserError('cannot download %s: %s (use --dataset_url with a reachable URL or a local '
                      'copy of the file)' % (url, getattr(e, 'reason', e))) from None
    with response:
      length = response.headers.get('Content-Length')
      total = int(length) if length and length.isdigit() else None
      meter = _Progress(filename, total) if progress else None
      done = 0
      with open(temp_path, 'wb') as out:
        while True:
          try:
            block = response.read(_CHUNK)
          except (http.client.HTTPException, OSError) as e:  # IncompleteRead, socket errors
            raise UserError('download of %s broke off after %d bytes%s: %s' % (
                url, done, (' of %d' % total) if total else '', e)) from None
          if not block:
            break
          out.write(block)
          done += len(block)
          if meter:
            meter.update(done)
      if meter:
        meter.update(done, final=True)
    if total is not None and done != total:
      raise UserError('download of %s is incomplete: got %d of %d bytes (Content-Length)'
                      % (url, done, total))
    _check_expected(temp_path, expected_size, sha256)
    os.replace(temp_path, final_path)
  finally:
    if os.path.exists(temp_path):
      os.remove(temp_path)
  return final_path


def fetch(source, dest_dir, filename=None, expected_size=None, sha256=None, progress=True):
  """Returns `(path, downloaded)`: downloads a URL into dest_dir, or checks a local file in place.

  `downloaded` tells the caller whether the file is its own to delete afterwards (a user's local
  copy is never deleted).
  """
  if is_url(source) and not str(source).startswith('file:'):
    return download(source, dest_dir, filename, expected_size, sha256, progress), True
  path = urllib.parse.urlparse(source).path if str(source).startswith('file:') else source
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise UserError('source archive %s does not exist (pass a URL or an existing file to '
                    '--dataset_url)' % path)
  _check_expected(path, expected_size, sha256)
  return path, False


def _archive_kind(path):
  if zipfile.is_zipfile(path):
    return 'zip'
  try:
    if tarfile.is_tarfile(path):
      return 'tar'
  except OSError:
    pass
  return None


def verify_archive(path):
  """Reads the whole archive once (every gzip block, every tar/zip member's CRC) or raises UserError.

  Returns the archive kind, 'tar' or 'zip'.
  """
  kind = _archive_kind(path)
  if kind is None:
    raise UserError('%s is not a tar or zip archive (incomplete download or wrong file?)' % path)
  try:
    if kind == 'zip':
      with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        if bad is not None:
          raise UserError('%s is corrupt: member %r fails its CRC check' % (path, bad))
    else:
      with tarfile.open(path, 'r:*') as archive:
        for member in archive:
          if member.isfile():
            stream = archive.extractfile(member)
            while stream.read(_CHUNK):
              pass
  except UserError:
    raise
  except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as e:
    raise UserError('%s is corrupt or truncated: %s' % (path, e)) from None
  return kind


def _inside(target_dir, path):
  target = os.path.realpath(target_dir)
  resolved = os.path.realpath(path)
  return resolved == target or resolved.startswith(target + os.sep)


def _check_member_name(archive_path, target_dir, name):
  if os.path.isabs(name) or name.startswith(('/', '\\')) or (len(name) > 1 and name[1] == ':'):
    raise UserError('refusing to extract %s: member %r has an absolute path' % (archive_path, name))
  if not _inside(target_dir, os.path.join(target_dir, name)):
    raise UserError('refusing to extract %s: member %r would be written outside %s'
                    % (archive_path, name, target_dir))


def check_tar_members(archive_path, members, target_dir):
  """Raises UserError naming the first member that could write outside `target_dir`."""
  for member in members:
    _check_member_name(archive_path, target_dir, member.name)
    if member.issym() or member.islnk():
      if os.path.isabs(member.linkname):
        raise UserError('refusing to extract %s: link %r points to the absolute path %r'
                        % (archive_path, member.name, member.linkname))
      # A symlink is relative to its own folder, a hard link to the archive's root.
      base = os.path.dirname(member.name) if member.issym() else ''
      if not _inside(target_dir, os.path.join(target_dir, base, member.linkname)):
        raise UserError('refusing to extract %s: link %r points outside %s (%r)'
                        % (archive_path, member.name, target_dir, member.linkname))
    elif not (member.isfile() or member.isdir()):
      raise UserError('refusing to extract %s: member %r is a device or fifo'
                      % (archive_path, member.name))


def _already_extracted(target_dir, info):
  path = os.path.join(target_dir, info.filename)
  if info.is_dir():
    return os.path.isdir(path)
  return os.path.isfile(path) and os.path.getsize(path) == info.file_size


def safe_extract(archive_path, target_dir, skip_existing=False):
  """Verifies then extracts a tar (any compression) or zip archive into `target_dir`.

  Every member is checked before any byte is written, so a hostile archive leaves nothing behind.
  With `skip_existing`, zip members already present with their full size are not written again
  (resuming the extraction of a big archive).
  """
  kind = _archive_kind(archive_path)
  if kind is None:
    raise UserError('%s is not a tar or zip archive (incomplete download or wrong file?)'
                    % archive_path)
  try:
    if kind == 'zip':
      verify_archive(archive_path)
      with zipfile.ZipFile(archive_path) as archive:
        infos = archive.infolist()
        for info in infos:
          _check_member_name(archive_path, target_dir, info.filename)
        os.makedirs(target_dir, exist_ok=True)
        if skip_existing:
          infos = [info for info in infos if not _already_extracted(target_dir, info)]
        archive.extractall(target_dir, members=infos)
    else:
      with tarfile.open(archive_path, 'r:*') as archive:
        # Listing the members decompresses the whole archive; reading on to the end of the
        # compressed stream also checks its trailer (length and CRC). One pass verifies, a second
        # extracts, and nothing is written before both the archive and every member passed.
        members = archive.getmembers()
        while archive.fileobj.read(_CHUNK):
          pass
        check_tar_members(archive_path, members, target_dir)
        os.makedirs(target_dir, exist_ok=True)
        # The 'data' filter repeats the checks above inside tarfile and drops odd permission bits.
        archive.extractall(target_dir, members=members, filter='data')
  except UserError:
    raise
  except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as e:
    raise UserError('cannot extract %s: it is corrupt or truncated (%s)' % (archive_path, e)) from None
  return target_dir


def _temp_name(final_path):
  directory, base = os.path.split(final_path)
  return os.path.join(directory, '.%s%s%d' % (base, TEMP_MARKER, os.getpid()))


def is_temp_name(filename):
  return TEMP_MARKER in os.path.basename(filename)


def remove_stale_temps(directory):
  """Deletes temporary outputs left by interrupted runs in `directory`; returns their names."""
  removed = []
  if not os.path.isdir(directory):
    return removed
  for name in sorted(os.listdir(directory)):
    if is_temp_name(name):
      remove_quietly(os.path.join(directory, name))
      removed.append(name)
  return removed


@contextlib.contextmanager
def atomic_output(final_path, mode='wb'):
  """Yields a file object for a temporary sibling of `final_path`, renamed to it on success.

  On any exception (including KeyboardInterrupt) the temporary file is deleted and `final_path`
  is left untouched.
  """
  temp_path = _temp_name(final_path)
  try:
    with open(temp_path, mode) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(temp_path, final_path)
  finally:
    if os.path.exists(temp_path):
      os.remove(temp_path)


def write_atomically(final_path, data):
  """Writes `data` (bytes or str) to `final_path` so that it is either whole or not there.

  The one atomic writer of the project. A URL-style path (gs://...) goes through TensorFlow's file
  system layer, written beside and renamed like a local one.
  """
  if '://' in final_path:
    import tensorflow as tf  # deferred, as above
    temp_path = final_path + TEMP_MARKER + str(os.getpid())
    with tf.io.gfile.GFile(temp_path, 'wb' if isinstance(data, bytes) else 'w') as f:
      f.write(data)
    tf.io.gfile.rename(temp_path, final_path, overwrite=True)
    return
  with atomic_output(final_path, 'wb' if isinstance(data, bytes) else 'w') as f:
    f.write(data)


def write_text_atomically(final_path, text):
  write_atomically(final_path, text)


def write_json_atomically(final_path, data):
  """`data` as indented JSON at `final_path`, written atomically; the folder is created."""
  os.makedirs(os.path.dirname(final_path) or '.', exist_ok=True)
  write_atomically(final_path, json.dumps(data, indent=1))


def _new_tfrecord_writer(path, options):
  import tensorflow as tf  # deferred, as above
  return tf.io.TFRecordWriter(path, options)


class AtomicTFRecordWriter(object):
  """A TFRecord writer whose file gets its final name only by `close()` or a clean `with` exit.

  `abort()` (or leaving the `with` block by an exception) deletes the partial file instead.
  """

  # A Ctrl-C lands as KeyboardInterrupt right after the C++ call it interrupted: just after the
  # file was created, or closed but not yet renamed. Both places delete the file before going on.

  def __init__(self, final_path, options=None):
    import tensorflow as tf  # deferred: worker processes and light tools need not load TF early
    self.final_path = final_path
    self.temp_path = _temp_name(final_path)
    self._rename = lambda: tf.io.gfile.rename(self.temp_path, final_path, overwrite=True)
    self._done = False
    self.count = 0
    try:
      self._writer = _new_tfrecord_writer(self.temp_path, options)
    except BaseException:
      remove_quietly(self.temp_path)
      raise

  def write(self, record):
    self._writer.write(record)
    self.count += 1

  def flush(self):
    self._writer.flush()

  def close(self):
    if self._done:
      return
    try:
      self._writer.close()
      self._rename()
    except BaseException:
      remove_quietly(self.temp_path)
      raise
    finally:
      self._done = True

  def abort(self):
    if self._done:
      return
    self._done = True
    try:
      self._writer.close()
    finally:
      remove_quietly(self.temp_path)

  def __enter__(self):
    return self

  def __exit__(self, exc_type, exc, tb):
    if exc_type is None:
      self.close()
    else:
      self.abort()
    return False


def remove_quietly(path):
  """Deletes a file or folder tree if it exists."""
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path, ignore_errors=True)
  elif os.path.lexists(path):
    os.remove(path)
