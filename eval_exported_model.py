r"""Accuracy of exported models (SavedModel, TFLite, frozen graph) over a TFRecord split, side by
side with the checkpoint they came from, to see what export and quantisation cost.

  python eval_exported_model.py --model=/tmp/mnv2,/tmp/mnv2.tflite,/tmp/mnv2_int8.tflite \
      --checkpoint_path=/tmp/mobilenet_v2_1.0_224.ckpt --dataset_name=imagenet \
      --dataset_dir=/tmp/imagenet --dataset_split_name=validation --max_num_batches=20

The model, image size and preprocessing are read from the description export_model.py writes next
to each form; give --model_name (and --image_size) for a graph exported without one.
"""
from absl import flags

from image_classifier import cli
from image_classifier import shared_flags

shared_flags.define_model_flags(model_name=None)
shared_flags.define_moving_average_flag()
flags.DEFINE_string('model', '', 'Comma-separated exported models: SavedModel folders, .tflite '
                    'files, frozen .pb graphs.')
flags.DEFINE_string('checkpoint_path', None, 'Also evaluate this checkpoint\'s own graph (the '
                    'reference).')
shared_flags.define_dataset_name_flag('Data set to evaluate on.')
flags.DEFINE_string('dataset_dir', None, 'Folder of the data set\'s TFRecords.')
flags.DEFINE_string('dataset_split_name', 'validation', 'Split to evaluate on.')
flags.DEFINE_integer('batch_size', 32, 'Images per batch.', lower_bound=1)
flags.DEFINE_integer('max_num_batches', None, 'Evaluate at most this many batches (default: all).', lower_bound=0)
flags.DEFINE_integer('image_size', None, 'Input side (default: recorded, else the network\'s).',
                     lower_bound=0)

FLAGS = flags.FLAGS


@cli.script_main
def main(_):
  from foundation.errors import UserError
  from image_classifier import evaluation
  from image_classifier import model_info
  from image_classifier import serving
  paths = shared_flags.split_list(FLAGS.model)
  if not paths and not FLAGS.checkpoint_path:
    raise UserError('give --model (exported models) and/or --checkpoint_path')
  models = {}
  for path in paths:
    models['%s %s' % (serving.form_of(path), path)] = serving.load(path)
  recorded = next((m.info for m in models.values() if m.info), None)
  if FLAGS.model_name:
    info = model_info.describe(FLAGS.model_name, FLAGS.dataset_name, FLAGS.dataset_dir,
                               labels_offset=FLAGS.labels_offset,
                               image_size=FLAGS.image_size or (recorded and recorded.image_size))
  elif recorded:
    info = recorded._replace(image_size=FLAGS.image_size or recorded.image_size)
    if FLAGS['labels_offset'].present:
      info = info._replace(labels_offset=FLAGS.labels_offset)
  else:
    raise UserError('--model_name is required: the models carry no description')
  if FLAGS.checkpoint_path:
    reference = {'checkpoint %s' % FLAGS.checkpoint_path: serving.CheckpointModel(
        info, FLAGS.checkpoint_path, FLAGS.moving_average_decay)}
    models = dict(reference, **models)
  results = evaluation.evaluate_models(models, FLAGS.dataset_name, FLAGS.dataset_dir,
                                        FLAGS.dataset_split_name, FLAGS.batch_size,
                                        FLAGS.max_num_batches, info=info)
  first = next(iter(results.values()))['accuracy']
  print('| model | images | top-1 | top-5 | top-1 change |')
  print('| --- | ---: | ---: | ---: | ---: |')
  for name, r in results.items():
    print('| %s | %d | %.4f | %.4f | %+.4f |' % (name, r['n'], r['accuracy'], r['recall_5'],
                                               r['accuracy'] - first))
  for model in models.values():
    model.close()


def entry_point():
  cli.run(main)


if __name__ == '__main__':
  entry_point()
