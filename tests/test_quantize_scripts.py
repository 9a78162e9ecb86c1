"""Quantization-aware training through the scripts' code, on the real digits: float training,
--quantize_delay fine-tuning from it, eval --quantize, export_model --format=tflite --quantize
(uint8 and int8 from the learned ranges) evaluated as eval_exported_model.py does, and
export_inference_graph --quantize frozen with the QAT checkpoint.

The net is mobilenet_v1_025 (conv + batch norm + ReLU6, depthwise + batch norm) registered with a
batch-norm decay of 0.9 instead of 0.9997, so that its moving statistics settle within the few
hundred steps a test can afford (at 0.9997 they would need about 10000)."""
import functools

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from test_training import DIGITS, eval_options, train_options

MODEL = 'mobilenet_v1_025_bn09'
SIZE = 16  # the 8x8 digits padded (lenet preprocessing: pixels to [-1, 1])


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """(digits folder, float checkpoint, QAT checkpoint, float held-out accuracy)."""
  from datasets import convert_image_folder
  from image_classifier import evaluation, training
  from nets import mobilenet_v1
  from nets import nets_factory
  nets_factory.NETS[MODEL] = nets_factory.NetSpec(
      MODEL, mobilenet_v1.mobilenet_v1_025,
      functools.partial(mobilenet_v1.mobilenet_v1_arg_scope, batch_norm_decay=0.9), None, 'lenet',
      ('MobilenetV1/Logits',))
  root = tmp_path_factory.mktemp('qat')
  data = str(root / 'data')
  convert_image_folder.run(data, images_dir=DIGITS, validation_fraction=0.2, num_shards=2)
  common = dict(dataset_name='custom', dataset_dir=data, model_name=MODEL,
                preprocessing_name='lenet', train_image_size=SIZE, batch_size=32,
                weight_decay=0.0, optimizer='adam', opt_epsilon=1e-3,
                learning_rate_decay_type='fixed', log_every_n_steps=100,
                num_preprocessing_threads=2)
  float_checkpoint = training.train(train_options(
      train_dir=str(root / 'float'), max_number_of_steps=400, learning_rate=0.01, **common))
  qat_checkpoint = training.train(train_options(
      train_dir=str(root / 'qat'), checkpoint_path=float_checkpoint, max_number_of_steps=100,
      learning_rate=0.001, quantize_delay=0, **common))
  float_accuracy = evaluation.evaluate_checkpoint(
      _eval_options(data, root / 'eval_float'), float_checkpoint)['Accuracy']
  yield data, float_checkpoint, qat_checkpoint, float_accuracy
  del nets_factory.NETS[MODEL]


def _eval_options(data, eval_dir, **overrides):
  return eval_options(dataset_dir=data, eval_dir=str(eval_dir), model_name=MODEL,
                      preprocessing_name='lenet', eval_image_size=SIZE, **overrides)


def test_qat_checkpoint_evaluates_and_exports_to_integer_tflite(trained, tmp_path):
  from image_classifier import evaluation, exporting, model_info, serving
  data, _, qat_checkpoint, float_accuracy = trained
  names = set(tf.train.load_checkpoint(qat_checkpoint).get_variable_to_shape_map())
  assert 'MobilenetV1/MobilenetV1/Conv2d_0/weights_quant/min' in names
  assert 'MobilenetV1/MobilenetV1/Conv2d_1_depthwise/act_quant/max' in names
  qat_accuracy = evaluation.evaluate_checkpoint(
      _eval_options(data, tmp_path / 'eval_qat', quantize=True), qat_checkpoint)['Accuracy']
  # Chance is 0.1; runs gave float 0.84 and QAT 0.91-0.94 (the QAT run also trains on).
  assert float_accuracy > 0.5, float_accuracy
  assert qat_accuracy > 0.7, qat_accuracy

  info = model_info.describe(MODEL, 'custom', data, image_size=SIZE, preprocessing_name='lenet')
  models = {}
  for quantization in ('uint8', 'int8'):
    path = str(tmp_path / ('model_%s.tflite' % quantization))
    line = exporting.export(info, qat_checkpoint, path, 'tflite', quantization=quantization,
                            quantized=True)
    assert 'from the learned ranges' in line
    models[quantization] = serving.load(path)
    assert models[quantization]._input['dtype'] == np.dtype(quantization)
    floats = [d['name'] for d in models[quantization].interpreter.get_tensor_details()
              if d['dtype'] == np.float32]
    assert not floats, (quantization, floats)  # fully integer
  results = evaluation.evaluate_models(models, 'custom', data, 'validation')
  print('held-out accuracy: float %.4f, QAT graph %.4f, uint8 TFLite %.4f, int8 TFLite %.4f'
        % (float_accuracy, qat_accuracy, results['uint8']['accuracy'],
           results['int8']['accuracy']))
  for quantization in ('uint8', 'int8'):
    assert results[quantization]['accuracy'] >= qat_accuracy - 0.03, (quantization, results)


def test_quantized_inference_graph_freezes_with_its_fake_quant_ranges(trained, tmp_path):
  from image_classifier import exporting
  data, _, qat_checkpoint, _ = trained
  path = str(tmp_path / 'graph.pb')
  info = exporting.export_graph(MODEL, path, 10, image_size=SIZE, quantized=True)
  frozen, count = exporting.freeze(exporting.load_graph_def(path), qat_checkpoint,
                                   [info['output']])
  nodes = {node.name: node for node in frozen.node}

  def source(name):  # through the Identity reads left in place of the variable reads
    node = nodes[name.split(':')[0].lstrip('^')]
    while node.op == 'Identity':
      node = nodes[node.input[0].split(':')[0]]
    return node

  fake_quants = [n for n in frozen.node if n.op == 'FakeQuantWithMinMaxVars']
  assert len(fake_quants) > 20 and count > 0
  reader = tf.train.load_checkpoint(qat_checkpoint)
  for node in fake_quants:
    for name, leaf in zip(node.input[1:], ('min', 'max')):
      const = source(name)
      assert const.op == 'Const', (node.name, const.op)
      scope = node.name.rsplit('/', 1)[0]
      assert tf.make_ndarray(const.attr['value'].tensor) == pytest.approx(
          reader.get_tensor('%s/%s' % (scope, leaf))), (scope, leaf)
  assert not [n.name for n in frozen.node if n.op in ('VarHandleOp', 'VariableV2')]


def test_uint8_needs_quantize_and_quantize_needs_an_integer_tflite(trained, tmp_path):
  from foundation.errors import UserError
  from image_classifier import exporting, model_info
  data, float_checkpoint, qat_checkpoint, _ = trained
  info = model_info.describe(MODEL, 'custom', data, image_size=SIZE, preprocessing_name='lenet')
  out = str(tmp_path / 'x.tflite')
  with pytest.raises(UserError, match='uint8 is for a quantization-aware.*--quantize'):
    exporting.export(info, float_checkpoint, out, 'tflite', quantization='uint8')
  with pytest.raises(UserError, match='with --quantize: use one of int8, uint8'):
    exporting.export(info, qat_checkpoint, out, 'tflite', quantization='none', quantized=True)
  with pytest.raises(UserError, match='--quantize applies to --format=tflite only'):
    exporting.export(info, qat_checkpoint, out, 'saved_model', quantized=True)
  vgg = info._replace(preprocessing_name='vgg')
  with pytest.raises(UserError, match='range of the preprocessed images.*vgg_preprocessing'):
    exporting.export(vgg, qat_checkpoint, out, 'tflite', quantization='uint8', quantized=True)
