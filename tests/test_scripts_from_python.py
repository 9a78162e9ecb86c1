"""Every script's `main` runs from Python as the original's did: flag values set as attributes of
FLAGS, then `main(None)`, without a command line; the other flags keep their defaults.

Each script runs in a fresh process (two scripts define flags of the same name, as the original's
did, so they cannot share one).
"""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

DIGITS = os.path.join(ROOT, 'sample_data', 'digits')

_DRIVER = r'''
import os, sys
sys.path.insert(0, %(root)r)
import %(script)s as script
FLAGS = script.FLAGS
for name, value in %(values)r.items():
  setattr(FLAGS, name, value)
script.main(None)
print('MAIN RETURNED')
'''


def _main(script, **values):
  code = _DRIVER % {'root': ROOT, 'script': script, 'values': values}
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
  assert result.returncode == 0 and 'MAIN RETURNED' in result.stdout, (
      result.stdout[-2000:] + result.stderr[-4000:])
  return result


@pytest.fixture(scope='module')
def run_folder(tmp_path_factory):
  """The digits converted, a lenet trained, exported and frozen, each through its script's main."""
  root = tmp_path_factory.mktemp('from_python')
  data, train, graph = root / 'data', root / 'train', root / 'lenet.pb'
  _main('download_and_convert_data', dataset_name='custom', images_dir=DIGITS,
        dataset_dir=str(data), validation_fraction=0.2)
  _main('train_image_classifier', train_dir=str(train), dataset_name='custom',
        dataset_dir=str(data), model_name='lenet', train_image_size=8, batch_size=32,
        max_number_of_steps=5, learning_rate_decay_type='fixed')
  _main('export_inference_graph', model_name='lenet', dataset_name='custom',
        dataset_dir=str(data), image_size=8, output_file=str(graph))
  _main('freeze_graph', input_graph=str(graph), input_checkpoint=str(train),
        output_graph=str(root / 'frozen.pb'))
  return root


def test_the_original_export_test_pattern(tmp_path):
  # As the original's own test: an ImageNet-sized inception_v3 graph, no data set files at all.
  output = tmp_path / 'inception_v3.pb'
  _main('export_inference_graph', output_file=str(output), model_name='inception_v3',
        dataset_dir=str(tmp_path))
  assert output.stat().st_size > 100000


def test_convert_train_export_freeze_from_python(run_folder):
  assert (run_folder / 'data' / 'labels.txt').exists()
  assert (run_folder / 'train' / 'checkpoint').exists()
  assert (run_folder / 'frozen.pb').stat().st_size > 0


def test_eval_label_and_export_model_from_python(run_folder):
  result = _main('eval_image_classifier', checkpoint_path=str(run_folder / 'train'),
                 eval_dir=str(run_folder / 'eval'), dataset_name='custom',
                 dataset_split_name='validation', dataset_dir=str(run_folder / 'data'),
                 model_name='lenet', eval_image_size=8)
  assert 'eval/Accuracy[' in result.stdout
  image = os.path.join(DIGITS, '3', sorted(os.listdir(os.path.join(DIGITS, '3')))[0])
  result = _main('label_image', graph=str(run_folder / 'frozen.pb'), image=image)
  assert len([line for line in result.stdout.splitlines() if '): ' in line]) == 5
  saved = run_folder / 'saved_model'
  _main('export_model', model_name='lenet', checkpoint_path=str(run_folder / 'train'),
        dataset_name='custom', dataset_dir=str(run_folder / 'data'), image_size=8,
        output_file=str(saved))
  result = _main('eval_exported_model', model=str(saved), dataset_name='custom',
                 dataset_dir=str(run_folder / 'data'))
  assert '| saved_model %s |' % saved in result.stdout
