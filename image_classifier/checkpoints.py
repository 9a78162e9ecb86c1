"""Finding checkpoints and checking that one fits a model before restoring it."""
import tensorflow.compat.v1 as tf

from foundation.errors import UserError


def resolve(checkpoint_path, what='--checkpoint_path'):
  """A checkpoint prefix from a file prefix or a folder (its latest checkpoint)."""
  if not checkpoint_path:
    raise UserError('%s is empty: give a checkpoint file or a folder with checkpoints' % what)
  if tf.io.gfile.isdir(checkpoint_path):
    latest = tf.train.latest_checkpoint(checkpoint_path)
    if not latest:
      raise UserError('no checkpoint found in %s (%s)' % (checkpoint_path, what))
    return latest
  if tf.io.gfile.exists(checkpoint_path + '.index') or tf.io.gfile.exists(checkpoint_path):
    return checkpoint_path
  raise UserError('checkpoint %s not found (%s): expected %s.index and its data files'
                  % (checkpoint_path, what, checkpoint_path))


def shapes_in(checkpoint):
  try:
    reader = tf.train.NewCheckpointReader(checkpoint)
  except Exception as e:  # corrupt or unreadable: the reader's own message names the problem
    raise UserError('cannot read checkpoint %s: %s' % (checkpoint, str(e).splitlines()[0]))
  return reader.get_variable_to_shape_map()


def _scope_of(name, logits_scopes):
  for scope in logits_scopes:
    if name.startswith(scope):
      return scope
  return name.rsplit('/', 1)[0]


def check_fits(checkpoint, var_map, ignore_missing_vars=False, logits_scopes=(),
               fix_flag='--checkpoint_exclude_scopes'):
  """Raises a UserError naming each variable of `var_map` that the checkpoint lacks or shapes differently.

  var_map: {name in checkpoint: variable}. Returns the subset that can be restored (missing variables
  dropped when ignore_missing_vars).
  """
  shapes = shapes_in(checkpoint)
  missing, mismatched, fit = [], [], {}
  for name, var in sorted(var_map.items()):
    if name not in shapes:
      missing.append(name)
    elif list(shapes[name]) != var.shape.as_list():
      mismatched.append((name, list(shapes[name]), var.shape.as_list()))
    else:
      fit[name] = var
  if mismatched:
    lines = ['checkpoint %s does not fit the model:' % checkpoint]
    scopes = []
    for name, ckpt_shape, model_shape in mismatched[:10]:
      lines.append('  %s: shape %s in the checkpoint, %s in the model' % (name, ckpt_shape, model_shape))
      scope = _scope_of(name, logits_scopes)
      if scope not in scopes:
        scopes.append(scope)
    if len(mismatched) > 10:
      lines.append('  ... and %d more' % (len(mismatched) - 10))
    if fix_flag:
      hint = 'leave them out with %s=%s' % (fix_flag, ','.join(scopes))
    else:
      hint = 'check --model_name, --dataset_name and --labels_offset'
    classes = [(c[-1], m[-1]) for _, c, m in mismatched if c and m and len(c) == len(m)]
    if any(c == m + 1 for c, m in classes):
      hint += (' to train new classes, or, if the model should keep the checkpoint\'s classes, '
               'drop --labels_offset (the checkpoint has the extra background class 0)')
    elif any(m == c + 1 for c, m in classes):
      hint += ', or use --labels_offset=1 (this checkpoint has 1000 classes, the data set 1001)'
    lines.append(hint)
    raise UserError('\n'.join(lines))
  if missing and not ignore_missing_vars:
    shown = ', '.join(missing[:10]) + (' ... and %d more' % (len(missing) - 10) if len(missing) > 10 else '')
    raise UserError(
        'checkpoint %s lacks %d of the %d variables to restore: %s. %s%s'
        % (checkpoint, len(missing), len(var_map), shown,
           ('Use --ignore_missing_vars to train them from scratch, or %s to leave them out'
            % fix_flag) if fix_flag else 'Check --model_name and --moving_average_decay',
           ' (is --model_name right? none of its variables is in the checkpoint)'
           if len(missing) == len(var_map) else ''))
  return fit
