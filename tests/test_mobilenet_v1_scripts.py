"""The original's stand-alone MobileNet V1 scripts in nets/, run as a user runs them, on the digits
converted to TFRecords: float training, --quantize fine-tuning from it (the QAT range variables in
its checkpoint), --quantize evaluation, and post-training int8 of the float checkpoint to a fully
integer TFLite model that classifies the held-out digits.

Sizes are tiny (MobileNet V1 0.25 on 16x16 images, a few steps at the original's learning rates):
these check the scripts' plumbing and outputs; test_quantize_scripts.py checks the accuracy."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conftest import ROOT, assert_user_error, run_script

DIGITS = os.path.join(ROOT, 'sample_data', 'digits')
NET = ['--dataset_name=custom', '--num_classes=10', '--depth_multiplier=0.25', '--image_size=16']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
  from datasets import convert_image_folder
  out = str(tmp_path_factory.mktemp('mobilenet_v1_scripts') / 'data')
  convert_image_folder.run(out, images_dir=DIGITS, validation_fraction=0.2, num_shards=2)
  return out


@pytest.fixture(scope='module')
def float_dir(data, tmp_path_factory):
  out = str(tmp_path_factory.mktemp('float'))
  run_script('nets/mobilenet_v1_train.py', '--dataset_dir=' + data, '--checkpoint_dir=' + out,
             '--batch_size=16', '--number_of_steps=20', *NET)
  return out


def test_train_quantize_from_a_float_checkpoint_then_eval_quantize(data, float_dir, tmp_path):
  float_checkpoint = tf.train.latest_checkpoint(float_dir)
  assert float_checkpoint.endswith('-20')
  float_names = set(tf.train.load_checkpoint(float_checkpoint).get_variable_to_shape_map())
  assert 'MobilenetV1/Conv2d_0/weights' in float_names
  assert not [n for n in float_names if '_quant/' in n]

  qat_dir = str(tmp_path / 'qat')
  run_script('nets/mobilenet_v1_train.py', '--dataset_dir=' + data, '--checkpoint_dir=' + qat_dir,
             '--fine_tune_checkpoint=' + float_dir, '--quantize', '--batch_size=16',
             '--number_of_steps=5', *NET)
  qat_checkpoint = tf.train.latest_checkpoint(qat_dir)
  # The original reset the step to 0 when fine-tuning: 5 steps, not 25.
  assert qat_checkpoint.endswith('-5'), qat_checkpoint
  reader = tf.train.load_checkpoint(qat_checkpoint)
  names = set(reader.get_variable_to_shape_map())
  ranges = sorted(n for n in names if re.search(r'_quant/(min|max)$', n))
  # 28 layers (conv 0, 13 depthwise + 13 pointwise, logits), weights and activations: 112.
  assert len(ranges) == 112, ranges
  assert 'MobilenetV1/MobilenetV1/Conv2d_0/weights_quant/min' in names
  assert 'MobilenetV1/Logits/Conv2d_1c_1x1/act_quant/max' in names
  # Fine-tuning quantises from step 0 (quant_delay 0): the activation ranges have moved.
  act_max = reader.get_tensor('MobilenetV1/MobilenetV1/Conv2d_0/act_quant/max')
  assert act_max != pytest.approx(6.0) and act_max > 0

  result = run_script('nets/mobilenet_v1_eval.py', '--dataset_dir=' + data,
                      '--checkpoint_dir=' + qat_dir, '--quantize', '--batch_size=100',
                      '--num_examples=300', *NET)
  accuracy = float(re.search(r'eval/Accuracy\[([0-9.]+)\]', result.stdout).group(1))
  assert 0.0 <= accuracy <= 1.0
  # --num_examples bounds the images read (in whole batches of --batch_size; the split has 359).
  assert re.search(r'Evaluated \S+model\.ckpt-5 \(step 5\): 300 images', result.stdout), \
      result.stdout
  # --eval_dir's default.
  assert os.path.exists(os.path.join(qat_dir, 'eval', 'per_class_accuracy.json'))


def test_post_training_quantization_writes_an_integer_model_that_classifies(data, float_dir,
                                                                           tmp_path):
  from image_classifier import evaluation, serving
  out = str(tmp_path / 'model_int8.tflite')
  result = run_script('nets/post_training_quantization.py', '--model_name=mobilenet_v1_025',
                      '--checkpoint_path=' + float_dir, '--dataset_dir=' + data,
                      '--output_tflite=' + out, '--num_steps=20', '--dataset_name=custom',
                      '--num_classes=10', '--image_size=16')
  assert 'tflite int8' in result.stdout, result.stdout
  model = serving.load(out)
  assert model._input['dtype'] == np.int8
  details = model.interpreter.get_tensor_details()
  floats = [d['name'] for d in details if d['dtype'] == np.float32]
  assert not floats, floats
  results = evaluation.evaluate_models({'int8': model}, 'custom', data, 'validation')
  assert results['int8']['n'] == 359


def test_help_and_user_errors(data, tmp_path):
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  for script, flag in (('mobilenet_v1_train.py', '--quantize'),
                       ('mobilenet_v1_eval.py', '--num_examples'),
                       ('post_training_quantization.py', '--output_tflite')):
    # As `python nets/<script>` from anywhere, without PYTHONPATH.
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'nets', script), '--help'],
                            capture_output=True, text=True, timeout=120, env=env,
                            cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert flag in result.stdout, result.stdout
  assert_user_error(run_script('nets/mobilenet_v1_eval.py', '--dataset_dir=' + data,
                               '--dataset_name=custom', '--checkpoint_dir=' + str(tmp_path),
                               check=False),
                    '--num_classes=1001 but custom', 'give --num_classes=10')
  assert_user_error(run_script('nets/mobilenet_v1_train.py', '--dataset_dir=' + data,
                               '--checkpoint_dir=' + str(tmp_path / 't'), '--num_classes=10',
                               '--dataset_name=custom', '--depth_multiplier=0.3', check=False),
                    '--depth_multiplier=0.3')
  assert_user_error(run_script('nets/post_training_quantization.py', '--model_name=mobilenet_v1',
                               check=False), '--checkpoint_path is required')


def test_defaults_come_from_the_general_scripts_flags():
  """The MobileNet V1 jobs read train/eval_image_classifier.py's defaults from their one
  definition: every flag of those scripts is an option, at its default unless the original's
  script sets it."""
  from absl import flags
  from image_classifier import script_flags
  for define in (script_flags.define_train_flags, script_flags.define_eval_flags):
    values = flags.FlagValues()
    define(flag_values=values)
    defaults = script_flags.defaults(define)
    assert set(vars(defaults)) == set(values), define.__name__
    for name in values:
      assert getattr(defaults, name) == values[name].default, name
  train = script_flags.defaults(script_flags.define_train_flags)
  assert (train.optimizer, train.learning_rate, train.batch_size) == ('rmsprop', 0.01, 32)
