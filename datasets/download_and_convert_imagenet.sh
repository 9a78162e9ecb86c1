#!/bin/bash
# Downloads ILSVRC 2012 (ImageNet) and converts it to the TFRecords datasets/imagenet.py reads.
#
# usage: bash datasets/download_and_convert_imagenet.sh DATA_DIR
#
# Needs an image-net.org account: see download_imagenet.sh for IMAGENET_BASE_URL. About 500 GB of
# free disk space (archives, unpacked images and TFRecords) and several hours.
#
# Steps:
#   1. the synsets list, their names and the validation labels: taken from IMAGENET_METADATA_DIR
#      (default: this folder) when there, else downloaded from IMAGENET_METADATA_URL;
#   2. download_imagenet.sh: the archives, unpacked into DATA_DIR/raw-data;
#   3. preprocess_imagenet_validation_data.py: validation images into synset folders;
#   4. process_bounding_boxes.py: the bounding-box XML into one CSV;
#   5. build_imagenet_data.py: DATA_DIR/train-?????-of-01024, validation-?????-of-00128 and
#      labels.txt.
# Every step can be run again: finished work is kept (the TFRecord build resumes shard by shard).
#
# Environment: PYTHON (default python3), NUM_WORKERS (processes for step 5, default 8),
# TRAIN_SHARDS and VALIDATION_SHARDS (default 1024 and 128).
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DATA_DIR" >&2
  exit 2
fi
DATA_DIR="${1%/}"
WORK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
SCRATCH_DIR="${DATA_DIR}/raw-data"
mkdir -p "${DATA_DIR}" "${SCRATCH_DIR}"

METADATA_DIR="${IMAGENET_METADATA_DIR:-${WORK_DIR}}"
DEFAULT_METADATA_URL="https://raw.githubusercontent.com/tensorflow/models/master/research/slim/datasets"
METADATA_URL="${IMAGENET_METADATA_URL:-${DEFAULT_METADATA_URL}}"
metadata_file() {
  local name="$1"
  if [ -f "${METADATA_DIR}/${name}" ]; then
    echo "${METADATA_DIR}/${name}"
  else
    if [ ! -f "${SCRATCH_DIR}/${name}" ]; then
      curl --fail --location --silent --show-error --output "${SCRATCH_DIR}/${name}.partial" \
        "${METADATA_URL}/${name}" >&2
      mv "${SCRATCH_DIR}/${name}.partial" "${SCRATCH_DIR}/${name}"
    fi
    echo "${SCRATCH_DIR}/${name}"
  fi
}
LABELS_FILE="$(metadata_file imagenet_lsvrc_2015_synsets.txt)"
METADATA_FILE="$(metadata_file imagenet_metadata.txt)"
VAL_LABELS_FILE="$(metadata_file imagenet_2012_validation_synset_labels.txt)"

echo "Downloading and unpacking the archives into ${SCRATCH_DIR}."
bash "${WORK_DIR}/download_imagenet.sh" "${SCRATCH_DIR}" "${LABELS_FILE}"

echo "Sorting the validation images into synset folders."
"${PYTHON}" "${WORK_DIR}/preprocess_imagenet_validation_data.py" \
  "${SCRATCH_DIR}/validation" "${VAL_LABELS_FILE}"

echo "Collecting the bounding boxes."
BOUNDING_BOX_FILE="${SCRATCH_DIR}/imagenet_2012_bounding_boxes.csv"
"${PYTHON}" "${WORK_DIR}/process_bounding_boxes.py" "${SCRATCH_DIR}/bounding_boxes" \
  "${LABELS_FILE}" | sort > "${BOUNDING_BOX_FILE}.partial"
mv "${BOUNDING_BOX_FILE}.partial" "${BOUNDING_BOX_FILE}"

echo "Building the TFRecords in ${DATA_DIR}."
"${PYTHON}" "${WORK_DIR}/build_imagenet_data.py" \
  --train_directory="${SCRATCH_DIR}/train" \
  --validation_directory="${SCRATCH_DIR}/validation" \
  --output_directory="${DATA_DIR}" \
  --labels_file="${LABELS_FILE}" \
  --imagenet_metadata_file="${METADATA_FILE}" \
  --bounding_box_file="${BOUNDING_BOX_FILE}" \
  --train_shards="${TRAIN_SHARDS:-1024}" \
  --validation_shards="${VALIDATION_SHARDS:-128}" \
  --num_threads="${NUM_WORKERS:-8}"
