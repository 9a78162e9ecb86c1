"""foundation.fileio: downloads over a loopback HTTP server, archive checks, atomic outputs."""
import io
import os
import signal
import subprocess
import sys
import tarfile
import zipfile

import pytest

from foundation import fileio
from foundation.errors import UserError
from tests.http_server import serve_directory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _payload(size=300000):
  return bytes(bytearray((i * 7 + i // 251) % 256 for i in range(size)))


def test_download_shows_progress_and_keeps_bytes(tmp_path, capsys):
  served = tmp_path / 'served'
  served.mkdir()
  data = _payload()
  (served / 'blob.bin').write_bytes(data)
  with serve_directory(str(served)) as url:
    path, downloaded = fileio.fetch(url + '/blob.bin', str(tmp_path / 'out'))
  assert downloaded and os.path.basename(path) == 'blob.bin'
  assert open(path, 'rb').read() == data
  err = capsys.readouterr().err
  assert 'Downloading blob.bin' in err and '100.0%' in err and '293.0 KB' in err
  assert os.listdir(str(tmp_path / 'out')) == ['blob.bin']


def test_download_broken_off_is_refused_and_leaves_nothing(tmp_path):
  served = tmp_path / 'served'
  served.mkdir()
  (served / 'blob.bin').write_bytes(_payload())
  out = tmp_path / 'out'
  with serve_directory(str(served), truncate={'blob.bin': 1000}) as url:
    with pytest.raises(UserError, match=r'(incomplete|broke off).*300000'):
      fileio.download(url + '/blob.bin', str(out), progress=False)
  assert os.listdir(str(out)) == []


def test_download_missing_url_and_missing_local_file(tmp_path):
  with serve_directory(str(tmp_path)) as url:
    with pytest.raises(UserError, match='cannot download .*nope.tgz'):
      fileio.fetch(url + '/nope.tgz', str(tmp_path / 'out'))
  with pytest.raises(UserError, match='does not exist'):
    fileio.fetch(str(tmp_path / 'nope.tgz'), str(tmp_path / 'out'))


def test_local_file_used_in_place_and_checked(tmp_path):
  blob = tmp_path / 'blob.bin'
  blob.write_bytes(b'abc')
  path, downloaded = fileio.fetch(str(blob), str(tmp_path / 'out'), expected_size=3,
                                  sha256=fileio.sha256sum(str(blob)))
  assert path == str(blob) and not downloaded
  with pytest.raises(UserError, match='has 3 bytes, expected 4'):
    fileio.fetch(str(blob), str(tmp_path), expected_size=4)
  with pytest.raises(UserError, match='sha256'):
    fileio.fetch(str(blob), str(tmp_path), sha256='0' * 64)


def _tar(path, entries):
  """entries: (name, kind, payload) with kind 'file', 'dir', 'sym', 'hard'."""
  with tarfile.open(path, 'w:gz') as tar:
    for name, kind, payload in entries:
      info = tarfile.TarInfo(name)
      if kind == 'file':
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
      elif kind == 'dir':
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
      else:
        info.type = tarfile.SYMTYPE if kind == 'sym' else tarfile.LNKTYPE
        info.linkname = payload
        tar.addfile(info)
  return path


@pytest.mark.parametrize('name,kind,payload,message', [
    ('top/../../evil.txt', 'file', b'x', 'outside'),
    ('/tmp/evil_abs.txt', 'file', b'x', 'absolute path'),
    ('top/link', 'sym', '../../outside', 'points outside'),
    ('top/link', 'sym', '/etc/passwd', 'absolute path'),
    ('top/hard', 'hard', '../etc/passwd', 'points outside'),
])
def test_hostile_tar_member_refused_before_anything_is_written(tmp_path, name, kind, payload,
                                                               message):
  archive = _tar(str(tmp_path / 'a.tgz'),
                 [('top/ok.txt', 'file', b'fine'), (name, kind, payload)])
  target = tmp_path / 'deep' / 'target'
  with pytest.raises(UserError) as error:
    fileio.safe_extract(archive, str(target))
  assert repr(name) in str(error.value) and message in str(error.value)
  assert not (target / 'top').exists()
  assert not (tmp_path / 'evil.txt').exists() and not os.path.exists('/tmp/evil_abs.txt')


def test_hostile_zip_member_refused(tmp_path):
  archive = str(tmp_path / 'a.zip')
  with zipfile.ZipFile(archive, 'w') as z:
    z.writestr('ok.txt', 'fine')
    z.writestr('../evil.txt', 'bad')
  with pytest.raises(UserError, match=r"'\.\./evil\.txt'"):
    fileio.safe_extract(archive, str(tmp_path / 'target'))
  assert not (tmp_path / 'evil.txt').exists()


def test_zip_resume_skips_members_already_extracted(tmp_path):
  archive = str(tmp_path / 'a.zip')
  with zipfile.ZipFile(archive, 'w') as z:
    z.writestr('d/one.txt', 'one')
    z.writestr('d/two.txt', 'two')
  target = tmp_path / 't'
  (target / 'd').mkdir(parents=True)
  (target / 'd' / 'one.txt').write_text('ONE')  # complete size: kept as is
  (target / 'd' / 'two.txt').write_text('t')  # partial: extracted again
  fileio.safe_extract(archive, str(target), skip_existing=True)
  assert (target / 'd' / 'one.txt').read_text() == 'ONE'
  assert (target / 'd' / 'two.txt').read_text() == 'two'


def test_good_archive_with_inner_link_extracts(tmp_path):
  archive = _tar(str(tmp_path / 'a.tgz'), [
      ('top', 'dir', None), ('top/a.txt', 'file', b'hello'), ('top/sub/link', 'sym', '../a.txt')])
  fileio.safe_extract(archive, str(tmp_path / 't'))
  assert (tmp_path / 't' / 'top' / 'sub' / 'link').read_bytes() == b'hello'


def test_truncated_or_foreign_archive_is_refused(tmp_path):
  archive = _tar(str(tmp_path / 'a.tgz'), [('top/big.bin', 'file', _payload(200000))])
  data = open(archive, 'rb').read()
  truncated = tmp_path / 'cut.tgz'
  truncated.write_bytes(data[:len(data) // 2])
  with pytest.raises(UserError, match='corrupt or truncated|not a tar'):
    fileio.verify_archive(str(truncated))
  for cut in (len(data) // 3, len(data) - 4):  # inside a member's data; inside the gzip trailer
    truncated.write_bytes(data[:cut])
    with pytest.raises(UserError, match='corrupt or truncated|not a tar'):
      fileio.safe_extract(str(truncated), str(tmp_path / 't'))
    assert not (tmp_path / 't').exists()
  text = tmp_path / 'page.html'
  text.write_text('<html>not found</html>')
  with pytest.raises(UserError, match='not a tar or zip'):
    fileio.safe_extract(str(text), str(tmp_path / 't'))


def test_atomic_output_keeps_no_partial_file(tmp_path):
  final = str(tmp_path / 'out.txt')
  with pytest.raises(RuntimeError):
    with fileio.atomic_output(final, 'w') as f:
      f.write('half')
      raise RuntimeError('stop')
  assert os.listdir(str(tmp_path)) == []
  fileio.write_text_atomically(final, 'whole')
  assert open(final).read() == 'whole' and os.listdir(str(tmp_path)) == ['out.txt']


def test_killed_writer_leaves_only_a_temp_name(tmp_path):
  """SIGKILL mid-write (nothing can clean up): the final name never appears; the leftover is
  recognisable as temporary and removed by the next run's remove_stale_temps."""
  final = str(tmp_path / 'x_train_00000-of-00001.tfrecord')
  code = ('import sys, time\n'
          'from foundation import fileio\n'
          'with fileio.atomic_output(sys.argv[1]) as f:\n'
          '  f.write(b"half a shard"); f.flush()\n'
          '  print("ready", flush=True)\n'
          '  time.sleep(120)\n')
  proc = subprocess.Popen([sys.executable, '-c', code, final], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL)
  try:
    assert proc.stdout.readline().strip() == b'ready'
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
  finally:
    if proc.poll() is None:
      proc.kill()
  names = os.listdir(str(tmp_path))
  assert len(names) == 1 and fileio.is_temp_name(names[0]) and not os.path.exists(final)
  assert fileio.remove_stale_temps(str(tmp_path)) == names
  assert os.listdir(str(tmp_path)) == []


def test_tfrecord_writer_renames_only_when_closed(tmp_path):
  final = str(tmp_path / 'a.tfrecord')
  writer = fileio.AtomicTFRecordWriter(final)
  writer.write(b'one')
  assert not os.path.exists(final) and len(os.listdir(str(tmp_path))) == 1
  writer.close()
  assert os.listdir(str(tmp_path)) == ['a.tfrecord']
  with pytest.raises(KeyboardInterrupt):
    with fileio.AtomicTFRecordWriter(str(tmp_path / 'b.tfrecord')) as writer:
      writer.write(b'two')
      raise KeyboardInterrupt()
  assert os.listdir(str(tmp_path)) == ['a.tfrecord']


def test_tfrecord_writer_interrupted_inside_its_own_calls_leaves_nothing(tmp_path, monkeypatch):
  # Ctrl-C right after the file is created, and between closing and renaming it (the two places
  # where the shard used to stay behind under its temporary name).
  real = fileio._new_tfrecord_writer

  def created_then_interrupted(path, options):
    real(path, options)
    assert os.listdir(str(tmp_path))  # the real file exists at this point
    raise KeyboardInterrupt()
  monkeypatch.setattr(fileio, '_new_tfrecord_writer', created_then_interrupted)
  with pytest.raises(KeyboardInterrupt):
    fileio.AtomicTFRecordWriter(str(tmp_path / 'a.tfrecord'))
  assert os.listdir(str(tmp_path)) == []
  monkeypatch.setattr(fileio, '_new_tfrecord_writer', real)

  def interrupted():
    raise KeyboardInterrupt()
  with pytest.raises(KeyboardInterrupt):
    with fileio.AtomicTFRecordWriter(str(tmp_path / 'b.tfrecord')) as writer:
      writer.write(b'one')
      writer._rename = interrupted
  assert os.listdir(str(tmp_path)) == []

