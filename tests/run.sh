#!/usr/bin/env bash
# Runs the whole default test suite: every unit-test binary (build/tests/test_*)
# and every command-line test script (tests/cli/*.sh), then prints one line
#   tests: N passed, N failed, N skipped
# and exits non-zero if anything failed. Run from the repository root (make test).
# DEAL_SHARED points at the shared data (default: ../shared beside the clone);
# tests that need it say so and are skipped where it is absent.
set -u
cd "$(dirname "$0")/.."
export DEAL_SHARED="${DEAL_SHARED:-$(cd .. && pwd)/shared}"
[ -d "$DEAL_SHARED/data" ] || echo "note: no shared data at $DEAL_SHARED (set DEAL_SHARED); tests that need it are skipped"
export PATH="$PWD/bin:$PATH"
# A short OpenMP spin, as the pipelines use (pipelines/share-cores): on a busy
# machine libgomp's default makes every test binary many times slower.
[ -n "${GOMP_SPINCOUNT:-}${OMP_WAIT_POLICY:-}" ] || export GOMP_SPINCOUNT=3000

passed=0 failed=0 skipped=0 broken=()
tally() {  # tally NAME OUTPUT-FILE STATUS
    local line p f s
    line=$(grep -E '^(unit|cli): [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$2" | tail -n 1)
    if [ -z "$line" ]; then
        failed=$((failed + 1)); broken+=("$1 (no summary line, exit $3)"); return
    fi
    read -r p f s < <(echo "$line" | sed -E 's/^[a-z]+: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/')
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    if [ "$f" -gt 0 ] || [ "$3" -ne 0 ]; then
        broken+=("$1")
        [ "$f" -gt 0 ] || failed=$((failed + 1))
    fi
}

out=$(mktemp); trap 'rm -f "$out"' EXIT
for t in build/tests/test_*; do
    [ -x "$t" ] || continue
    echo "== $t"
    "$t" >"$out" 2>&1; st=$?
    cat "$out"; tally "$t" "$out" "$st"
done
for t in tests/cli/test_*.sh; do
    echo "== $t"
    bash "$t" >"$out" 2>&1; st=$?
    cat "$out"; tally "$t" "$out" "$st"
done

echo
for b in "${broken[@]+"${broken[@]}"}"; do echo "FAILED: $b"; done
echo "tests: $passed passed, $failed failed, $skipped skipped"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
