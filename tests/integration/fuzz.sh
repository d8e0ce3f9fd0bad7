#!/usr/bin/env bash
# Fuzz smoke: builds the libFuzzer targets with clang and runs each for
# TK_FUZZ_SECONDS (default 8: seven targets in under a minute) from the
# seed corpora. Needs no stack; it lives here because the runner runs
# every script in this directory.
# Longer runs: make fuzz FUZZ_SECONDS=600 in the build directory.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${TK_BUILD:?TK_BUILD must name the build directory}
secs=${TK_FUZZ_SECONDS:-8}

if ! out=$(make -s -C "$build" fuzz-build 2>&1); then
    echo "not ok - fuzz: build the targets with clang"
    printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
    exit 1
fi
echo "ok - fuzz: build the targets with clang"
"$root/scripts/fuzz-run" "$build/fuzz" "$root/fuzz/corpus" "$secs"
