#!/usr/bin/env bash
# Fine-tunes the published mobilenet_v1 checkpoint on flowers: the new logits first, then all layers,
# evaluating after each phase. Override with environment variables: DATASET_DIR, TRAIN_DIR,
# PRETRAINED_CHECKPOINT_DIR, CHECKPOINT_URL, DATASET_URL (a mirror or local flower_photos.tgz),
# LOGITS_STEPS, ALL_STEPS, BATCH_SIZE, IMAGE_SIZE, MODEL_NAME, CHECKPOINT_NAME.
source "$(dirname "${BASH_SOURCE[0]}")/finetune_lib.sh"
MODEL_NAME="${MODEL_NAME:-mobilenet_v1}"
CHECKPOINT_URL="${CHECKPOINT_URL:-http://download.tensorflow.org/models/mobilenet_v1_2018_02_22/mobilenet_v1_1.0_224.tgz}"
CHECKPOINT_NAME="${CHECKPOINT_NAME:-mobilenet_v1_1.0_224.ckpt}"
EXCLUDE_SCOPES="${EXCLUDE_SCOPES:-MobilenetV1/Logits}"
TRAINABLE_SCOPES="${TRAINABLE_SCOPES:-MobilenetV1/Logits}"
finetune_on_flowers
