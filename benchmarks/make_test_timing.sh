#!/bin/bash
# make test, timed as a newcomer runs it: a fresh clone of this repository at COMMIT, an empty HOME,
# nothing of the caller's environment (env -i), `make setup` once, then RUNS x `make test`.
#
#     benchmarks/make_test_timing.sh after HEAD 5     # appends to results/make_test_timing/after.txt
#
# env -i also drops pip's own configuration from the environment and HOME (find-links to a local
# wheel of torch, for instance): set up this way, pip takes what the package index gives.
set -u
label=$1; commit=$2; runs=$3
repo=$(cd "$(dirname "$0")/.." && pwd)
base=$(mktemp -d "/tmp/make-test-timing-$label.XXXX"); mkdir -p "$base/home"
log="$repo/results/make_test_timing/$label.txt"; mkdir -p "$(dirname "$log")"  # .txt: results/.gitignore skips *.log
git clone -q "$repo" "$base/clone" && git -C "$base/clone" checkout -q "$commit"
echo "$(date -u +%FT%TZ) $label $(git -C "$base/clone" rev-parse --short HEAD)" >> "$log"
cd "$base/clone"
E="env -i HOME=$base/home PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 VAE_LITE_DEVICE=cpu VAE_LITE_REQUIRE_BROWSER=1"
s=$(date +%s); $E make setup > "$base/setup.out" 2>&1; echo "setup rc=$? $(( $(date +%s) - s )) s" >> "$log"
for i in $(seq 1 "$runs"); do
  s=$(date +%s); $E make test PYTEST_ARGS="--durations=15 -p no:randomly" > "$base/test$i.out" 2>&1; rc=$?
  echo "run $i rc=$rc $(( $(date +%s) - s )) s | $(grep -E '^=+ .*(passed|failed).* in ' "$base/test$i.out" | tr '\n' ' ')" >> "$log"
done
