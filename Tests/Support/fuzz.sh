#!/usr/bin/env bash
# make fuzz: each in-process fuzzer for FUZZ_SECONDS with a new seed, then
# schemathesis with FUZZ_EXAMPLES examples per operation. Failing inputs land in
# Tests/FuseboxFuzzTests/Kept/<target>/ (replayed by every make test); an input
# that crashed the process is copied there from .build/fuzz-last/.
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-120}
examples=${FUZZ_EXAMPLES:-200}
seed=${FUZZ_SEED:-$(date +%s)}
bin=.build/debug/fusebox
dev=.build/debug/fusebox-dev
kept=Tests/FuseboxFuzzTests/Kept
failed=0
for target in config policy driver; do
  "$dev" fuzz "$target" --seconds "$seconds" --seed "$seed" --keep "$kept" --last .build/fuzz-last
  status=$?
  if [ "$status" -gt 128 ]; then
    for f in .build/fuzz-last/"$target".*; do
      keep="$kept/$target/crash-$seed-$(date +%s).${f##*.}"
      cp "$f" "$keep" && echo "fuzz $target: the process died (signal $((status - 128))); its input is kept as $keep"
    done
  fi
  [ "$status" -ne 0 ] && failed=1
done

"$bin" demo --any-port --speed 20 --password fuzz-pass > .build/fuzz-demo.log 2>&1 &
demo=$!
trap 'kill $demo 2>/dev/null' EXIT
for _ in $(seq 60); do grep -aq "web page: http://" .build/fuzz-demo.log && break; sleep 1; done
url=$(grep -ao "web page: http://[0-9.:]*" .build/fuzz-demo.log | head -1 | cut -d' ' -f3)
python3 Tests/Support/api_fuzz.py "$url" fuzz-pass docs/openapi.yaml "$seed" "$examples" || failed=1
echo "fuzz: seed $seed, $seconds s per target, $examples examples per operation: $([ $failed = 0 ] && echo nothing found || echo FOUND SOMETHING)"
exit $failed
