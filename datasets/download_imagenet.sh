#!/bin/bash
# Downloads and unpacks the ILSVRC 2012 (ImageNet) archives.
#
# usage: download_imagenet.sh OUTDIR SYNSETS_FILE
#
# image-net.org serves the archives only to registered users. Put the base URL of your download
# links (or a local folder holding the archives) in IMAGENET_BASE_URL; the script asks for it when
# it is not set and a terminal is attached. Files fetched from it:
#   ILSVRC2012_bbox_train_v2.tar.gz  ILSVRC2012_bbox_val_v3.tgz
#   ILSVRC2012_img_val.tar           ILSVRC2012_img_train.tar  (about 140 GB)
# A download is written to a temporary name and renamed when complete, so an archive present under
# its own name is whole and is not fetched again; an interrupted download resumes.
#
# Result in OUTDIR:
#   bounding_boxes/<synset>/*.xml, bounding_boxes/val/*.xml
#   validation/ILSVRC2012_val_*.JPEG (flat; sort it with preprocess_imagenet_validation_data.py)
#   train/<synset>/*.JPEG for every synset of SYNSETS_FILE
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 OUTDIR SYNSETS_FILE" >&2
  exit 2
fi
OUTDIR="${1%/}"
SYNSETS_FILE="$2"
if [ ! -f "${SYNSETS_FILE}" ]; then
  echo "error: synsets file ${SYNSETS_FILE} does not exist" >&2
  exit 2
fi

if [ -z "${IMAGENET_BASE_URL:-}" ]; then
  if [ -t 0 ]; then
    read -r -p "Base URL (or folder) of your image-net.org ILSVRC 2012 archives: " \
      IMAGENET_BASE_URL
  fi
  if [ -z "${IMAGENET_BASE_URL:-}" ]; then
    echo "error: set IMAGENET_BASE_URL to the base URL (or local folder) of the ILSVRC 2012" \
      "archives; image-net.org gives it to registered users" >&2
    exit 2
  fi
fi
BASE="${IMAGENET_BASE_URL%/}"

mkdir -p "${OUTDIR}"

# fetch NAME: OUTDIR/NAME from BASE (a URL or a folder); prints the local path.
fetch() {
  local name="$1"
  case "${BASE}" in
    http://*|https://*|ftp://*)
      local target="${OUTDIR}/${name}"
      if [ ! -f "${target}" ]; then
        echo ">> Downloading ${name}" >&2
        # --continue-at - resumes a partial download; --fail turns HTTP errors into an exit code.
        curl --fail --location --continue-at - --output "${target}.partial" "${BASE}/${name}" >&2
        mv "${target}.partial" "${target}"
      fi
      echo "${target}"
      ;;
    *)
      if [ ! -f "${BASE}/${name}" ]; then
        echo "error: ${BASE}/${name} does not exist" >&2
        exit 2
      fi
      echo "${BASE}/${name}"
      ;;
  esac
}

# GNU tar strips leading '/' and refuses '..' in member names; --no-same-owner keeps our user.
untar() {
  tar --no-same-owner -xf "$1" -C "$2"
}

BBOX_DIR="${OUTDIR}/bounding_boxes"
mkdir -p "${BBOX_DIR}"
echo "Unpacking the bounding boxes into ${BBOX_DIR}."
# (Each archive path is assigned first, so that a failed fetch stops the script under set -e.)
archive="$(fetch ILSVRC2012_bbox_train_v2.tar.gz)"
untar "${archive}" "${BBOX_DIR}"
archive="$(fetch ILSVRC2012_bbox_val_v3.tgz)"
untar "${archive}" "${BBOX_DIR}"

VALIDATION_DIR="${OUTDIR}/validation"
mkdir -p "${VALIDATION_DIR}"
echo "Unpacking the validation images into ${VALIDATION_DIR}."
archive="$(fetch ILSVRC2012_img_val.tar)"
untar "${archive}" "${VALIDATION_DIR}"

# The train archive holds one tar per synset; each is unpacked into its folder and then removed.
TRAIN_DIR="${OUTDIR}/train"
mkdir -p "${TRAIN_DIR}"
echo "Unpacking the train images into ${TRAIN_DIR}."
archive="$(fetch ILSVRC2012_img_train.tar)"
untar "${archive}" "${TRAIN_DIR}"
count=0
while read -r SYNSET; do
  [ -z "${SYNSET}" ] && continue
  if [ -f "${TRAIN_DIR}/${SYNSET}.tar" ]; then
    mkdir -p "${TRAIN_DIR}/${SYNSET}"
    untar "${TRAIN_DIR}/${SYNSET}.tar" "${TRAIN_DIR}/${SYNSET}"
    rm -f "${TRAIN_DIR}/${SYNSET}.tar"
  elif [ ! -d "${TRAIN_DIR}/${SYNSET}" ]; then
    echo "error: the train archive has no ${SYNSET}.tar" >&2
    exit 1
  fi
  count=$((count + 1))
  if [ $((count % 100)) -eq 0 ]; then
    echo ">> ${count} synsets unpacked"
  fi
done < "${SYNSETS_FILE}"
echo "Done: ${count} train synsets in ${TRAIN_DIR}."
