"""Installs the slim image classification suite (nets, datasets, preprocessing, deployment, scripts)."""
from setuptools import find_packages, setup

SCRIPTS = [
    'download_and_convert_data', 'train_image_classifier', 'eval_image_classifier',
    'export_inference_graph', 'freeze_graph', 'label_image', 'export_model', 'eval_exported_model',
]

setup(
    name='slim',
    version='0.2.0',
    description='TF-Slim image classification library, ported to TensorFlow 2.21',
    python_requires='>=3.9',
    # Layers, top to bottom: the scripts (py_modules), image_classifier (the jobs they run), the
    # design's packages (nets, preprocessing, datasets, deployment), foundation (below them all).
    packages=find_packages(include=['image_classifier', 'nets', 'nets.*', 'preprocessing',
                                    'datasets', 'deployment', 'quantize', 'foundation']),
    py_modules=SCRIPTS,
    # Pinned to what the test suite runs against: tf-slim 1.1.0 needs the fixes in
    # foundation/internals.py, which are written for exactly these TensorFlow / tf-keras releases.
    install_requires=[
        'tensorflow==2.21.*',
        'tf-keras==2.21.*',
        'tf-slim==1.1.0',
        # TensorFlow 2.21 no longer pulls TensorBoard in; the README's `tensorboard --logdir`.
        'tensorboard==2.21.*',
        'numpy',
        'absl-py',
        'pillow',
    ],
    extras_require={'test': ['pytest', 'pytest-xdist']},
    entry_points={'console_scripts': [
        '%s=%s:entry_point' % (s.replace('_', '-'), s) for s in SCRIPTS]},
)
