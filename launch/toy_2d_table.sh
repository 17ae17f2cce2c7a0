#!/usr/bin/env bash
# PacGAN's Table 1 (gan_jax/toy/toy_2d.py) at the paper's length: every
# (mixture, method) row trains in its own process, JOBS of them at once on
# this machine, then one more run per mixture evaluates the finished rows and
# writes WORKDIR/MIXTURE/table.md, summary.json and the figures.
#
#   WORKDIR=/tmp/table launch/toy_2d_table.sh [--config.FIELD=VALUE ...]
#
# Settings (environment): METHODS (gan,pacgan2,pacgan4: the table's rows),
# MIXTURES ("ring grid"), STEPS (400000: 400 epochs x 1,000 steps), EVAL_EVERY
# (10000: evaluate and checkpoint that often), JOBS (every row at once). Extra
# flags go to every run, e.g. --config.num_seeds=2. Each row logs to
# WORKDIR/MIXTURE/METHOD.log. The same command resumes a stopped table: each
# row from its last checkpoint, a finished row is only evaluated.
#
# Why one process per row: the players are small, so one row's step is a chain
# of small kernels that leaves a GPU or a many-core CPU mostly idle; rows in
# parallel fill it. On a CPU, single-threaded XLA and a row per core train the
# most steps per second (2 cores: 1.36x one process on both):
#   XLA_FLAGS=--xla_cpu_multi_thread_eigen=false JOBS=$(nproc) WORKDIR=... \
#       launch/toy_2d_table.sh
set -euo pipefail

: "${WORKDIR:?set WORKDIR to the directory for the table}"
methods=${METHODS:-gan,pacgan2,pacgan4}
read -r -a mixtures <<< "${MIXTURES:-ring grid}"
steps=${STEPS:-400000}
every=${EVAL_EVERY:-10000}
IFS=, read -r -a rows <<< "$methods"
jobs=${JOBS:-$(( ${#mixtures[@]} * ${#rows[@]} ))}
# The last run reads every row from its checkpoint: an uncut row keeps none.
if [[ ! $every =~ ^[1-9][0-9]*$ ]]; then
  echo "toy_2d_table: EVAL_EVERY must be a positive number of steps, got '$every'" >&2
  exit 2
fi
# Several processes share one GPU: none may take most of its memory up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=false

run() {  # MIXTURE METHODS [FLAGS...]
  local mixture=$1 which=$2
  shift 2
  python -m gan_jax.main --config="configs/toy_2d.py:$mixture" \
    --workdir="$WORKDIR/$mixture" --config.method="$which" \
    --config.num_train_steps="$steps" --config.eval_every_steps="$every" "$@"
}

declare -A row_of=()  # pid -> MIXTURE/METHOD of the rows still running
failed=()
reap() {  # waits for one row to end; a failed row's log is named at the end
  local pid status=0
  wait -n -p pid || status=$?
  (( status == 0 )) || failed+=("$WORKDIR/${row_of[$pid]}.log")
  unset "row_of[$pid]"
}
for mixture in "${mixtures[@]}"; do
  mkdir -p "$WORKDIR/$mixture"
  for method in "${rows[@]}"; do
    while (( ${#row_of[@]} >= jobs )); do reap; done
    run "$mixture" "$method" "$@" > "$WORKDIR/$mixture/$method.log" 2>&1 &
    row_of[$!]="$mixture/$method"
  done
done
while (( ${#row_of[@]} )); do reap; done
if (( ${#failed[@]} )); then
  echo "toy_2d_table: rows failed; see ${failed[*]}" >&2
  exit 1
fi
for mixture in "${mixtures[@]}"; do
  run "$mixture" "$methods" "$@"
  echo "== $WORKDIR/$mixture/table.md"
  cat "$WORKDIR/$mixture/table.md"
done
