"""The exception for mistakes a user can fix (a bad value, a missing or corrupt file, a checkpoint
that does not fit), and the one place where other errors become it."""
import contextlib


class UserError(ValueError):
  """A problem the user can fix, with a message written for them.

  A ValueError, so code that caught the original slim's ValueErrors still catches it; the scripts
  print its message on one line and exit with `exit_code`.
  """

  exit_code = 2


@contextlib.contextmanager
def as_user_error(prefix='', types=(ValueError, TypeError)):
  """Re-raises `types` raised inside the block as UserError (message prefixed by `prefix`).

  For the application layer, around a library call whose only possible failures are about the
  user's values (a factory lookup with a name from a flag, a configuration check).
  """
  try:
    yield
  except UserError:
    raise
  except types as e:
    raise UserError(prefix + str(e)) from e


class Stopped(Exception):
  """Work ended by a signal after saving what there was to save (`signal`: its number); the
  scripts exit with the shell's code for it (130 for SIGINT, 143 for SIGTERM)."""

  def __init__(self, message, signal_number):
    super(Stopped, self).__init__(message)
    self.signal = signal_number


def reason(error):
  """The line of a TensorFlow (or TFLite) error that says what went wrong, without the node
  trace and the "Graph execution error:" header around it."""
  text = getattr(error, 'message', None) or str(error)
  for line in text.splitlines():
    line = line.strip()
    if line and not line.startswith(('Graph execution error', 'Detected at node', '[[', 'File ',
                                     'Traceback', 'node ', '(0)', '(1)')) and line != '}}':
      return line.rstrip(':').strip()
  return text.strip().splitlines()[0] if text.strip() else type(error).__name__
