#!/usr/bin/env bash
# Instructions per uncontended acquire+release, lox against parking_lot,
# counted by callgrind (independent of machine load). Usage:
#   bash benches/instructions.sh [iterations]   (default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
cargo bench --bench instructions --no-run 2>/dev/null
bin=$(ls -t target/release/deps/instructions-* | grep -v '\.d$' | head -n 1)
count() {
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
    rm -f "$out"
}
printf '%-28s %s\n' primitive instructions/op
for p in lox::Lock lox::QLock lox::RWLock::read lox::RWLock::write lox::IndexSemaphore \
    parking_lot::Mutex parking_lot::RwLock::read parking_lot::RwLock::write; do
    base=$(count "$p" 0)
    full=$(count "$p" "$n")
    awk -v p="$p" -v a="$full" -v b="$base" -v n="$n" 'BEGIN { printf "%-28s %.1f\n", p, (a - b) / n }'
done
