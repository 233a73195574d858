#!/usr/bin/env bash
# The encoder comparison (python -m models compare) at full size on one GPU, the eight runs in parallel: each
# family's two seeds at once, LISTA after the ISTA run whose dictionary it takes. Then one measurement of all on
# the 10,000 test digits. Writes float16 exports of every run and the table under $OUT (default: runs/).
#   SPARSELAB_DATA=DIR [BUDGET=seconds] bash bench/compare_gpu.sh [--no-cuda-graph]
set -u
OUT=${OUT:-runs/compare-gpu-out}; R=${R:-runs/compare}; mkdir -p "$OUT" "$R"
export PYTHONUNBUFFERED=1
py() { python3 -m models "$@"; }
quick="--digits 10 --max-iterations 10 $*"
t0=$(date +%s)
[ -n "${PRE_LOG:-}" ] && cp "$PRE_LOG" "$OUT/log-pre.txt"
for s in 0 1; do
  py compare --out "$R" --families drsae --seeds $s $quick >"$OUT/log-drsae-$s.txt" 2>&1 &
  py compare --out "$R" --families structured-drsae --seeds $s $quick >"$OUT/log-sr-$s.txt" 2>&1 &
  py compare --out "$R" --families ista,lista --seeds $s $quick >"$OUT/log-ista-lista-$s.txt" 2>&1 &
done
# a run still training after BUDGET seconds is stopped (it checkpoints) and measured as it stands
( sleep "${BUDGET:-100000}"; pkill -TERM -f "models compare --out" ) & watchdog=$!
wait $(jobs -p | grep -v "^$watchdog$")
kill $watchdog 2>/dev/null
echo "trained in $(( $(date +%s) - t0 )) s"
grep -h "epoch .*/\|done\|stopped\|error" "$OUT"/log-*.txt | tail -n 20
runs=$(for f in ista lista drsae structured-drsae; do echo "$R/$f-s0 $R/$f-s1"; done)
py compare --out "$R" --models $runs "$@" 2>&1 | tee "$OUT/compare-log.txt"
echo "all done in $(( $(date +%s) - t0 )) s"
cp "$R/compare.md" "$R/compare.json" "$OUT/"
for f in ista lista drsae structured-drsae; do
  for s in 0 1; do py export "$R/$f-s$s" --out "$OUT/models/$f-s$s" >/dev/null; done
  tar -C "$OUT/models" -czf "$OUT/$f.tgz" "$f-s0" "$f-s1"
done
rm -rf "$OUT/models"; tar -C "$OUT" -czf "$OUT/logs.tgz" $(cd "$OUT" && ls log-*.txt) && rm -f "$OUT"/log-*.txt
ls -la "$OUT"
