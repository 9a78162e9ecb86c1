#!/usr/bin/env bash
# Trains LeNet on MNIST from scratch and evaluates it on the test split. Override with environment
# variables: DATASET_DIR, TRAIN_DIR, DATASET_URL (base URL or folder of the four idx files), STEPS,
# BATCH_SIZE.
source "$(dirname "${BASH_SOURCE[0]}")/finetune_lib.sh"
STEPS="${STEPS:-20000}"
BATCH_SIZE="${BATCH_SIZE:-50}"
OPTIMIZER=sgd
LEARNING_RATE="${LEARNING_RATE:-0.01}"
train_from_scratch mnist lenet --learning_rate_decay_type=fixed --weight_decay=0
