"""The scripts' command line: --help shows every flag a script uses, and every validated flag given
an out-of-range value ends in one `error:` line naming the flag, exit code 2, nothing written.

The table runs each script's own parser (`cli.parse`, what `cli.run` calls) in one subprocess per
script; a few rows also run the real command end to end.
"""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, assert_user_error, run_script

# script: [(argument, flag it must name)]
BAD_VALUES = {
    'train_image_classifier': [
        ('--batch_size=0', 'batch_size'), ('--batch_size=-4', 'batch_size'),
        ('--num_clones=0', 'num_clones'), ('--train_image_size=-5', 'train_image_size'),
        ('--optimizer=lbfgs', 'optimizer'), ('--learning_rate_decay_type=cosine',
                                              'learning_rate_decay_type'),
        ('--learning_rate=-1', 'learning_rate'), ('--label_smoothing=2', 'label_smoothing'),
        ('--max_number_of_steps=-1', 'max_number_of_steps'), ('--num_readers=0', 'num_readers'),
        ('--log_every_n_steps=0', 'log_every_n_steps'),
        ('--save_interval_secs=-1', 'save_interval_secs'),
        ('--save_summaries_secs=-1', 'save_summaries_secs'), ('--task=-1', 'task'),
        ('--worker_replicas=0', 'worker_replicas'), ('--num_ps_tasks=-1', 'num_ps_tasks'),
        ('--replicas_to_aggregate=0', 'replicas_to_aggregate'),
        ('--quantize_delay=-2', 'quantize_delay'),
        ('--moving_average_decay=1.5', 'moving_average_decay'),
        ('--model_name=resnet_v9', 'model_name'), ('--dataset_name=faces', 'dataset_name'),
        ('--preprocessing_name=fancy', 'preprocessing_name'),
        ('--num_preprocessing_threads=0', 'num_preprocessing_threads'),
        ('--job_name=chief', 'job_name'), ('--weight_decay=-1', 'weight_decay'),
        ('--adam_beta1=1.5', 'adam_beta1'), ('--rmsprop_decay=2', 'rmsprop_decay'),
        ('--clip_gradient_norm=-1', 'clip_gradient_norm'), ('--warmup_epochs=-1', 'warmup_epochs'),
        ('--labels_offset=-1', 'labels_offset'), ('--input_pipeline=fast', 'input_pipeline'),
        ('--mixed_precision=float16', 'mixed_precision'),
    ],
    'eval_image_classifier': [
        ('--batch_size=-1', 'batch_size'), ('--eval_image_size=-1', 'eval_image_size'),
        ('--max_num_batches=-1', 'max_num_batches'),
        ('--eval_interval_secs=-5', 'eval_interval_secs'), ('--timeout=-1', 'timeout'),
        ('--max_number_of_evaluations=-1', 'max_number_of_evaluations'),
        ('--model_name=resnet_v9', 'model_name'), ('--dataset_name=faces', 'dataset_name'),
        ('--moving_average_decay=-0.5', 'moving_average_decay'),
    ],
    'export_inference_graph': [
        ('--image_size=-1', 'image_size'), ('--batch_size=0', 'batch_size'),
        ('--num_classes=0', 'num_classes'), ('--num_frames=0', 'num_frames'),
        ('--model_name=resnet_v9', 'model_name'), ('--dataset_name=faces', 'dataset_name'),
        ('--labels_offset=-1', 'labels_offset'),
    ],
    'export_model': [
        ('--format=onnx', 'format'), ('--tflite_quantization=int4', 'tflite_quantization'),
        ('--image_size=-1', 'image_size'), ('--num_classes=0', 'num_classes'),
        ('--num_calibration_images=0', 'num_calibration_images'),
        ('--preprocessing_name=fancy', 'preprocessing_name'),
    ],
    'eval_exported_model': [
        ('--batch_size=0', 'batch_size'), ('--max_num_batches=-1', 'max_num_batches'),
        ('--image_size=-3', 'image_size'), ('--dataset_name=faces', 'dataset_name'),
    ],
    'label_image': [
        ('--top_k=0', 'top_k'), ('--input_height=0', 'input_height'),
        ('--input_width=-1', 'input_width'), ('--input_std=0', 'input_std'),
        ('--labels_offset=-1', 'labels_offset'),
    ],
    'download_and_convert_data': [
        ('--dataset_name=faces', 'dataset_name'), ('--validation_fraction=1.5',
                                                   'validation_fraction'),
        ('--num_shards=0', 'num_shards'), ('--num_workers=0', 'num_workers'),
        ('--small_object_area_threshold=-1', 'small_object_area_threshold'),
    ],
}

# Flags every script's --help must show (its own and the shared ones it uses).
HELP_SHOWS = {
    'train_image_classifier': ['--model_name', '--dataset_dir', '--dataset_name', '--batch_size',
                               '--train_dir', '--optimizer', '<adadelta|adagrad|adam|ftrl|'],
    'eval_image_classifier': ['--model_name', '--dataset_dir', '--batch_size', '--eval_dir'],
    'export_inference_graph': ['--model_name', '--output_file', '--labels_offset'],
    'export_model': ['--model_name', '--format', '<saved_model|tflite|frozen_graph>'],
    'eval_exported_model': ['--model', '--dataset_dir', '--moving_average_decay'],
    'label_image': ['--graph', '--image', '--labels'],
    'download_and_convert_data': ['--dataset_name', '--dataset_dir', '--images_dir'],
    'freeze_graph': ['--input_graph', '--output_graph'],
}

_DRIVER = r'''
import contextlib, io, json, sys
sys.path.insert(0, %(root)r)
script = %(script)r
sys.argv = [script + '.py']
module = __import__(script)
from absl import flags
from image_classifier import cli
out = []
for args in json.loads(sys.stdin.read()):
  stdout, stderr = io.StringIO(), io.StringIO()
  code = 0
  with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
    try:
      cli.parse([script + '.py'] + args, module)
    except SystemExit as e:
      code = e.code
  flags.FLAGS.unparse_flags()
  out.append([code, stdout.getvalue(), stderr.getvalue()])
print('RESULTS' + json.dumps(out))
'''


def _parse_in_subprocess(script, arg_lists):
  result = subprocess.run([sys.executable, '-c', _DRIVER % {'root': ROOT, 'script': script}],
                          input=json.dumps(arg_lists), capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  line = [line for line in result.stdout.splitlines() if line.startswith('RESULTS')][-1]
  return json.loads(line[len('RESULTS'):])


@pytest.mark.parametrize('script', sorted(BAD_VALUES))
def test_every_out_of_range_value_is_one_error_line(script):
  cases = BAD_VALUES[script]
  help_case = ['--help']
  results = _parse_in_subprocess(script, [[arg] for arg, _ in cases] + [help_case])
  for (arg, flag), (code, _, stderr) in zip(cases, results):
    errors = [line for line in stderr.splitlines() if line.startswith('error:')]
    assert code == 2, (arg, code, stderr)
    assert len(errors) == 1 and '--' + flag in errors[0], (arg, stderr)
    assert 'Traceback' not in stderr, (arg, stderr)
  code, stdout, _ = results[-1]
  assert code == 0
  for text in HELP_SHOWS[script]:
    assert text in stdout, (script, text)
  assert '(default: ' in stdout
  assert '--tpu' not in stdout and '--pfor' not in stdout  # not TensorFlow's own flags


def test_freeze_graph_help_shows_its_flags():
  results = _parse_in_subprocess('freeze_graph', [['--help']])
  code, stdout, _ = results[0]
  assert code == 0
  for text in HELP_SHOWS['freeze_graph']:
    assert text in stdout


@pytest.mark.parametrize('script,arg,flag,output_flag', [
    ('train_image_classifier.py', '--batch_size=0', 'batch_size', '--train_dir'),
    ('eval_image_classifier.py', '--batch_size=-1', 'batch_size', '--eval_dir'),
    ('export_model.py', '--format=onnx', 'format', '--output_file'),
])
def test_the_real_command_writes_nothing(script, arg, flag, output_flag, tmp_path):
  target = tmp_path / 'out'
  result = run_script(script, arg, '%s=%s' % (output_flag, target), '--dataset_dir=%s' % tmp_path,
                      check=False)
  assert_user_error(result, '--' + flag)
  assert not target.exists()


def test_help_of_the_real_command_exits_0_and_reads_well():
  result = run_script('train_image_classifier.py', '--help', check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  # The usage example keeps its line breaks.
  assert '--dataset_dir=/tmp/flowers \\\n' in result.stdout or \
      '--dataset_name=flowers \\\n' in result.stdout, result.stdout[:800]


def test_installed_console_command_prints_the_same_help():
  command = os.path.join(os.path.dirname(sys.executable), 'train-image-classifier')
  if not os.path.exists(command):
    pytest.skip('the project is not installed in this Python (pip install -e . makes %s)'
                % command)
  result = subprocess.run([command, '--help'], capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert '--model_name' in result.stdout and '--train_dir' in result.stdout
