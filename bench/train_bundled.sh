#!/usr/bin/env bash
# Trains the checkpoints bundled in checkpoints/ with the project's own CLI, on the verified
# datasets in ../shared/data (never copied into the repo). Each checkpoint stores the exact
# command that made it. Usage: bash bench/train_bundled.sh [name ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export VAE_DATA_DIR="${VAE_DATA_DIR:-$(cd .. && pwd)/shared/data}"
# The beta pair (Compare page: beta = 0.5 / 1 / 4 with mnist_2d as beta = 1) is mnist_2d's
# architecture and recipe with only --beta changed.
declare -A CMD=(
  [digits_2d]="--dataset digits --latent-dim 2 --snapshots --hidden 256,128 --epochs 150 --batch-size 64 --lr 2e-3 --iw-k 1000 --iw-n 0 --title 'Digits 8x8, 2-D latent: trains in seconds, works offline'"
  [mnist_2d]="--dataset mnist --latent-dim 2 --snapshots --hidden 512,256 --epochs 20 --binarize --iw-k 1000 --title 'MNIST, 2-D latent: for the map, the plane and the manifold'"
  [mnist_beta05_2d]="--dataset mnist --latent-dim 2 --snapshots --hidden 512,256 --epochs 20 --binarize --beta 0.5 --iw-k 1000 --title 'MNIST, 2-D latent, beta = 0.5: mnist_2d with half the KL weight (Compare: beta = 0.5 / 1 / 4)'"
  [mnist_beta4_2d]="--dataset mnist --latent-dim 2 --snapshots --hidden 512,256 --epochs 20 --binarize --beta 4 --iw-k 1000 --title 'MNIST, 2-D latent, beta = 4: mnist_2d with four times the KL weight (Compare: beta = 0.5 / 1 / 4)'"
  [mnist_ae_2d]="--dataset mnist --latent-dim 2 --snapshots --hidden 512,256 --epochs 12 --binarize --variant ae --iw-k 100 --title 'MNIST plain autoencoder (no noise, no KL): the lecture comparison'"
  [mnist_noisy_ae_2d]="--dataset mnist --latent-dim 2 --snapshots --hidden 512,256 --epochs 12 --binarize --variant noisy_ae --iw-k 100 --title 'MNIST autoencoder with noise, no KL: the lecture comparison'"
  [mnist_3d]="--dataset mnist --latent-dim 3 --snapshots --hidden 256,128 --epochs 20 --binarize --iw-k 100 --title 'MNIST, 3-D latent: for the 3-D view of the Latent map'"
  [fashion_2d]="--dataset fashion-mnist --latent-dim 2 --snapshots --hidden 512,256 --epochs 15 --iw-k 100 --title 'Fashion-MNIST, 2-D latent'"
  [frey_2d]="--dataset frey --latent-dim 2 --snapshots --hidden 256,128 --epochs 400 --batch-size 100 --lr 1e-3 --iw-k 1000 --iw-n 0 --title 'Frey Face, 2-D latent, Gaussian likelihood (the paper face manifold)'"
  [mnist_32]="--dataset mnist --latent-dim 32 --hidden 512,512 --epochs 150 --batch-size 100 --binarize --kl-warmup 10 --lr-decay 0.985 --iw-k 1000 --title 'MNIST, 32-D latent: the quality model'"
)
ORDER=(digits_2d frey_2d mnist_2d mnist_beta05_2d mnist_beta4_2d mnist_3d fashion_2d mnist_ae_2d mnist_noisy_ae_2d mnist_32)
names=("${@:-${ORDER[@]}}")
[ $# -gt 0 ] && names=("$@") || names=("${ORDER[@]}")
for name in "${names[@]}"; do
  echo "== $name"
  eval python -m vae.train ${CMD[$name]} --out "checkpoints/$name.pt"
done
