"""The REAL published MobileNet checkpoints in ../shared load into our nets and classify photos.

The expected classes are the top-1 of the original slim on the same photos (table in
../shared/README.md). Every variable of the checkpoint must map to exactly one graph variable,
so a renamed scope, a missing gamma or a wrong shape fails here.
"""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from nets import nets_factory
from preprocessing import preprocessing_factory
from tests.conftest import shared_path

IMAGES = ['coral_bird.png', 'coral_cat.png', 'coral_cat_720p.jpg', 'coral_dragonfly.png',
          'coral_hot_dog.jpg', 'coral_parrot.jpg', 'coral_pets.jpg', 'coral_sunflower.png']

# image -> top-1 class of the original slim (1001-class indices); the confident rows must match.
V1_025_TOP1 = {'coral_parrot.jpg': 89, 'coral_bird.png': 20, 'coral_hot_dog.jpg': 988,
               'coral_cat.png': 283, 'coral_cat_720p.jpg': 283, 'coral_dragonfly.png': 42,
               'coral_sunflower.png': 986, 'coral_pets.jpg': 173}
V1_025_CONFIDENT = {'coral_parrot.jpg'}

V2_TOP1 = {'coral_parrot.jpg': 89, 'coral_bird.png': 20, 'coral_hot_dog.jpg': 935,
           'coral_cat.png': 286, 'coral_cat_720p.jpg': 286, 'coral_dragonfly.png': 320,
           'coral_sunflower.png': 986, 'coral_pets.jpg': 172}
V2_CONFIDENT = {'coral_parrot.jpg', 'coral_bird.png', 'coral_hot_dog.jpg', 'coral_cat_720p.jpg',
                'coral_dragonfly.png', 'coral_sunflower.png'}


def _load_photo(path, preprocessing_name, size):
  """The photo as the eval script sees it: decoded RGB through the factory's eval preprocessing."""
  image = tf.image.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
  preprocess = preprocessing_factory.get_preprocessing(preprocessing_name, is_training=False)
  return preprocess(image, size, size)


def _checkpoint_variables(ckpt):
  """{name: shape} of the network's variables in `ckpt` (the training step counter left out)."""
  return {name: shape for name, shape in tf.train.list_variables(ckpt) if name != 'global_step'}


def _run_pretrained(model_name, folder, size, preprocessing_name):
  """Builds `model_name` (1001 classes, eval mode) on all photos, restores the checkpoint.

  The photos go through the inception eval preprocessing (central 87.5% crop, bilinear resize,
  scale to [-1, 1]) of the preprocessing factory, as the original's reference numbers did.

  Returns (graph variables {name: shape}, checkpoint variables {name: shape}, probabilities).
  """
  ckpt = os.path.join(shared_path('pretrained', folder), folder + '.ckpt')
  image_dir = shared_path('images')
  with tf.Graph().as_default():
    images = tf.stack([_load_photo(os.path.join(image_dir, name), preprocessing_name, size)
                       for name in IMAGES])
    network_fn = nets_factory.get_network_fn(model_name, num_classes=1001, is_training=False)
    _, end_points = network_fn(images)
    graph_vars = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
    ckpt_vars = _checkpoint_variables(ckpt)
    probabilities = None
    if set(graph_vars) == set(ckpt_vars):
      saver = tf.train.Saver()
      with tf.Session() as sess:
        saver.restore(sess, ckpt)
        probabilities = sess.run(end_points['Predictions'])
  return graph_vars, ckpt_vars, probabilities


@pytest.fixture(scope='module')
def mobilenet_v1_025_run():
  # The original preprocessing map has no mobilenet_v1_025 key; the reference used mobilenet_v1's.
  return _run_pretrained('mobilenet_v1_025', 'mobilenet_v1_0.25_128', 128, 'mobilenet_v1')


def test_mobilenet_v1_025_checkpoint_matches_graph_exactly(mobilenet_v1_025_run):
  graph_vars, ckpt_vars, _ = mobilenet_v1_025_run
  assert sorted(set(ckpt_vars) - set(graph_vars)) == []
  assert sorted(set(graph_vars) - set(ckpt_vars)) == []
  assert {n: s for n, s in graph_vars.items()} == ckpt_vars
  assert len(graph_vars) == 137
  assert sum(int(np.prod(s)) for s in graph_vars.values()) == 475801


def test_mobilenet_v1_025_checkpoint_equals_variables_txt(mobilenet_v1_025_run):
  _, ckpt_vars, _ = mobilenet_v1_025_run
  listed = _read_variables_txt('mobilenet_v1_0.25_128')
  assert listed.pop('global_step') == []
  assert listed == ckpt_vars


def test_mobilenet_v1_025_labels_the_photos_as_original_slim(mobilenet_v1_025_run):
  _, _, probabilities = mobilenet_v1_025_run
  assert probabilities.shape == (len(IMAGES), 1001)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
  top1 = {name: int(p.argmax()) for name, p in zip(IMAGES, probabilities)}
  for name in V1_025_CONFIDENT:
    assert top1[name] == V1_025_TOP1[name], name
  # macaw with probability ~0.98 in the original
  assert probabilities[IMAGES.index('coral_parrot.jpg')].max() > 0.95
  assert top1 == V1_025_TOP1


@pytest.fixture(scope='module')
def mobilenet_v2_run():
  return _run_pretrained('mobilenet_v2', 'mobilenet_v2_1.0_224', 224, 'mobilenet_v2')


def test_mobilenet_v2_checkpoint_matches_graph_exactly(mobilenet_v2_run):
  graph_vars, ckpt_vars, _ = mobilenet_v2_run
  assert sorted(set(ckpt_vars) - set(graph_vars)) == []
  assert sorted(set(graph_vars) - set(ckpt_vars)) == []
  assert graph_vars == ckpt_vars
  assert len(graph_vars) == 262
  assert sum(int(np.prod(s)) for s in graph_vars.values()) == 3540265
  listed = _read_variables_txt('mobilenet_v2_1.0_224')
  listed.pop('global_step')
  assert listed == ckpt_vars


def test_mobilenet_v2_labels_the_photos_as_original_slim(mobilenet_v2_run):
  _, _, probabilities = mobilenet_v2_run
  assert probabilities.shape == (len(IMAGES), 1001)
  top1 = {name: int(p.argmax()) for name, p in zip(IMAGES, probabilities)}
  for name in V2_CONFIDENT:
    assert top1[name] == V2_TOP1[name], name
    assert probabilities[IMAGES.index(name)].max() > 0.9, name
  assert top1 == V2_TOP1


def _read_variables_txt(folder):
  """{name: shape} from the `variables.txt` listing shipped beside a checkpoint."""
  result = {}
  with open(os.path.join(shared_path('pretrained', folder), 'variables.txt')) as f:
    for line in f:
      line = line.strip()
      if not line:
        continue
      name, shape = line.split(' ', 1)
      result[name] = [int(d) for d in shape.strip('[]').split(',') if d.strip()]
  return result


def _read_manifest(model_name):
  """{name: shape} from the checked-in manifest tests/data/manifests/<model_name>.txt."""
  from tests import zoo_helpers
  result = {}
  with open(os.path.join(zoo_helpers.MANIFEST_DIR, model_name + '.txt')) as f:
    for line in f.read().splitlines():
      name, shape = line.split('\t')
      result[name] = [int(d) for d in shape.split(',') if d]
  return result


@pytest.mark.parametrize('model_name,folder', [('mobilenet_v1_025', 'mobilenet_v1_0.25_128'),
                                               ('mobilenet_v2', 'mobilenet_v2_1.0_224')])
def test_manifest_equals_published_checkpoint(model_name, folder):
  listed = _read_variables_txt(folder)
  listed.pop('global_step')
  assert _read_manifest(model_name) == listed
