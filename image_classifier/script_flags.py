"""The flags of train_image_classifier.py and eval_image_classifier.py, defined once.

The scripts define them on absl's global flags; `defaults` reads them on a private set, so other
entry points (the original's MobileNet V1 scripts) run with exactly the defaults a user of the
general scripts gets, without restating them.
"""
import types

from absl import flags

from image_classifier import shared_flags


def defaults(define_flags):
  """What a script's flags hold when none is given on its command line, as attributes."""
  values = flags.FlagValues()
  define_flags(flag_values=values)
  values.mark_as_parsed()
  return types.SimpleNamespace(**values.flag_values_dict())


def define_train_flags(flag_values=None):
  """train_image_classifier.py's flags (the original's names and defaults, "(new)" ones marked)."""
  fv = flags.FLAGS if flag_values is None else flag_values
  shared_flags.define_dataset_flags(split_name='train', batch_size=32, flag_values=fv)
  shared_flags.define_master_flag(flag_values=fv)
  shared_flags.define_moving_average_flag(flag_values=fv)

  # General and deployment.
  flags.DEFINE_string('train_dir', '/tmp/tfmodel/',
                      'Folder for checkpoints, TensorBoard events and flags.json.', flag_values=fv)
  flags.DEFINE_float('warmup_epochs', 0,
                     'Epochs over which the learning rate rises linearly from 0 (0 = no warm-up).', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_integer('num_clones', 1, 'Model copies per worker, each on its own batch of --batch_size; the loss is '
                       'averaged over them, and learning-rate decay counts epochs of one clone.', lower_bound=1, flag_values=fv)
  flags.DEFINE_boolean('clone_on_cpu', False, 'Place the clones on the CPU instead of GPUs.', flag_values=fv)
  flags.DEFINE_integer('worker_replicas', 1, 'How many worker tasks train together.', lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('num_ps_tasks', 0, 'Parameter-server tasks holding the variables; 0 keeps them on '
                       'the worker.', lower_bound=0, flag_values=fv)
  flags.DEFINE_integer('num_readers', 4, 'Shards read in parallel.', lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('log_every_n_steps', 10, 'Log loss and speed every this many steps.', lower_bound=1, flag_values=fv)
  flags.DEFINE_integer('save_summaries_secs', 600,
                       'Seconds between TensorBoard summary writes.', lower_bound=0, flag_values=fv)
  flags.DEFINE_integer('save_interval_secs', 600,
                       'Seconds between checkpoints.', lower_bound=0, flag_values=fv)
  flags.DEFINE_integer('save_interval_steps', 0,
                       '(new) Save a checkpoint every this many steps instead of every '
                       '--save_interval_secs (0 = use seconds).', lower_bound=0, flag_values=fv)
  flags.DEFINE_bool('add_image_summaries', False,
                    '(new) Show up to three input images of each summary step in TensorBoard.', flag_values=fv)
  flags.DEFINE_integer('task', 0, 'Index of this worker task; task 0 is the chief.', lower_bound=0, flag_values=fv)
  flags.DEFINE_enum('job_name', 'worker', ['worker', 'ps'],
                      '(new) This process\'s job in the cluster of --ps_hosts/--worker_hosts: worker '
                      '(trains; task 0 is the chief) or ps (serves variables until stopped).', flag_values=fv)
  flags.DEFINE_string('ps_hosts', '',
                      '(new) Comma-separated host:port of the parameter-server tasks; with '
                      '--worker_hosts, every task starts its own server (alternative: TF_CONFIG).', flag_values=fv)
  flags.DEFINE_string('worker_hosts', '',
                      '(new) Comma-separated host:port of the worker tasks, task 0 first.', flag_values=fv)

  # Optimization.
  flags.DEFINE_float('weight_decay', 0.00004, 'L2 weight decay given to the model\'s arg scope.', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_enum('optimizer', 'rmsprop',
                    ['adadelta', 'adagrad', 'adam', 'ftrl', 'momentum', 'rmsprop', 'sgd'],
                    'The optimizer.', flag_values=fv)
  flags.DEFINE_float('adadelta_rho', 0.95, 'Adadelta rho.', lower_bound=0.0, upper_bound=1.0, flag_values=fv)
  flags.DEFINE_float('adagrad_initial_accumulator_value', 0.1,
                     'Adagrad initial accumulator value.', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('adam_beta1', 0.9, 'Adam beta1.', lower_bound=0.0, upper_bound=1.0, flag_values=fv)
  flags.DEFINE_float('adam_beta2', 0.999, 'Adam beta2.', lower_bound=0.0, upper_bound=1.0, flag_values=fv)
  flags.DEFINE_float('opt_epsilon', 1.0, 'Epsilon of adadelta, adam and rmsprop.', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('ftrl_learning_rate_power', -0.5, 'FTRL learning rate power.', upper_bound=0.0, flag_values=fv)
  flags.DEFINE_float('ftrl_initial_accumulator_value', 0.1, 'FTRL initial accumulator value.', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('ftrl_l1', 0.0, 'FTRL L1 strength.', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('ftrl_l2', 0.0, 'FTRL L2 strength.', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('momentum', 0.9, 'Momentum of the momentum optimizer.', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('rmsprop_momentum', 0.9, 'RMSProp momentum.', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('rmsprop_decay', 0.9, 'RMSProp decay.', lower_bound=0.0, upper_bound=1.0, flag_values=fv)
  flags.DEFINE_integer('quantize_delay', -1, 'Number of steps to start quantized training after '
                       '(quantization-aware training: batch norms folded, fake-quant ops); -1 = off.',
                       lower_bound=-1, flag_values=fv)
  flags.DEFINE_enum('quantize_fold', 'single_conv', ['single_conv', 'tf1'],
                    '(new) With --quantize_delay: how batch norms are folded in training. '
                    'single_conv: each layer runs once and its batch statistics come from the '
                    'quantised output (about 1.2x a float step); tf1: exactly as TF 1 (batch '
                    'statistics from each layer run a second time with float weights, about 2.4x). '
                    'Both write the same checkpoint variables.', flag_values=fv)
  flags.DEFINE_float('clip_gradient_norm', 0.0,
                     '(new) Clip gradients to this global norm; 0 = no clipping.', lower_bound=0.0, flag_values=fv)

  # Learning rate.
  flags.DEFINE_enum('learning_rate_decay_type', 'exponential', ['fixed', 'exponential', 'polynomial'],
                    'Learning-rate schedule.', flag_values=fv)
  flags.DEFINE_float('learning_rate', 0.01, 'Learning rate at step 0 (after warm-up).', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('end_learning_rate', 0.0001,
                     'Final rate of the polynomial schedule.', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('label_smoothing', 0.0, 'Label smoothing of the cross-entropy losses.', lower_bound=0.0, upper_bound=1.0, flag_values=fv)
  flags.DEFINE_float('learning_rate_decay_factor', 0.94, 'Factor of each exponential decay.', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_float('num_epochs_per_decay', 2.0,
                     'Epochs between decays (epochs of one clone; divided by --replicas_to_aggregate '
                     'with --sync_replicas).', lower_bound=0.0, flag_values=fv)
  flags.DEFINE_bool('sync_replicas', False, 'Aggregate the workers\' gradients synchronously (SyncReplicasOptimizer).', flag_values=fv)
  flags.DEFINE_integer('replicas_to_aggregate', 1,
                       'Gradients gathered per update with --sync_replicas.', lower_bound=1, flag_values=fv)

  # Dataset and model.
  shared_flags.define_image_size_flag('train_image_size', 'Side of the training images.', flag_values=fv)
  flags.DEFINE_integer('max_number_of_steps', None, 'Stop at this global step (default: train until stopped).', lower_bound=0, flag_values=fv)

  # Fine-tuning.
  flags.DEFINE_string('checkpoint_path', None, 'Checkpoint (file or folder) to start from when --train_dir has none.', flag_values=fv)
  flags.DEFINE_string('checkpoint_exclude_scopes', None, 'Comma-separated variable-name prefixes not '
                      'restored from --checkpoint_path.', flag_values=fv)
  flags.DEFINE_string('trainable_scopes', None, 'Comma-separated scopes whose variables are '
                      'trained; the others stay fixed (default: all).', flag_values=fv)
  flags.DEFINE_boolean('ignore_missing_vars', False,
                       'Variables absent from --checkpoint_path start from their initialiser.', flag_values=fv)


def define_eval_flags(flag_values=None):
  """eval_image_classifier.py's flags."""
  fv = flags.FLAGS if flag_values is None else flag_values
  shared_flags.define_dataset_flags(split_name='test', batch_size=100, flag_values=fv)
  shared_flags.define_master_flag(flag_values=fv)
  shared_flags.define_moving_average_flag(flag_values=fv)

  flags.DEFINE_integer('max_num_batches', None, 'Evaluate at most this many batches (default: the '
                       'whole split once).', lower_bound=0, flag_values=fv)
  flags.DEFINE_string('checkpoint_path', '/tmp/tfmodel/',
                      'Checkpoint file, or a folder whose latest checkpoint is evaluated.', flag_values=fv)
  flags.DEFINE_string('eval_dir', '/tmp/tfmodel/',
                      'Folder for the TensorBoard summaries and per_class_accuracy.json.', flag_values=fv)
  shared_flags.define_image_size_flag('eval_image_size', 'Side of the evaluated images.', flag_values=fv)
  flags.DEFINE_bool('quantize', False, 'Whether to evaluate the quantized graph (of a '
                    'checkpoint trained with --quantize_delay).', flag_values=fv)
  flags.DEFINE_integer('eval_interval_secs', 0, '(new) With a --checkpoint_path folder: keep '
                       'evaluating each new checkpoint, waiting at least this many seconds between '
                       'evaluations (0 = evaluate once).', lower_bound=0, flag_values=fv)
  flags.DEFINE_integer('timeout', None, '(new) In continuous mode, stop after waiting this many '
                       'seconds for a new checkpoint.', lower_bound=0, flag_values=fv)
  flags.DEFINE_integer('max_number_of_evaluations', None, '(new) In continuous mode, stop after '
                       'this many evaluations.', lower_bound=0, flag_values=fv)
