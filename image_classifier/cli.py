"""Script boundary: the process set up, flags parsed and shown, and every ending given its code.

Importing this module prepares the environment TensorFlow reads when it loads
(`process.prepare_environment`); only the scripts import it, first.

Exit codes: 0 done; 1 a bug (a traceback); 2 a user mistake (one `error:` line: a bad flag value,
a missing or corrupt file, a checkpoint that does not fit); 130 stopped by Ctrl-C (SIGINT) and 143
stopped by SIGTERM, after saving what there was to save.
"""
import functools
import gc
import signal
import sys

from absl import app
from absl import flags

from foundation.errors import Stopped
from foundation.errors import UserError
from image_classifier import process

process.prepare_environment(sys.argv)

# TensorFlow's import creates about half a million objects and almost no garbage cycles; the cyclic
# collector, run hundreds of times while it loads, took 0.4 s of its 2.6 s
# (benchmarks/results/startup.md). It is off for these imports only, as it was found.
_COLLECTING = gc.isenabled()
gc.disable()
try:
  from image_classifier import shared_flags  # noqa: E402  (loads TensorFlow: after the line above)
  from image_classifier import script_flags  # noqa: E402
finally:
  if _COLLECTING:
    gc.enable()

FLAGS = flags.FLAGS
_HELP = ('--help', '-help', '-h', '-?', '--helpshort', '-helpshort')
_HELP_FULL = ('--helpfull', '-helpfull')
_SIGNAL_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def fail(message, code=2):
  sys.stderr.write('error: %s\n' % message)
  sys.stderr.flush()
  sys.exit(code)


def _render(flag):
  description = flag.help or ''
  parser = flag.parser
  if getattr(parser, 'lower_bound', None) is not None or getattr(parser, 'upper_bound', None) is not None:
    description += ' (%s)' % parser.syntactic_help
  text = flags.text_wrap(description, indent='    ', firstline_indent='  --%s: ' % flag.name)
  if flag.default is not None:
    text += '\n' + flags.text_wrap('(default: %s)' % flag.default_as_str, indent='    ')
  return text


def help_text(script_module):
  """The script's docstring, then its own flags and the shared ones it uses, each with default."""
  # A script's own flags may be defined for it in script_flags (train and eval share them).
  own = sorted(FLAGS.get_flags_for_module(script_module)
               + FLAGS.get_flags_for_module(script_flags), key=lambda f: f.name)
  shared = sorted(FLAGS.get_flags_for_module(shared_flags), key=lambda f: f.name)
  parts = [(script_module.__doc__ or '').strip(), '']
  for title, group in (('flags of this script', own), ('shared flags', shared)):
    if group:
      parts.append('%s:' % title)
      parts.extend(_render(f) for f in group)
      parts.append('')
  parts.append('All flags, TensorFlow\'s and absl\'s too: --helpfull')
  return '\n'.join(parts) + '\n'


def parse(argv, script_module):
  """Parses `argv` into FLAGS; --help prints help_text and exits 0; a bad value is one `error:` line
  naming the flag, exit code 2 (before anything is built or written)."""
  if any(arg in _HELP for arg in argv[1:]):
    sys.stdout.write(help_text(script_module))
    sys.exit(0)
  if any(arg in _HELP_FULL for arg in argv[1:]):
    sys.stdout.write(FLAGS.get_help() + '\n')
    sys.exit(0)
  try:
    return FLAGS(argv)
  except flags.Error as e:
    fail(str(e).replace('\n', ' '))


def script_main(main):
  """Lets a script's `main` also run from Python, as the original's did: set flag values as
  attributes of FLAGS, then call main(None); the other flags keep their defaults."""

  @functools.wraps(main)
  def wrapped(argv):
    if not FLAGS.is_parsed():
      FLAGS.mark_as_parsed()
    process.configure_tensorflow()
    return main(argv)

  return wrapped


def run(main):
  """absl.app.run(main) in a configured process, with flags checked first and clean endings."""
  script_module = sys.modules[main.__module__]
  # Key flags of the script, for absl's own help too.
  for flag in (FLAGS.get_flags_for_module(shared_flags)
               + FLAGS.get_flags_for_module(script_flags)):
    FLAGS.register_key_flag_for_module(script_module.__name__, flag)

  def guarded(argv):
    try:
      return main(argv)
    except Stopped as e:
      sys.stderr.write('%s\n' % e)
      sys.stderr.flush()
      sys.exit(_SIGNAL_CODES.get(e.signal, 130))
    except UserError as e:
      fail(str(e), e.exit_code)
    except KeyboardInterrupt:
      fail('interrupted', 130)

  # Before app.run: TensorFlow's logger gets its own handler only while absl's is not yet there.
  process.configure_tensorflow()
  # The modules loaded so far live as long as the process: kept out of the collector's passes,
  # which otherwise walk them again and again while the graph is built (0.18 s of inception_v3's).
  gc.freeze()
  app.run(guarded, flags_parser=lambda argv: parse(argv, script_module))
