#!/usr/bin/env bash
# Trains CifarNet on CIFAR-10 from scratch and evaluates it on the test split. Override with
# environment variables: DATASET_DIR, TRAIN_DIR, DATASET_URL, STEPS, BATCH_SIZE.
source "$(dirname "${BASH_SOURCE[0]}")/finetune_lib.sh"
STEPS="${STEPS:-100000}"
BATCH_SIZE="${BATCH_SIZE:-128}"
OPTIMIZER=sgd
LEARNING_RATE="${LEARNING_RATE:-0.1}"
train_from_scratch cifar10 cifarnet --learning_rate_decay_factor=0.1 --num_epochs_per_decay=200 \
  --weight_decay=0.004
