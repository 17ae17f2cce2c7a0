#!/usr/bin/env bash
# Trains gan_jax on a Cloud TPU VM (one host or a multi-host slice), then
# deletes the VM.
#
#   launch/tpu_vm.sh NAME ZONE ACCELERATOR_TYPE RUNTIME_VERSION GS_WORKDIR \
#       [CONFIG] [-- extra main flags]
#   launch/tpu_vm.sh gan-v4 us-central2-b v4-32 tpu-ubuntu2204-base \
#       gs://my-bucket/dcgan_celeba configs/dcgan.py:celeba \
#       -- --config.data.tfds_dir=gs://my-bucket/tensorflow_datasets
#
# Copies this checkout (git archive of HEAD) to every worker, installs it with
# jax[tpu], runs the main job on --worker=all (every host is one JAX process;
# jax.distributed.initialize() finds the others), and tears the VM down on exit,
# also on failure or Ctrl-C. KEEP_VM=1 keeps it. The workdir must be on GCS:
# every host writes its checkpoint shards there.
set -euo pipefail

if [[ $# -lt 5 ]]; then
  sed -n '2,16p' "$0" >&2
  exit 2
fi
name=$1 zone=$2 accelerator=$3 runtime=$4 workdir=$5
shift 5
config=configs/dcgan.py
if [[ $# -gt 0 && $1 != -- ]]; then
  config=$1
  shift
fi
if [[ $# -gt 0 && $1 == -- ]]; then
  shift
fi
if [[ $workdir != gs://* ]]; then
  echo "tpu_vm.sh: GS_WORKDIR must be a gs:// path, got '$workdir'" >&2
  exit 2
fi

repo_root=$(cd "$(dirname "$0")/.." && pwd)
archive=$(mktemp --suffix=.tar.gz)
git -C "$repo_root" archive --format=tar.gz --prefix=gan_jax/ -o "$archive" HEAD

tpu() { gcloud compute tpus tpu-vm "$@" --zone="$zone"; }

teardown() {
  rm -f "$archive"
  if [[ ${KEEP_VM:-0} != 1 ]]; then
    tpu delete "$name" --quiet || true
  fi
}
trap teardown EXIT

tpu create "$name" --accelerator-type="$accelerator" --version="$runtime"
tpu scp "$archive" "$name":gan_jax.tar.gz --worker=all
tpu ssh "$name" --worker=all --command="
  set -e
  rm -rf gan_jax && tar xzf gan_jax.tar.gz
  python3 -m venv ~/venv && . ~/venv/bin/activate
  pip install -q -U pip 'jax[tpu]'
  pip install -q -e './gan_jax[tfds]'"

printf -v extra ' %q' "$@"
tpu ssh "$name" --worker=all --command="
  . ~/venv/bin/activate && cd gan_jax &&
  python -m gan_jax.main --config=$config --workdir=$workdir --distributed$extra"
