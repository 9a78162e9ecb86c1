#!/usr/bin/env bash
# Fine-tunes the published inception_v3 checkpoint on flowers: the new logits first, then all layers,
# evaluating after each phase. Override with environment variables: DATASET_DIR, TRAIN_DIR,
# PRETRAINED_CHECKPOINT_DIR, CHECKPOINT_URL, DATASET_URL (a mirror or local flower_photos.tgz),
# LOGITS_STEPS, ALL_STEPS, BATCH_SIZE, IMAGE_SIZE, MODEL_NAME, CHECKPOINT_NAME.
source "$(dirname "${BASH_SOURCE[0]}")/finetune_lib.sh"
MODEL_NAME="${MODEL_NAME:-inception_v3}"
CHECKPOINT_URL="${CHECKPOINT_URL:-http://download.tensorflow.org/models/inception_v3_2016_08_28.tar.gz}"
CHECKPOINT_NAME="${CHECKPOINT_NAME:-inception_v3.ckpt}"
EXCLUDE_SCOPES="${EXCLUDE_SCOPES:-InceptionV3/Logits,InceptionV3/AuxLogits}"
TRAINABLE_SCOPES="${TRAINABLE_SCOPES:-InceptionV3/Logits,InceptionV3/AuxLogits}"
finetune_on_flowers
