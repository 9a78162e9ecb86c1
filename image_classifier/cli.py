"""Script boundary: the process set up, and user mistakes turned into one line and exit code 2."""
import sys

from absl import app

from foundation.errors import UserError
from image_classifier import process


def fail(message, code=2):
  sys.stderr.write('error: %s\n' % message)
  sys.stderr.flush()
  sys.exit(code)


def run(main):
  """absl.app.run(main) in a configured process, with UserError and Ctrl-C as clean exits."""

  def guarded(argv):
    try:
      return main(argv)
    except UserError as e:
      fail(str(e), e.exit_code)
    except KeyboardInterrupt:
      fail('interrupted', 130)

  process.prepare_environment(sys.argv)
  # Before app.run: TensorFlow's logger gets its own handler only while absl's is not yet there.
  process.configure_tensorflow()
  app.run(guarded)
