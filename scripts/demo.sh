#!/usr/bin/env bash
# The whole slim path on the bundled sample digits, in a few minutes on 2 CPU cores:
# convert (custom folder converter) -> train LeNet -> evaluate -> export -> freeze -> label an image.
# Usage: bash scripts/demo.sh [work folder, default /tmp/slim_demo]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh" ""
cd "$ROOT"
WORK="${1:-/tmp/slim_demo}"
STEPS="${SLIM_DEMO_STEPS:-1500}"
rm -rf "$WORK/train" "$WORK/eval"
mkdir -p "$WORK"
# The digits are 8x8 pixels: train, evaluate and export LeNet at that size.
SIZE=8

echo "== 1/6 convert sample_data/digits to TFRecords"
python download_and_convert_data.py --dataset_name=custom --images_dir=sample_data/digits \
  --dataset_dir="$WORK/data" --validation_fraction=0.2

echo "== 2/6 train lenet ($STEPS steps)"
python train_image_classifier.py --train_dir="$WORK/train" --dataset_name=custom \
  --dataset_split_name=train --dataset_dir="$WORK/data" --model_name=lenet \
  --train_image_size=$SIZE --batch_size=64 --optimizer=adam --learning_rate=0.002 \
  --learning_rate_decay_type=fixed --weight_decay=0 --max_number_of_steps="$STEPS" \
  --save_interval_steps=500 --log_every_n_steps=100

echo "== 3/6 evaluate on the held-out validation split"
python eval_image_classifier.py --checkpoint_path="$WORK/train" --eval_dir="$WORK/eval" \
  --dataset_name=custom --dataset_split_name=validation --dataset_dir="$WORK/data" \
  --model_name=lenet --eval_image_size=$SIZE

echo "== 4/6 export the inference graph"
python export_inference_graph.py --model_name=lenet --dataset_name=custom \
  --dataset_dir="$WORK/data" --image_size=$SIZE --output_file="$WORK/lenet_graph.pb"

echo "== 5/6 freeze it with the trained weights"
python freeze_graph.py --input_graph="$WORK/lenet_graph.pb" --input_binary=true \
  --input_checkpoint="$WORK/train" --output_graph="$WORK/lenet_frozen.pb"

IMAGE="$(ls sample_data/digits/7/*.png | head -n 1)"
echo "== 6/6 label $IMAGE (a 7)"
python label_image.py --graph="$WORK/lenet_frozen.pb" --image="$IMAGE" \
  --input_mean=128 --input_std=128
