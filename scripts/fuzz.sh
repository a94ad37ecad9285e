#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target in fuzz/fuzz_targets/ for a bounded time, one after the other.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]        (default 60)
#   FUZZ_TARGETS="config ticket_id" scripts/fuzz.sh 300    (only these targets)
#
# Uses the nightly toolchain when rustup has one, else stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz
# needs nightly-only flags); FUZZ_STABLE=1 forces the stable way. FUZZ_TARGET_DIR=DIR builds
# elsewhere than fuzz/target (e.g. to keep a stable and a nightly build apart). Installs
# cargo-fuzz when it is missing. One fuzzer at a time, one job, no sanitizer (the harnesses are
# safe Rust; overflow checks and debug assertions are on).
#
# Corpus: fuzz/corpus/<target>/ grows from run to run and is not tracked; the tracked seeds in
# fuzz/seeds/<target>/ are read as a second corpus directory every run. A crash is saved under
# fuzz/artifacts/<target>/; once fixed, copy it into fuzz/seeds/<target>/ as a regression input
# (`cargo nextest run -p pam_ticketgate fuzzing` replays every seed on stable).
#
# Prints one line per target (executions, coverage, corpus size, result) and exits non-zero
# when any target crashed, leaked, ran out of memory or timed out.
set -euo pipefail

SECS="${1:-60}"
if ! [[ "$SECS" =~ ^[0-9]+$ ]] || [ "$SECS" -lt 1 ]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FUZZ="$ROOT/fuzz"
cd "$FUZZ"

# Nightly if installed, else stable told to allow nightly flags.
TOOLCHAIN=()
if [ -z "${FUZZ_STABLE:-}" ] && command -v rustup >/dev/null 2>&1 &&
    rustup toolchain list | grep -q '^nightly'; then
    TOOLCHAIN=(+nightly)
    echo "fuzz: toolchain nightly ($(rustc +nightly --version))"
else
    export RUSTC_BOOTSTRAP=1
    echo "fuzz: no nightly toolchain; stable with RUSTC_BOOTSTRAP=1 ($(rustc --version))"
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a TARGETS <<<"$FUZZ_TARGETS"
else
    TARGETS=()
    for f in fuzz_targets/*.rs; do
        TARGETS+=("$(basename "$f" .rs)")
    done
fi

BUILD=(--fuzz-dir "$FUZZ" --sanitizer none)
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
    BUILD+=(--target-dir "$FUZZ_TARGET_DIR")
fi
cargo "${TOOLCHAIN[@]}" fuzz build "${BUILD[@]}"

LOGS="$FUZZ/target/fuzz-logs"
mkdir -p "$LOGS"
FAILED=()
for t in "${TARGETS[@]}"; do
    if [ ! -f "fuzz_targets/$t.rs" ]; then
        echo "fuzz: no target $t" >&2
        FAILED+=("$t")
        continue
    fi
    mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t"
    before="$(find "artifacts/$t" -type f | wc -l)"
    # -jobs=1 runs the fuzzer in one child whose output goes to fuzz-0.log in the current
    # directory: run it from a directory of its own. The outer timeout only guards against a
    # hang outside libFuzzer's own -max_total_time.
    work="$LOGS/$t"
    rm -rf "$work"
    mkdir -p "$work"
    rc=0
    started=$SECONDS
    (cd "$work" && timeout --kill-after=30 "$((SECS + 300))" \
        cargo "${TOOLCHAIN[@]}" fuzz run "${BUILD[@]}" "$t" \
        "$FUZZ/corpus/$t" "$FUZZ/seeds/$t" -- \
        -jobs=1 -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -print_final_stats=1 >"$work/cargo.log" 2>&1) || rc=$?
    elapsed=$((SECONDS - started))
    log="$work/fuzz-0.log"
    [ -f "$log" ] || log="$work/cargo.log"
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    ft="$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    corpus="$(find "corpus/$t" -type f | wc -l)"
    after="$(find "artifacts/$t" -type f | wc -l)"
    if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ]; then
        result=ok
    else
        result="FAILED (exit $rc; $((after - before)) new artifact(s) in fuzz/artifacts/$t; log $log)"
        FAILED+=("$t")
    fi
    printf 'fuzz: %-18s %5ss  execs %-10s cov %-6s ft %-6s corpus %-5s %s\n' \
        "$t" "$elapsed" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$result"
    if [ "$result" != ok ]; then
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -n 8 | sed 's/^/    /' || true
    fi
done

if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${FAILED[*]}"
    exit 1
fi
echo "fuzz: all ${#TARGETS[@]} targets ok"
