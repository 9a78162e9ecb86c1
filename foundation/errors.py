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
