"""Downloads (or copies) a pretrained checkpoint archive, extracts it safely, prints the checkpoint.

  python -m image_classifier.fetch_checkpoint --url=http://download.tensorflow.org/models/inception_v1_2016_08_28.tar.gz \
      --dest=/tmp/checkpoints

Used by the fine-tuning pipelines in scripts/. Prints the checkpoint prefix (for --checkpoint_path) on
the last line. A folder that already holds the checkpoint is reused without downloading.
"""
import glob
import os

from absl import flags

from foundation import fileio
from foundation.errors import UserError
from image_classifier import cli

flags.DEFINE_string('url', None, 'URL or local path of the checkpoint archive (.tar.gz or .tgz).')
flags.DEFINE_string('dest', '/tmp/checkpoints', 'Folder the checkpoint is extracted into.')
flags.DEFINE_string('name', None, 'Checkpoint file name expected inside the archive (for example '
                    'inception_v1.ckpt); reused when already there.')

FLAGS = flags.FLAGS


def find_checkpoint(folder, name=None):
  pattern = os.path.join(folder, '**', (name or '*.ckpt') + '.index')
  found = sorted(glob.glob(pattern, recursive=True))
  if found:
    return found[0][:-len('.index')]
  # Old V1 checkpoints are single files without an index.
  found = sorted(glob.glob(os.path.join(folder, '**', name or '*.ckpt'), recursive=True))
  return found[0] if found else None


def main(_):
  existing = find_checkpoint(FLAGS.dest, FLAGS.name) if FLAGS.name else None
  if not existing:
    if not FLAGS.url:
      raise UserError('--url is required')
    archive, downloaded = fileio.fetch(FLAGS.url, FLAGS.dest)
    fileio.safe_extract(archive, FLAGS.dest)
    if downloaded:
      fileio.remove_quietly(archive)
    existing = find_checkpoint(FLAGS.dest, FLAGS.name)
    if not existing:
      raise UserError('%s held no checkpoint%s' % (FLAGS.url, ' named %s' % FLAGS.name
                                                   if FLAGS.name else ''))
  print(existing)


if __name__ == '__main__':
  cli.run(main)
