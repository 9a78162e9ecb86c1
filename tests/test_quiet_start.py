"""Quiet start: what TensorFlow prints before a script's own lines, and that real errors still show.

TensorFlow's C++ libraries log a few INFO lines while they load, before TensorFlow reads
TF_CPP_MIN_LOG_LEVEL (README, troubleshooting): those are the only runtime lines allowed before a
script's own output, and none of them is a warning or an error.
"""
import os
import re
import subprocess
import sys

from conftest import ROOT
from image_classifier import process

# A C++ (absl) log line: severity letter, month and day, e.g. 'E0000 00:00:1796222280.62 ...'.
CPP_LOG_LINE = re.compile(r'^([IWEF])\d{4} ')
# The lines logged while TensorFlow's libraries load (each of two libraries has its own copy of
# the logging library): oneDNN on, and no CUDA runtime on this machine.
LOAD_TIME_LINES = re.compile(
    r'^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR'
    r'|I\d{4} .* (port\.cc:\d+\] oneDNN custom operations are on'
    r'|cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used))')


def _script_environment():
  """The test process's environment without the variables prepare_environment sets, so that the
  script makes its own choices as it does for a user."""
  env = dict(os.environ)
  for name in ('TF_CPP_MIN_LOG_LEVEL', 'TF_ENABLED_DEVICE_TYPES', 'TF_ENABLE_ONEDNN_OPTS'):
    env.pop(name, None)
  return env


def test_a_script_starts_with_its_own_lines(tmp_path):
  output_file = tmp_path / 'lenet.pb'
  command = [sys.executable, os.path.join(ROOT, 'export_inference_graph.py'), '--model_name=lenet',
             '--dataset_name=mnist', '--output_file=%s' % output_file]
  # stdout and stderr in one stream, as a terminal shows them.
  result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=dict(_script_environment(), PYTHONPATH=ROOT), cwd=ROOT, timeout=300)
  lines = result.stdout.splitlines()
  assert result.returncode == 0, result.stdout[-3000:]
  own = [i for i, line in enumerate(lines) if line.startswith('Wrote %s' % output_file)]
  assert own, result.stdout[-3000:]
  before = lines[:own[0]]
  assert all(LOAD_TIME_LINES.match(line) for line in before), before
  # No warning or error line anywhere: in particular no `E... failed call to cuInit` where no GPU
  # can be used (with a GPU driver present it would be a real error, and would show).
  severities = [CPP_LOG_LINE.match(line).group(1) for line in lines if CPP_LOG_LINE.match(line)]
  assert set(severities) <= {'I'}, lines
  if process.gpu_impossible():
    assert not any('cuInit' in line for line in lines), lines
  assert not any('Scale of 0 disables regularizer' in line for line in lines), lines


PROBE = """
from image_classifier import process
process.prepare_environment()
process.configure_tensorflow()
import tensorflow.compat.v1 as tf
with tf.Session() as session:
  for level in ('info', 'warning', 'error'):
    session.run(tf.raw_ops.PrintV2(input=tf.constant('probe ' + level),
                                   output_stream='log(%s)' % level))
"""


def test_tensorflow_errors_still_show_and_info_and_warnings_do_not():
  result = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True,
                          env=dict(_script_environment(), PYTHONPATH=ROOT), cwd=ROOT, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  probes = [line for line in result.stderr.splitlines() if 'probe ' in line]
  # TensorFlow's own C++ LOG(ERROR) line, as the user sees it.
  assert len(probes) == 1 and re.match(r'^E\d{4} .*logging_ops\.cc:\d+\] probe error$',
                                       probes[0]), result.stderr[-3000:]


def test_settings_the_user_made_are_kept(monkeypatch):
  monkeypatch.setenv('TF_ENABLE_ONEDNN_OPTS', '0')
  monkeypatch.setenv('TF_CPP_MIN_LOG_LEVEL', '0')
  monkeypatch.setenv('TF_ENABLED_DEVICE_TYPES', 'GPU')
  process.prepare_environment()
  assert os.environ['TF_CPP_MIN_LOG_LEVEL'] == '0'
  assert os.environ['TF_ENABLED_DEVICE_TYPES'] == 'GPU'
  monkeypatch.delenv('TF_ENABLED_DEVICE_TYPES')
  process.prepare_environment()
  # Only the CPU device factories where no GPU can be used; otherwise TensorFlow's default (all).
  assert os.environ.get('TF_ENABLED_DEVICE_TYPES') == (
      process.CPU_DEVICE_TYPES if process.gpu_impossible() else None)
