"""The public names the port promises, module by module, in the original's layout (issue 16).

Written by hand from the original's modules (the names code written against `research/slim`
imports) and the issue's list. A name that disappears, or a keyword that changes name or default,
fails here before it fails a user's script. Names the port adds beyond the original are not
listed: removing one of those breaks no code written for the original.
"""
import ast
import importlib
import inspect
import os

import pytest
import tensorflow.compat.v1 as tf

from foundation import internals  # noqa: F401  (before tf_slim)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# module path -> public names (functions, classes, constants, module-level aliases).
PUBLIC_NAMES = {
    # -- networks ------------------------------------------------------------------------------
    'nets.nets_factory': ['networks_map', 'arg_scopes_map', 'get_network_fn'],
    'nets.alexnet': ['alexnet_v2', 'alexnet_v2_arg_scope', 'trunc_normal'],
    'nets.cifarnet': ['cifarnet', 'cifarnet_arg_scope', 'trunc_normal'],
    'nets.overfeat': ['overfeat', 'overfeat_arg_scope', 'trunc_normal'],
    'nets.lenet': ['lenet', 'lenet_arg_scope'],
    'nets.vgg': ['vgg_a', 'vgg_16', 'vgg_19', 'vgg_d', 'vgg_e', 'vgg_arg_scope'],
    'nets.inception': [
        'inception_v1', 'inception_v1_base', 'inception_v1_arg_scope',
        'inception_v2', 'inception_v2_base', 'inception_v2_arg_scope',
        'inception_v3', 'inception_v3_base', 'inception_v3_arg_scope',
        'inception_v4', 'inception_v4_base', 'inception_v4_arg_scope',
        'inception_resnet_v2', 'inception_resnet_v2_base', 'inception_resnet_v2_arg_scope'],
    'nets.inception_utils': ['inception_arg_scope'],
    'nets.inception_v1': ['inception_v1', 'inception_v1_base', 'inception_v1_arg_scope',
                          'trunc_normal'],
    'nets.inception_v2': ['inception_v2', 'inception_v2_base', 'inception_v2_arg_scope'],
    'nets.inception_v3': ['inception_v3', 'inception_v3_base', 'inception_v3_arg_scope'],
    'nets.inception_v4': ['inception_v4', 'inception_v4_base', 'inception_v4_arg_scope',
                          'block_inception_a', 'block_reduction_a', 'block_inception_b',
                          'block_reduction_b', 'block_inception_c'],
    'nets.inception_resnet_v2': ['inception_resnet_v2', 'inception_resnet_v2_base',
                                 'inception_resnet_v2_arg_scope', 'block35', 'block17', 'block8'],
    'nets.i3d': ['i3d', 'i3d_base', 'i3d_arg_scope', 'trunc_normal', 'conv3d_spatiotemporal'],
    'nets.s3dg': ['s3dg', 's3dg_base', 's3dg_arg_scope', 'arg_scope', 'trunc_normal',
                  'conv3d_spatiotemporal', 'inception_block_v1_3d', 'self_gating'],
    'nets.i3d_utils': ['add_arg_scope', 'layers', 'center_initializer', 'conv3d_spatiotemporal',
                       'inception_block_v1_3d', 'reduced_kernel_size_3d'],
    'nets.resnet_utils': ['Block', 'subsample', 'conv2d_same', 'stack_blocks_dense',
                          'resnet_arg_scope'],
    'nets.resnet_v1': ['NoOpScope', 'bottleneck', 'resnet_v1', 'resnet_v1_block', 'resnet_v1_50',
                       'resnet_v1_101', 'resnet_v1_152', 'resnet_v1_200', 'resnet_arg_scope'],
    'nets.resnet_v2': ['bottleneck', 'resnet_v2', 'resnet_v2_block', 'resnet_v2_50',
                       'resnet_v2_101', 'resnet_v2_152', 'resnet_v2_200', 'resnet_arg_scope'],
    'nets.mobilenet_v1': ['Conv', 'DepthSepConv', 'MOBILENETV1_CONV_DEFS', 'mobilenet_v1',
                          'mobilenet_v1_base', 'mobilenet_v1_arg_scope', 'mobilenet_v1_075',
                          'mobilenet_v1_050', 'mobilenet_v1_025', 'wrapped_partial'],
    'nets.mobilenet.conv_blocks': ['expanded_conv', 'expand_input_by_factor', 'split_conv',
                                   'split_separable_conv2d', 'squeeze_excite'],
    'nets.mobilenet.mobilenet': ['mobilenet', 'mobilenet_base', 'training_scope', 'global_pool',
                                 'op', 'depth_multiplier', 'safe_arg_scope', 'NoOpScope',
                                 'apply_activation'],
    'nets.mobilenet.mobilenet_v2': ['V2_DEF', 'V2_DEF_GROUP_NORM', 'mobilenet', 'mobilenet_base',
                                    'mobilenet_base_group_norm', 'training_scope',
                                    'mobilenet_v2_140', 'mobilenet_v2_050', 'mobilenet_v2_035',
                                    'wrapped_partial'],
    'nets.mobilenet.mobilenet_v3': [
        'DEFAULTS', 'DEFAULTS_GROUP_NORM', 'V3_LARGE', 'V3_SMALL', 'V3_LARGE_MINIMALISTIC',
        'V3_SMALL_MINIMALISTIC', 'V3_EDGETPU', 'V3_LARGE_DETECTION', 'V3_SMALL_DETECTION',
        'mobilenet', 'mobilenet_base', 'training_scope', 'large', 'small', 'large_minimalistic',
        'small_minimalistic', 'edge_tpu', 'edge_tpu_075', 'hard_swish', 'reduce_to_1x1',
        'mbv3_op', 'mbv3_fused', 'squeeze_excite', 'wrapped_partial'],
    'nets.nasnet.nasnet': ['arg_scope', 'build_nasnet_cifar', 'build_nasnet_mobile',
                           'build_nasnet_large', 'nasnet_cifar_arg_scope', 'nasnet_mobile_arg_scope',
                           'nasnet_large_arg_scope', 'cifar_config', 'mobile_imagenet_config',
                           'large_imagenet_config'],
    'nets.nasnet.nasnet_utils': ['arg_scope', 'NasNetABaseCell', 'NasNetANormalCell',
                                 'NasNetAReductionCell', 'calc_reduction_layers',
                                 'get_channel_index', 'get_channel_dim', 'global_avg_pool',
                                 'factorized_reduction', 'drop_path', 'DATA_FORMAT_NCHW',
                                 'DATA_FORMAT_NHWC', 'INVALID'],
    'nets.nasnet.pnasnet': ['arg_scope', 'build_pnasnet_large', 'build_pnasnet_mobile',
                            'pnasnet_large_arg_scope', 'pnasnet_mobile_arg_scope',
                            'large_imagenet_config', 'mobile_imagenet_config',
                            'PNasNetNormalCell'],
    # -- preprocessing -------------------------------------------------------------------------
    'preprocessing.preprocessing_factory': ['get_preprocessing'],
    'preprocessing.inception_preprocessing': ['apply_with_random_selector', 'distort_color',
                                              'distorted_bounding_box_crop',
                                              'preprocess_for_train', 'preprocess_for_eval',
                                              'preprocess_image'],
    'preprocessing.vgg_preprocessing': ['preprocess_for_train', 'preprocess_for_eval',
                                        'preprocess_image'],
    'preprocessing.cifarnet_preprocessing': ['preprocess_for_train', 'preprocess_for_eval',
                                             'preprocess_image'],
    'preprocessing.lenet_preprocessing': ['preprocess_image'],
    # -- data sets -----------------------------------------------------------------------------
    'datasets.dataset_factory': ['datasets_map', 'get_dataset'],
    'datasets.dataset_utils': ['LABELS_FILENAME', 'int64_feature', 'bytes_feature',
                               'float_feature', 'bytes_list_feature', 'float_list_feature',
                               'image_to_tfexample', 'download_url',
                               'download_and_uncompress_tarball',
                               'download_and_uncompress_zipfile', 'write_label_file', 'has_labels',
                               'read_label_file', 'open_sharded_output_tfrecords'],
    'datasets.cifar10': ['get_split', 'SPLITS_TO_SIZES'],
    'datasets.flowers': ['get_split', 'SPLITS_TO_SIZES'],
    'datasets.mnist': ['get_split', 'SPLITS_TO_SIZES'],
    'datasets.imagenet': ['get_split', 'SPLITS_TO_SIZES', 'LOAD_READABLE_NAMES',
                          'create_readable_names_for_imagenet_labels'],
    'datasets.visualwakewords': ['get_split', 'SPLITS_TO_SIZES', 'LABELS_FILENAME'],
    'datasets.download_and_convert_cifar10': ['run'],
    'datasets.download_and_convert_flowers': ['run', 'ImageReader'],
    'datasets.download_and_convert_mnist': ['run'],
    'datasets.download_and_convert_visualwakewords': ['run'],
    'datasets.download_and_convert_visualwakewords_lib': [
        'download_coco_dataset', 'create_labels_file', 'create_visual_wakeword_annotations',
        'create_tf_record_for_visualwakewords_dataset'],
    'datasets.build_imagenet_data': ['ImageCoder', 'main'],
    'datasets.process_bounding_boxes': ['BoundingBox', 'GetItem', 'GetInt',
                                        'FindNumberBoundingBoxes', 'ProcessXMLAnnotation', 'main'],
    'datasets.preprocess_imagenet_validation_data': ['main'],
    # -- deployment ----------------------------------------------------------------------------
    'deployment.model_deploy': ['DeploymentConfig', 'Clone', 'DeployedModel', 'create_clones',
                                'optimize_clones', 'deploy'],
}

# Classes whose methods and properties user code calls.
PUBLIC_MEMBERS = {
    'deployment.model_deploy.DeploymentConfig': [
        'num_clones', 'clone_on_cpu', 'replica_id', 'num_replicas', 'num_ps_tasks', 'ps_device',
        'worker_device', 'caching_device', 'clone_device', 'clone_scope', 'optimizer_device',
        'inputs_device', 'variables_device'],
    'deployment.model_deploy.Clone': ['outputs', 'scope', 'device'],
    'deployment.model_deploy.DeployedModel': ['train_op', 'summary_op', 'total_loss', 'clones'],
    'datasets.download_and_convert_flowers.ImageReader': ['read_image_dims', 'decode_jpeg'],
    'datasets.build_imagenet_data.ImageCoder': ['png_to_jpeg', 'cmyk_to_rgb', 'decode_jpeg'],
    'nets.resnet_utils.Block': ['scope', 'unit_fn', 'args'],
}

_NO_DEFAULT = inspect.Parameter.empty

# callable -> its leading parameters as (name, default), in order; `_NO_DEFAULT` for required
# ones. Only what the original has: the port may add keywords after these.
SIGNATURES = {
    'nets.nets_factory.get_network_fn': [('name', _NO_DEFAULT), ('num_classes', _NO_DEFAULT),
                                         ('weight_decay', 0.0), ('is_training', False)],
    'nets.mobilenet.mobilenet.global_pool': [('input_tensor', _NO_DEFAULT),
                                             ('use_reduce_mean_for_pooling', False),
                                             ('pool_op', tf.nn.avg_pool2d)],
    'nets.mobilenet.mobilenet_v2.mobilenet_base_group_norm': [('input_tensor', _NO_DEFAULT),
                                                              ('depth_multiplier', 1.0)],
    'nets.mobilenet.mobilenet_v3.mobilenet': [
        ('input_tensor', _NO_DEFAULT), ('num_classes', 1001), ('depth_multiplier', 1.0),
        ('scope', 'MobilenetV3'), ('conv_defs', None), ('finegrain_classification_mode', False),
        ('use_groupnorm', False)],
    'nets.mobilenet.mobilenet_v2.mobilenet': [
        ('input_tensor', _NO_DEFAULT), ('num_classes', 1001), ('depth_multiplier', 1.0),
        ('scope', 'MobilenetV2'), ('conv_defs', None), ('finegrain_classification_mode', False),
        ('min_depth', None), ('divisible_by', None), ('activation_fn', None)],
    'nets.inception_v3.inception_v3': [
        ('inputs', _NO_DEFAULT), ('num_classes', 1000), ('is_training', True),
        ('dropout_keep_prob', 0.8), ('min_depth', 16), ('depth_multiplier', 1.0)],
    'nets.resnet_v1.resnet_v1_50': [
        ('inputs', _NO_DEFAULT), ('num_classes', None), ('is_training', True),
        ('global_pool', True), ('output_stride', None), ('spatial_squeeze', True),
        ('store_non_strided_activations', False), ('min_base_depth', 8),
        ('depth_multiplier', 1), ('reuse', None), ('scope', 'resnet_v1_50')],
    'nets.mobilenet_v1.mobilenet_v1': [
        ('inputs', _NO_DEFAULT), ('num_classes', 1000), ('dropout_keep_prob', 0.999),
        ('is_training', True), ('min_depth', 8), ('depth_multiplier', 1.0), ('conv_defs', None)],
    'nets.nasnet.nasnet.build_nasnet_mobile': [
        ('images', _NO_DEFAULT), ('num_classes', _NO_DEFAULT), ('is_training', True),
        ('final_endpoint', None), ('config', None)],
    'preprocessing.preprocessing_factory.get_preprocessing': [
        ('name', _NO_DEFAULT), ('is_training', False), ('use_grayscale', False)],
    'preprocessing.inception_preprocessing.preprocess_image': [
        ('image', _NO_DEFAULT), ('height', _NO_DEFAULT), ('width', _NO_DEFAULT),
        ('is_training', False), ('bbox', None), ('fast_mode', True),
        ('add_image_summaries', True), ('crop_image', True), ('use_grayscale', False)],
    'datasets.dataset_factory.get_dataset': [
        ('name', _NO_DEFAULT), ('split_name', _NO_DEFAULT), ('dataset_dir', _NO_DEFAULT),
        ('file_pattern', None), ('reader', None)],
    'datasets.download_and_convert_flowers.ImageReader.read_image_dims': [
        ('self', _NO_DEFAULT), ('sess', _NO_DEFAULT), ('image_data', _NO_DEFAULT)],
    'datasets.download_and_convert_flowers.ImageReader.decode_jpeg': [
        ('self', _NO_DEFAULT), ('sess', _NO_DEFAULT), ('image_data', _NO_DEFAULT)],
    'datasets.process_bounding_boxes.GetItem': [('name', _NO_DEFAULT), ('root', _NO_DEFAULT),
                                                ('index', 0)],
    'datasets.process_bounding_boxes.GetInt': [('name', _NO_DEFAULT), ('root', _NO_DEFAULT),
                                               ('index', 0)],
    'datasets.process_bounding_boxes.FindNumberBoundingBoxes': [('root', _NO_DEFAULT)],
    'datasets.process_bounding_boxes.ProcessXMLAnnotation': [('xml_file', _NO_DEFAULT)],
    'datasets.download_and_convert_visualwakewords_lib.download_coco_dataset': [
        ('dataset_dir', _NO_DEFAULT)],
    'datasets.download_and_convert_visualwakewords_lib.create_labels_file': [
        ('foreground_class_of_interest', _NO_DEFAULT),
        ('visualwakewords_labels_file', _NO_DEFAULT)],
    'datasets.download_and_convert_visualwakewords_lib.create_visual_wakeword_annotations': [
        ('annotations_file', _NO_DEFAULT), ('visualwakewords_annotations_file', _NO_DEFAULT),
        ('small_object_area_threshold', _NO_DEFAULT),
        ('foreground_class_of_interest', _NO_DEFAULT)],
    'datasets.download_and_convert_visualwakewords_lib.'
    'create_tf_record_for_visualwakewords_dataset': [
        ('annotations_file', _NO_DEFAULT), ('image_dir', _NO_DEFAULT),
        ('output_path', _NO_DEFAULT), ('num_shards', _NO_DEFAULT)],
    'deployment.model_deploy.DeploymentConfig': [
        ('num_clones', 1), ('clone_on_cpu', False), ('replica_id', 0), ('num_replicas', 1),
        ('num_ps_tasks', 0), ('worker_job_name', 'worker'), ('ps_job_name', 'ps')],
    'deployment.model_deploy.create_clones': [
        ('config', _NO_DEFAULT), ('model_fn', _NO_DEFAULT), ('args', None), ('kwargs', None)],
    'deployment.model_deploy.optimize_clones': [
        ('clones', _NO_DEFAULT), ('optimizer', _NO_DEFAULT), ('regularization_losses', None)],
    'deployment.model_deploy.deploy': [
        ('config', _NO_DEFAULT), ('model_fn', _NO_DEFAULT), ('args', None), ('kwargs', None),
        ('optimizer', None), ('summarize_gradients', False)],
}

# Every data set's get_split(split_name, dataset_dir, file_pattern=None, reader=None).
for _dataset in ('cifar10', 'flowers', 'imagenet', 'mnist', 'visualwakewords'):
  SIGNATURES['datasets.%s.get_split' % _dataset] = [
      ('split_name', _NO_DEFAULT), ('dataset_dir', _NO_DEFAULT), ('file_pattern', None),
      ('reader', None)]

for _method in ('png_to_jpeg', 'cmyk_to_rgb', 'decode_jpeg'):
  SIGNATURES['datasets.build_imagenet_data.ImageCoder.' + _method] = [('self', _NO_DEFAULT),
                                                                     ('image_data', _NO_DEFAULT)]

# Keywords the issue names that functions take through **kwargs (checked by calling them in
# test_nets_original_api.py): mobilenet_v3.mobilenet(groups=...), mobilenet_base_group_norm(groups=).

# Network functions and their default_image_size.
DEFAULT_IMAGE_SIZES = {
    'nets.alexnet.alexnet_v2': 224, 'nets.cifarnet.cifarnet': 32, 'nets.overfeat.overfeat': 231,
    'nets.vgg.vgg_a': 224, 'nets.vgg.vgg_16': 224, 'nets.vgg.vgg_19': 224,
    'nets.inception.inception_v1': 224, 'nets.inception.inception_v2': 224,
    'nets.inception.inception_v3': 299, 'nets.inception.inception_v4': 299,
    'nets.inception.inception_resnet_v2': 299, 'nets.i3d.i3d': 224, 'nets.s3dg.s3dg': 224,
    'nets.lenet.lenet': 28, 'nets.resnet_v1.resnet_v1_50': 224, 'nets.resnet_v1.resnet_v1_200': 224,
    'nets.resnet_v2.resnet_v2_50': 224, 'nets.resnet_v2.resnet_v2_200': 224,
    'nets.mobilenet_v1.mobilenet_v1': 224, 'nets.mobilenet_v1.mobilenet_v1_025': 224,
    'nets.mobilenet.mobilenet_v2.mobilenet': 224, 'nets.mobilenet.mobilenet_v2.mobilenet_v2_140': 224,
    'nets.mobilenet.mobilenet_v3.small': 224, 'nets.mobilenet.mobilenet_v3.edge_tpu': 224,
    'nets.nasnet.nasnet.build_nasnet_cifar': 32, 'nets.nasnet.nasnet.build_nasnet_mobile': 224,
    'nets.nasnet.nasnet.build_nasnet_large': 331, 'nets.nasnet.pnasnet.build_pnasnet_large': 331,
    'nets.nasnet.pnasnet.build_pnasnet_mobile': 224,
}

# The original's factory keys (40 networks, 5 data sets).
NETWORK_NAMES = [
    'alexnet_v2', 'cifarnet', 'overfeat', 'vgg_a', 'vgg_16', 'vgg_19', 'inception_v1',
    'inception_v2', 'inception_v3', 'inception_v4', 'inception_resnet_v2', 'i3d', 's3dg', 'lenet',
    'resnet_v1_50', 'resnet_v1_101', 'resnet_v1_152', 'resnet_v1_200', 'resnet_v2_50',
    'resnet_v2_101', 'resnet_v2_152', 'resnet_v2_200', 'mobilenet_v1', 'mobilenet_v1_075',
    'mobilenet_v1_050', 'mobilenet_v1_025', 'mobilenet_v2', 'mobilenet_v2_140', 'mobilenet_v2_035',
    'mobilenet_v3_small', 'mobilenet_v3_large', 'mobilenet_v3_small_minimalistic',
    'mobilenet_v3_large_minimalistic', 'mobilenet_edgetpu', 'mobilenet_edgetpu_075',
    'nasnet_cifar', 'nasnet_mobile', 'nasnet_large', 'pnasnet_large', 'pnasnet_mobile']
DATASET_NAMES = ['cifar10', 'flowers', 'imagenet', 'mnist', 'visualwakewords']

# Top-level scripts of the original and the functions they define (read from the source: two of
# them define the same flag names, so, as with the original, they cannot share one process).
SCRIPTS = {
    'train_image_classifier.py': ['main'],
    'eval_image_classifier.py': ['main'],
    'export_inference_graph.py': ['main'],
    'download_and_convert_data.py': ['main'],
}


def _resolve(dotted):
  """The object named by `package.module.attribute[.attribute...]`."""
  parts = dotted.split('.')
  for split in range(len(parts) - 1, 0, -1):
    try:
      obj = importlib.import_module('.'.join(parts[:split]))
    except ModuleNotFoundError:
      continue
    for attribute in parts[split:]:
      obj = getattr(obj, attribute)
    return obj
  raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize('module_name', sorted(PUBLIC_NAMES))
def test_module_has_its_public_names(module_name):
  module = importlib.import_module(module_name)
  missing = [name for name in PUBLIC_NAMES[module_name] if not hasattr(module, name)]
  assert not missing, '%s lacks %s' % (module_name, ', '.join(missing))


@pytest.mark.parametrize('class_name', sorted(PUBLIC_MEMBERS))
def test_class_has_its_public_members(class_name):
  cls = _resolve(class_name)
  missing = [name for name in PUBLIC_MEMBERS[class_name] if not hasattr(cls, name)]
  assert not missing, '%s lacks %s' % (class_name, ', '.join(missing))


@pytest.mark.parametrize('function_name', sorted(SIGNATURES))
def test_keywords_and_defaults(function_name):
  parameters = list(inspect.signature(_resolve(function_name)).parameters.values())
  expected = SIGNATURES[function_name]
  actual = [(p.name, p.default) for p in parameters[:len(expected)]]
  assert actual == expected


def test_issue_keywords_that_come_through_kwargs_are_accepted():
  v3 = inspect.signature(_resolve('nets.mobilenet.mobilenet_v3.mobilenet')).parameters
  v2 = inspect.signature(_resolve('nets.mobilenet.mobilenet_v2.mobilenet_base_group_norm'))
  for parameters in (v3, v2.parameters):
    assert any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values())
  factory = inspect.signature(_resolve('preprocessing.preprocessing_factory.get_preprocessing'))
  assert {'height', 'width'} <= set(factory.parameters)


@pytest.mark.parametrize('function_name', sorted(DEFAULT_IMAGE_SIZES))
def test_default_image_size(function_name):
  assert _resolve(function_name).default_image_size == DEFAULT_IMAGE_SIZES[function_name]


def test_factories_know_the_original_names():
  nets_factory = importlib.import_module('nets.nets_factory')
  dataset_factory = importlib.import_module('datasets.dataset_factory')
  for mapping in (nets_factory.networks_map, nets_factory.arg_scopes_map):
    assert not set(NETWORK_NAMES) - set(mapping)
  assert not set(DATASET_NAMES) - set(dataset_factory.datasets_map)
  for name in DATASET_NAMES:
    assert callable(dataset_factory.datasets_map[name].get_split)


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_script_defines_its_functions(script):
  with open(os.path.join(ROOT, script)) as f:
    tree = ast.parse(f.read(), script)
  defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
  assert not set(SCRIPTS[script]) - defined
