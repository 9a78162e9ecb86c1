r"""Sorts the flat ImageNet 2012 validation folder into one sub-folder per synset.

    python preprocess_imagenet_validation_data.py VALIDATION_DIR \
        imagenet_2012_validation_synset_labels.txt

The labels file has one synset per line: line i is the synset of `ILSVRC2012_val_%08d.JPEG` % i
(1-based; 50,000 lines). Each image is moved to `VALIDATION_DIR/<synset>/`, which is what
`build_imagenet_data.py` reads. Running it again is harmless: images already in their folder are
left there. Images listed but found nowhere are reported, and the exit code is 1.

Needs only the Python standard library (no TensorFlow).
"""
import os
import sys


def read_labels(labels_file):
  with open(labels_file) as f:
    return [line.strip() for line in f if line.strip()]


def sort_validation_images(data_dir, labels_file, stream=sys.stderr):
  """Moves every listed image into its synset folder; returns `(moved, already_sorted, missing)`."""
  if not os.path.isdir(data_dir):
    raise ValueError('validation folder %s does not exist' % data_dir)
  if not os.path.isfile(labels_file):
    raise ValueError('labels file %s does not exist' % labels_file)
  synsets = read_labels(labels_file)
  for synset in set(synsets):
    os.makedirs(os.path.join(data_dir, synset), exist_ok=True)
  moved, already, missing = 0, 0, []
  for number, synset in enumerate(synsets, 1):
    name = 'ILSVRC2012_val_%08d.JPEG' % number
    source = os.path.join(data_dir, name)
    target = os.path.join(data_dir, synset, name)
    if os.path.isfile(source):
      os.replace(source, target)
      moved += 1
    elif os.path.isfile(target):
      already += 1
    else:
      missing.append(name)
    if number % 5000 == 0:
      stream.write('>> %d of %d images sorted\n' % (number, len(synsets)))
  return moved, already, missing


def main(argv):
  if len(argv) != 3:
    sys.stderr.write('usage: %s VALIDATION_DIR VALIDATION_LABELS_FILE\n'
                     % os.path.basename(argv[0]))
    return 2
  try:
    moved, already, missing = sort_validation_images(argv[1], argv[2])
  except (ValueError, OSError) as e:
    sys.stderr.write('error: %s\n' % e)
    return 2
  print('%d images moved into synset folders, %d already there, %d missing'
        % (moved, already, len(missing)))
  for name in missing[:20]:
    print('  missing: %s' % name)
  return 1 if missing else 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
