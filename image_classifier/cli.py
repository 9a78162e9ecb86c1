"""Script boundary: user mistakes become one line on stderr and exit code 2, not a traceback."""
import sys

from absl import app

from foundation import internals  # noqa: F401  (applies the TF 2.21 fixes first)
from foundation.errors import UserError


def quiet_logs():
  """One line per log record, and no deprecation chatter from TF's own v1 APIs we use on purpose."""
  import logging
  import warnings
  from tensorflow.python.util import deprecation
  deprecation._PRINT_DEPRECATION_WARNINGS = False  # pylint: disable=protected-access
  warnings.filterwarnings('ignore', category=UserWarning)
  warnings.filterwarnings('ignore', category=DeprecationWarning)
  # tf.logging has its own handler; propagating to absl's root handler printed every line twice.
  logging.getLogger('tensorflow').propagate = False


def fail(message, code=2):
  sys.stderr.write('error: %s\n' % message)
  sys.stderr.flush()
  sys.exit(code)


def run(main):
  """absl.app.run(main), with UserError (and KeyboardInterrupt) turned into a clean exit."""

  def guarded(argv):
    try:
      return main(argv)
    except UserError as e:
      fail(str(e), e.exit_code)
    except KeyboardInterrupt:
      fail('interrupted', 130)

  quiet_logs()
  app.run(guarded)
