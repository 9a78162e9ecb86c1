r"""Turns the ILSVRC 2012 bounding-box XML files into the CSV `build_imagenet_data.py` reads.

    python process_bounding_boxes.py BOUNDING_BOX_DIR [imagenet_lsvrc_2015_synsets.txt] \
        | sort > imagenet_2012_bounding_boxes.csv

Every `*.xml` file below BOUNDING_BOX_DIR (the train boxes sit in per-synset folders, the validation
boxes in one folder) is parsed with xml.etree. For each `<object>` one line is printed:

    n01440764_10026.JPEG,0.3320,0.1620,0.7560,0.9000

that is the image's file name (taken from the XML file's name: the `<filename>` inside is sometimes
wrong), then xmin, ymin, xmax, ymax as fractions of the image's `<size>`, clipped to [0, 1].
Boxes whose object is not one of the synsets of the optional synsets file, and boxes with no area,
are left out. Statistics go to stderr. Needs only the Python standard library (no TensorFlow).

The original's functions, for code that reads annotation files itself:
  `GetItem(name, root, index=0)`: the text of the index-th `<name>` element below the XML element
    `root` (document order), or -1 when there are not that many;
  `GetInt(name, root, index=0)`: the same as an int (the text may be a float such as "12.0");
  `FindNumberBoundingBoxes(root)`: how many boxes (`<xmin>` elements) the annotation has;
  `ProcessXMLAnnotation(xml_file)`: a list with one `BoundingBox` per box, or None (and a message
    on stderr) when the file is not valid XML. Each box has `xmin`, `ymin`, `xmax`, `ymax`,
    `width`, `height` (pixels, as ints), `xmin_scaled` ... `ymax_scaled` (fractions of the image,
    min and max put in order, then clipped to [0, 1]), `filename` (the `<filename>` text +
    '.JPEG') and `label` (the `<name>` of that box's object).
"""
import itertools
import os
import sys
import xml.etree.ElementTree as ElementTree


def _clip_to_unit(value):
  return min(max(value, 0.0), 1.0)


class BoundingBox(object):
  """One object of an annotation file, in pixels and in fractions of the image.

  Every argument is optional: `ProcessXMLAnnotation`, like the original, makes an empty box and
  sets its attributes.
  """

  def __init__(self, label=None, xmin=None, ymin=None, xmax=None, ymax=None, width=None,
               height=None):
    self.label = label
    self.xmin, self.ymin, self.xmax, self.ymax = xmin, ymin, xmax, ymax
    self.width, self.height = width, height

  def scaled(self):
    """(xmin, ymin, xmax, ymax) as fractions of the image, clipped to [0, 1]."""
    return (_clip_to_unit(self.xmin / self.width), _clip_to_unit(self.ymin / self.height),
            _clip_to_unit(self.xmax / self.width), _clip_to_unit(self.ymax / self.height))


def GetItem(name, root, index=0):  # pylint: disable=invalid-name
  """Text of the index-th element called `name` below `root`, or -1 if there is none."""
  item = next(itertools.islice(root.iter(name), index, None), None)
  return -1 if item is None else item.text


def GetInt(name, root, index=0):  # pylint: disable=invalid-name
  """GetItem as an int; some annotation files write pixel values as floats."""
  return int(float(GetItem(name, root, index)))


def FindNumberBoundingBoxes(root):  # pylint: disable=invalid-name
  """The number of boxes of an annotation: its `<xmin>` elements."""
  return sum(1 for _ in root.iter('xmin'))


def ProcessXMLAnnotation(xml_file):  # pylint: disable=invalid-name
  """The boxes of one annotation file as BoundingBox objects (see the module docstring).

  Returns None, after a line on stderr, when the file cannot be parsed.
  """
  try:
    root = ElementTree.parse(xml_file).getroot()
  except (ElementTree.ParseError, OSError):
    sys.stderr.write('Failed to parse: %s\n' % xml_file)
    return None
  width = GetInt('width', root)
  height = GetInt('height', root)
  filename = '%s.JPEG' % GetItem('filename', root)
  boxes = []
  for index in range(FindNumberBoundingBoxes(root)):
    box = BoundingBox(GetItem('name', root, index), GetInt('xmin', root, index),
                      GetInt('ymin', root, index), GetInt('xmax', root, index),
                      GetInt('ymax', root, index), width, height)
    box.filename = filename
    xs = sorted([box.xmin / float(width), box.xmax / float(width)])
    ys = sorted([box.ymin / float(height), box.ymax / float(height)])
    box.xmin_scaled, box.xmax_scaled = _clip_to_unit(xs[0]), _clip_to_unit(xs[1])
    box.ymin_scaled, box.ymax_scaled = _clip_to_unit(ys[0]), _clip_to_unit(ys[1])
    boxes.append(box)
  return boxes


def _number(element, path, xml_file):
  node = element.find(path)
  if node is None or node.text is None:
    raise ValueError('%s has no <%s>' % (xml_file, path))
  return float(node.text.strip())


def process_xml_annotation(xml_file):
  """The BoundingBox list of one ILSVRC annotation file (ValueError when it is malformed)."""
  try:
    root = ElementTree.parse(xml_file).getroot()
  except ElementTree.ParseError as e:
    raise ValueError('%s is not valid XML: %s' % (xml_file, e)) from None
  width = _number(root, 'size/width', xml_file)
  height = _number(root, 'size/height', xml_file)
  if width <= 0 or height <= 0:
    raise ValueError('%s has an empty image size %gx%g' % (xml_file, width, height))
  boxes = []
  for obj in root.iter('object'):
    name = obj.find('name')
    boxes.append(BoundingBox(
        (name.text or '').strip() if name is not None else '',
        _number(obj, 'bndbox/xmin', xml_file), _number(obj, 'bndbox/ymin', xml_file),
        _number(obj, 'bndbox/xmax', xml_file), _number(obj, 'bndbox/ymax', xml_file),
        width, height))
  return boxes


def find_xml_files(bounding_box_dir):
  found = []
  for root, dirs, names in os.walk(bounding_box_dir):
    dirs.sort()
    found += [os.path.join(root, n) for n in sorted(names) if n.lower().endswith('.xml')]
  return found


def process(bounding_box_dir, synsets_to_keep=None, out=sys.stdout, log=sys.stderr):
  """Writes the CSV lines to `out`; returns a dict of counts."""
  counts = dict(files=0, boxes=0, skipped_boxes=0, skipped_files=0)
  for xml_file in find_xml_files(bounding_box_dir):
    try:
      boxes = process_xml_annotation(xml_file)
    except ValueError as e:
      log.write('skipped %s\n' % e)
      counts['skipped_files'] += 1
      continue
    counts['files'] += 1
    image_name = os.path.splitext(os.path.basename(xml_file))[0] + '.JPEG'
    for box in boxes:
      xmin, ymin, xmax, ymax = box.scaled()
      if (synsets_to_keep is not None and box.label not in synsets_to_keep) or (
          xmin >= xmax or ymin >= ymax):
        counts['skipped_boxes'] += 1
        continue
      out.write('%s,%.4f,%.4f,%.4f,%.4f\n' % (image_name, xmin, ymin, xmax, ymax))
      counts['boxes'] += 1
    if counts['files'] % 5000 == 0:
      log.write('>> processed %d XML files\n' % counts['files'])
  log.write('Finished processing %(files)d XML files: %(boxes)d boxes written, %(skipped_boxes)d '
            'boxes and %(skipped_files)d files skipped.\n' % counts)
  return counts


def main(argv):
  if len(argv) not in (2, 3):
    sys.stderr.write('usage: %s BOUNDING_BOX_DIR [SYNSETS_FILE] > boxes.csv\n'
                     % os.path.basename(argv[0]))
    return 2
  if not os.path.isdir(argv[1]):
    sys.stderr.write('error: bounding box folder %s does not exist\n' % argv[1])
    return 2
  synsets = None
  if len(argv) == 3:
    try:
      with open(argv[2]) as f:
        synsets = {line.strip() for line in f if line.strip()}
    except OSError as e:
      sys.stderr.write('error: %s\n' % e)
      return 2
  process(argv[1], synsets)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
