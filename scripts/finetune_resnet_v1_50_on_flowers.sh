#!/usr/bin/env bash
# Fine-tunes the published resnet_v1_50 checkpoint on flowers: the new logits first, then all layers,
# evaluating after each phase. Override with environment variables: DATASET_DIR, TRAIN_DIR,
# PRETRAINED_CHECKPOINT_DIR, CHECKPOINT_URL, DATASET_URL (a mirror or local flower_photos.tgz),
# LOGITS_STEPS, ALL_STEPS, BATCH_SIZE, IMAGE_SIZE, MODEL_NAME, CHECKPOINT_NAME.
source "$(dirname "${BASH_SOURCE[0]}")/finetune_lib.sh"
MODEL_NAME="${MODEL_NAME:-resnet_v1_50}"
CHECKPOINT_URL="${CHECKPOINT_URL:-http://download.tensorflow.org/models/resnet_v1_50_2016_08_28.tar.gz}"
CHECKPOINT_NAME="${CHECKPOINT_NAME:-resnet_v1_50.ckpt}"
EXCLUDE_SCOPES="${EXCLUDE_SCOPES:-resnet_v1_50/logits}"
TRAINABLE_SCOPES="${TRAINABLE_SCOPES:-resnet_v1_50/logits}"
finetune_on_flowers
