r"""bfloat16 against float32 evaluation of the real checkpoints of ../shared on its photos.

For each checkpoint, the photos of ../shared/data/images are preprocessed as at evaluation and run
through the evaluation graph (batch norms folded, as `evaluation.model_fetches` does) in a float32
session and in a `--mixed_precision=bfloat16` session (`precision.session_config`). Printed per
photo: the float32 and bfloat16 top-1 (class, probability); then the top-1 agreement, the largest
top-1 probability change, and the largest logit change relative to the logits' range.

  python benchmarks/bf16_eval_accuracy.py [network ...]   (default: both checkpoints)
"""
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from image_classifier import process  # noqa: E402

process.configure(['--mixed_precision=bfloat16'])

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

_SHARED = os.path.join(os.path.dirname(ROOT), 'shared', 'data')
# (network, checkpoint folder, input side)
_CHECKPOINTS = (('mobilenet_v2', 'mobilenet_v2_1.0_224', 224),
                ('mobilenet_v1_025', 'mobilenet_v1_0.25_128', 128))


def _logits(info, checkpoint, images, mode):
  from image_classifier import model_info
  from image_classifier import precision
  from quantize import fold_batch_norms
  graph, inputs, logits, _ = model_info.inference_graph(info)
  with graph.as_default():
    fold_batch_norms.fold_inference_batch_norms(graph)
    with tf.Session(graph=graph, config=precision.session_config(mode)) as session:
      model_info.restore(session, checkpoint)
      return session.run(logits, {inputs: images})


def _softmax(x):
  e = np.exp(x - x.max(axis=1, keepdims=True))
  return e / e.sum(axis=1, keepdims=True)


def main():
  from image_classifier import model_info
  from image_classifier import serving
  photos = sorted(glob.glob(os.path.join(_SHARED, 'images', 'coral_*')))
  only = sys.argv[1:]
  for model_name, folder, size in _CHECKPOINTS:
    if only and model_name not in only:
      continue
    checkpoint = os.path.join(_SHARED, 'pretrained', folder, folder + '.ckpt')
    info = model_info.describe(model_name, None, None, num_classes=1001, image_size=size)
    if model_name == 'mobilenet_v1_025':  # as ../shared/README.md: mobilenet_v1's preprocessing
      info = info._replace(preprocessing_name='mobilenet_v1')
    images = serving.preprocess_files(info, photos)
    f32, b16 = (_logits(info, checkpoint, images, mode) for mode in ('none', 'bfloat16'))
    p32, p16 = _softmax(f32), _softmax(b16)
    print('\n%s (%s), %d photos' % (model_name, folder, len(photos)))
    print('| photo | float32 top-1 | bfloat16 top-1 |\n|---|---|---|')
    for i, path in enumerate(photos):
      a, b = int(p32[i].argmax()), int(p16[i].argmax())
      print('| %s | %d (%.3f) | %d (%.3f) |' % (os.path.basename(path), a, p32[i, a], b, p16[i, b]))
    same = int(np.sum(p32.argmax(1) == p16.argmax(1)))
    top = p32.argmax(1)
    change = np.abs(p32[np.arange(len(top)), top] - p16[np.arange(len(top)), top]).max()
    relative = np.abs(f32 - b16).max() / (f32.max() - f32.min())
    print('top-1 agreement %d/%d; largest change of the float32 top-1 probability %.3f; largest '
          'logit change %.1f%% of the logits\' range' % (same, len(photos), change, 100 * relative))


if __name__ == '__main__':
  main()
