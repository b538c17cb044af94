#!/usr/bin/env bash
# Benchmark (not a test): an incremental rebuild of the live ISO after a
# %post change, against the cold build before it, in one run.
#
#   bench/incremental.sh [KICKSTART]      default: kickstarts/debian-minimal.ks
#
# 1. a cold build: an empty cache, so every index and package is downloaded,
#    installed and compressed;
# 2. the same kickstart with one more %post line, with that cache: the
#    installed root and the squashfs blocks of the first build are reused;
# 3. the same again with --no-incremental: a warm build that installs and
#    compresses everything, for reference.
# The mirror is what livecompose uses: --mirror / $LIVECOMPOSE_MIRROR / the
# host's apt sources. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
ks=${1:-kickstarts/debian-minimal.ks}

cargo build --release --locked -q
lc=$PWD/target/release/livecompose
work=$(mktemp -d /var/tmp/livecompose-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Beside the kickstart: its %include and overlay paths are relative to it.
changed=$(dirname "$ks")/.bench-rebuilt.ks
trap 'rm -rf "$work" "$changed"' EXIT
{ cat "$ks"; printf '%%post\necho rebuilt > /etc/bench-rebuilt\n%%end\n'; } > "$changed"

now() { date +%s.%N; }
build() { # NAME KICKSTART [ARGS...]
    local name=$1 config=$2 start
    shift 2
    start=$(now)
    "$lc" --config "$config" --label Bench --output "$work/$name" --cache "$work/cache" "$@" \
        2> "$work/$name.err"
    echo "$(now) - $start" | bc
}

echo "== cold build (empty cache)"
cold=$(build cold "$ks")
echo "== incremental rebuild after a %post change"
incremental=$(build incremental "$changed")
grep -q "were installed by an earlier build" "$work/incremental.err" ||
    { echo "the rebuild installed its packages again" >&2; cat "$work/incremental.err" >&2; exit 1; }
recalled=$(grep -o '[0-9]* of [0-9]* blocks as compressed by an earlier build' "$work/incremental.err" || echo "no blocks")
echo "== warm build with --no-incremental"
warm=$(build warm "$changed" --no-incremental)

printf '\n%-52s %9s %7s\n' "live ISO of $ks" time ratio
printf '%-52s %8.1fs %7s\n' "cold build" "$cold" 1.00
printf '%-52s %8.1fs %7.2f\n' "incremental rebuild after a %post change" "$incremental" "$(echo "$incremental / $cold" | bc -l)"
printf '%-52s %8.1fs %7.2f\n' "warm rebuild, --no-incremental" "$warm" "$(echo "$warm / $cold" | bc -l)"
echo "squashfs of the incremental rebuild: $recalled"
