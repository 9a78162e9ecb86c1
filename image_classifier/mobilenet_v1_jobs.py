"""The original's stand-alone MobileNet V1 scripts (`nets/mobilenet_v1_train.py`,
`nets/mobilenet_v1_eval.py`, `nets/post_training_quantization.py`) on this port's code.

Each takes the object holding its script's flags (the original's names and defaults) and maps them
onto the options of `training.train`, `evaluation.evaluate_checkpoint` and `exporting.export`:
the same graph, loop, quantization-aware rewrite and TFLite conversion as the general scripts.
The original read ImageNet; here any data set of `datasets.dataset_factory` is read from its
TFRecords (`--dataset_name`, default imagenet, and `--dataset_dir`).
"""
import math
import os

import tensorflow.compat.v1 as tf

from foundation.errors import UserError
from image_classifier import checkpoints
from image_classifier import evaluation
from image_classifier import exporting
from image_classifier import model_info
from image_classifier import script_flags
from image_classifier import training

# --depth_multiplier -> the factory's MobileNet V1 of that width.
MODEL_NAMES = {1.0: 'mobilenet_v1', 0.75: 'mobilenet_v1_075', 0.5: 'mobilenet_v1_050',
               0.25: 'mobilenet_v1_025'}

# The original's schedule: 0.045 (1e-4 when fine-tuning), x0.94 every 2.5 epochs, staircase, SGD.
_LEARNING_RATE = 0.045
_FINE_TUNE_LEARNING_RATE = 1e-4
_DECAY_FACTOR = 0.94
_EPOCHS_PER_DECAY = 2.5
# Quantisation starts at once when fine-tuning a float checkpoint, else after 250000 steps.
_QUANT_DELAY = 250000


def model_name(depth_multiplier):
  name = MODEL_NAMES.get(depth_multiplier)
  if name is None:
    raise UserError('--depth_multiplier=%g: the factory has MobileNet V1 for %s'
                    % (depth_multiplier, ', '.join('%g' % d for d in sorted(MODEL_NAMES))))
  return name


def labels_offset(num_classes, dataset_name, dataset_dir):
  """--num_classes against the data set's classes: equal, or one less (the background class of a
  1001-class data set left out, as labels_offset=1 does in the general scripts)."""
  have = model_info.dataset_num_classes(dataset_name, dataset_dir)
  if num_classes not in (have, have - 1):
    raise UserError('--num_classes=%d but %s in %s has %d classes: give --num_classes=%d'
                    % (num_classes, dataset_name, dataset_dir, have, have))
  return have - num_classes


def _check_dataset_dir(opts):
  if not opts.dataset_dir:
    raise UserError('You must supply the dataset directory with --dataset_dir')


def train_options(opts):
  """The options of training.train for mobilenet_v1_train.py's flags."""
  _check_dataset_dir(opts)
  fine_tuning = bool(opts.fine_tune_checkpoint)
  options = script_flags.defaults(script_flags.define_train_flags)
  # What the original's flags and fixed settings set; the rest stays train_image_classifier.py's
  # defaults (the original had none of those).
  vars(options).update(
      model_name=model_name(opts.depth_multiplier), train_image_size=opts.image_size,
      dataset_name=opts.dataset_name, dataset_dir=opts.dataset_dir, dataset_split_name='train',
      labels_offset=labels_offset(opts.num_classes, opts.dataset_name, opts.dataset_dir),
      batch_size=opts.batch_size, max_number_of_steps=opts.number_of_steps,
      train_dir=opts.checkpoint_dir, checkpoint_path=opts.fine_tune_checkpoint or None,
      ignore_missing_vars=True,
      quantize_delay=(0 if fine_tuning else _QUANT_DELAY) if opts.quantize else -1,
      learning_rate=_FINE_TUNE_LEARNING_RATE if fine_tuning else _LEARNING_RATE,
      learning_rate_decay_type='exponential', learning_rate_decay_factor=_DECAY_FACTOR,
      num_epochs_per_decay=_EPOCHS_PER_DECAY, optimizer='sgd',
      weight_decay=4e-5,  # mobilenet_v1_arg_scope's default, which the original used
      log_every_n_steps=opts.log_every_n_steps, save_summaries_secs=opts.save_summaries_secs,
      save_interval_secs=opts.save_interval_secs, master=opts.master, task=opts.task,
      num_ps_tasks=opts.ps_tasks)
  return options


def train(opts):
  """mobilenet_v1_train.py: trains (with --quantize, quantization-aware) until --number_of_steps."""
  if not opts.checkpoint_dir:
    raise UserError('You must supply the training folder with --checkpoint_dir')
  return training.train(train_options(opts))


def eval_options(opts):
  """The options of evaluation.evaluate_checkpoint for mobilenet_v1_eval.py's flags."""
  _check_dataset_dir(opts)
  options = script_flags.defaults(script_flags.define_eval_flags)
  vars(options).update(
      model_name=model_name(opts.depth_multiplier), eval_image_size=opts.image_size,
      dataset_name=opts.dataset_name, dataset_dir=opts.dataset_dir,
      dataset_split_name='validation',
      labels_offset=labels_offset(opts.num_classes, opts.dataset_name, opts.dataset_dir),
      batch_size=opts.batch_size,
      max_num_batches=int(math.ceil(opts.num_examples / float(opts.batch_size))),
      quantize=opts.quantize, master=opts.master,
      eval_dir=opts.eval_dir or os.path.join(opts.checkpoint_dir, 'eval'))
  return options


def evaluate(opts):
  """mobilenet_v1_eval.py: Accuracy and Recall_5 of the latest checkpoint of --checkpoint_dir."""
  if not opts.checkpoint_dir:
    raise UserError('You must supply the checkpoint folder with --checkpoint_dir')
  options = eval_options(opts)
  tf.logging.set_verbosity(tf.logging.INFO)
  tf.io.gfile.makedirs(options.eval_dir)
  return evaluation.evaluate_checkpoint(options, checkpoints.resolve(opts.checkpoint_dir))


def post_training_quantize(opts):
  """post_training_quantization.py: an int8 TFLite model (int8 input and output) of a float
  checkpoint, calibrated on --num_steps images of the --dataset_split split."""
  for flag in ('model_name', 'checkpoint_path', 'dataset_dir', 'output_tflite'):
    if not getattr(opts, flag):
      raise UserError('--%s is required' % flag)
  # The original's tfds name of ImageNet is the factory's imagenet.
  dataset_name = 'imagenet' if opts.dataset_name == 'imagenet2012' else opts.dataset_name
  offset = labels_offset(opts.num_classes, dataset_name, opts.dataset_dir)
  # The calibration images are preprocessed as at evaluation by the model's own preprocessing
  # (the one label_image.py and eval_exported_model.py apply to the TFLite model), whatever
  # --use_model_specific_preprocessing says: for MobileNet it scales the pixels to [-1, 1], as the
  # original's (x - 127.5) / 127.5, after a central crop.
  info = model_info.describe(opts.model_name, dataset_name, opts.dataset_dir,
                             labels_offset=offset, image_size=opts.image_size)
  line = exporting.export(
      info, opts.checkpoint_path, opts.output_tflite, 'tflite', quantization='int8',
      # Any decay: restoring only asks for the shadow variables' names.
      moving_average_decay=0.9999 if opts.enable_ema else None,
      dataset_split_name=opts.dataset_split, num_calibration_images=opts.num_steps)
  print(line, flush=True)
  return line
