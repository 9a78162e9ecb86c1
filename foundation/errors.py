"""The one exception type for mistakes a user can make (bad flag, missing file, unfit checkpoint)."""


class UserError(Exception):
  """A problem the user can fix; scripts print its message on one line and exit with code 2."""

  exit_code = 2
