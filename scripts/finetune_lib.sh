# Shared steps of the fine-tuning and training pipelines in this folder (sourced, not run).
# Every path, URL and step count can be overridden by an environment variable of the same name, so
# the pipelines also run from a local mirror and with tiny step counts in tests.
set -euo pipefail
SLIM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"

slim() {  # slim SCRIPT.py ARGS...: run one of the top-level scripts
  local script="$1"; shift
  "$PYTHON" "$SLIM_ROOT/$script" "$@"
}

convert_dataset() {  # convert_dataset NAME DIR [DATASET_URL]
  local args=(--dataset_name="$1" --dataset_dir="$2")
  if [ -n "${3:-}" ]; then args+=(--dataset_url="$3"); fi
  slim download_and_convert_data.py "${args[@]}"
}

fetch_checkpoint() {  # fetch_checkpoint URL DEST NAME -> prints the checkpoint prefix
  "$PYTHON" -m image_classifier.fetch_checkpoint --url="$1" --dest="$2" --name="$3" | tail -n 1
}

evaluate() {  # evaluate CHECKPOINT_DIR_OR_FILE EXTRA_ARGS...
  local checkpoint="$1"; shift
  slim eval_image_classifier.py --checkpoint_path="$checkpoint" --eval_dir="$checkpoint/eval" \
    --dataset_name="$DATASET_NAME" --dataset_split_name="$EVAL_SPLIT" --dataset_dir="$DATASET_DIR" \
    --model_name="$MODEL_NAME" "$@"
}

# finetune_on_flowers: new logits first (LOGITS_STEPS), then every layer (ALL_STEPS), with an
# evaluation after each phase. Needs MODEL_NAME, CHECKPOINT_URL, CHECKPOINT_NAME, EXCLUDE_SCOPES,
# TRAINABLE_SCOPES; optional IMAGE_SIZE, LABELS_OFFSET, PREPROCESSING_NAME.
finetune_on_flowers() {
  DATASET_NAME=flowers
  EVAL_SPLIT=validation
  DATASET_DIR="${DATASET_DIR:-/tmp/flowers}"
  TRAIN_DIR="${TRAIN_DIR:-/tmp/flowers-models/$MODEL_NAME}"
  PRETRAINED_CHECKPOINT_DIR="${PRETRAINED_CHECKPOINT_DIR:-/tmp/checkpoints}"
  LOGITS_STEPS="${LOGITS_STEPS:-1000}"
  ALL_STEPS="${ALL_STEPS:-500}"
  BATCH_SIZE="${BATCH_SIZE:-32}"
  local size_args=()
  if [ -n "${IMAGE_SIZE:-}" ]; then size_args=(--train_image_size="$IMAGE_SIZE"); fi
  local eval_size=()
  if [ -n "${IMAGE_SIZE:-}" ]; then eval_size=(--eval_image_size="$IMAGE_SIZE"); fi
  local extra=()
  if [ -n "${PREPROCESSING_NAME:-}" ]; then extra+=(--preprocessing_name="$PREPROCESSING_NAME"); fi

  echo "== pretrained checkpoint"
  local checkpoint
  checkpoint="$(fetch_checkpoint "$CHECKPOINT_URL" "$PRETRAINED_CHECKPOINT_DIR" "$CHECKPOINT_NAME")"
  echo "$checkpoint"
  echo "== flowers data in $DATASET_DIR"
  convert_dataset flowers "$DATASET_DIR" "${DATASET_URL:-}"

  echo "== phase 1: train the new layers ($TRAINABLE_SCOPES) for $LOGITS_STEPS steps"
  slim train_image_classifier.py --train_dir="$TRAIN_DIR" --dataset_name=flowers \
    --dataset_split_name=train --dataset_dir="$DATASET_DIR" --model_name="$MODEL_NAME" \
    --checkpoint_path="$checkpoint" --checkpoint_exclude_scopes="$EXCLUDE_SCOPES" \
    --trainable_scopes="$TRAINABLE_SCOPES" --max_number_of_steps="$LOGITS_STEPS" \
    --batch_size="$BATCH_SIZE" --learning_rate=0.01 --learning_rate_decay_type=fixed \
    --save_interval_secs=60 --save_summaries_secs=60 --log_every_n_steps=100 \
    --optimizer=rmsprop --weight_decay=0.00004 "${size_args[@]}" "${extra[@]}"
  echo "== evaluation after phase 1"
  evaluate "$TRAIN_DIR" "${eval_size[@]}" "${extra[@]}"

  echo "== phase 2: train all layers for $ALL_STEPS steps"
  slim train_image_classifier.py --train_dir="$TRAIN_DIR/all" --dataset_name=flowers \
    --dataset_split_name=train --dataset_dir="$DATASET_DIR" --model_name="$MODEL_NAME" \
    --checkpoint_path="$TRAIN_DIR" --max_number_of_steps="$ALL_STEPS" \
    --batch_size="$BATCH_SIZE" --learning_rate=0.0001 --learning_rate_decay_type=fixed \
    --save_interval_secs=60 --save_summaries_secs=60 --log_every_n_steps=10 \
    --optimizer=rmsprop --weight_decay=0.00004 "${size_args[@]}" "${extra[@]}"
  echo "== evaluation after phase 2"
  evaluate "$TRAIN_DIR/all" "${eval_size[@]}" "${extra[@]}"
}

# train_from_scratch NAME MODEL: convert, train STEPS steps, evaluate on the test split.
train_from_scratch() {
  DATASET_NAME="$1"
  MODEL_NAME="$2"
  EVAL_SPLIT=test
  DATASET_DIR="${DATASET_DIR:-/tmp/$DATASET_NAME}"
  TRAIN_DIR="${TRAIN_DIR:-/tmp/$MODEL_NAME-model}"
  echo "== $DATASET_NAME data in $DATASET_DIR"
  convert_dataset "$DATASET_NAME" "$DATASET_DIR" "${DATASET_URL:-}"
  echo "== train $MODEL_NAME for $STEPS steps"
  slim train_image_classifier.py --train_dir="$TRAIN_DIR" --dataset_name="$DATASET_NAME" \
    --dataset_split_name=train --dataset_dir="$DATASET_DIR" --model_name="$MODEL_NAME" \
    --preprocessing_name="$MODEL_NAME" --max_number_of_steps="$STEPS" --batch_size="$BATCH_SIZE" \
    --save_interval_secs=120 --save_summaries_secs=120 --log_every_n_steps=100 \
    --optimizer="$OPTIMIZER" --learning_rate="$LEARNING_RATE" "$@"
  echo "== evaluation"
  evaluate "$TRAIN_DIR"
}
