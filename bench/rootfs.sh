#!/usr/bin/env bash
# Benchmark (not a test): the configured Debian root of a kickstart, built by
# livecompose and by mmdebstrap from the same package set, cold caches, side by
# side in one run; then parse + resolve of the full index with a warm cache.
#
#   bench/rootfs.sh [KICKSTART]      default: kickstarts/debian-minimal.ks
#
# The mirror is what livecompose uses: --mirror / $LIVECOMPOSE_MIRROR / the
# host's apt sources. Needs root and mmdebstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
ks=${1:-kickstarts/debian-minimal.ks}

cargo build --release --locked -q
lc=target/release/livecompose
work=$(mktemp -d /var/tmp/livecompose-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

mirror=${LIVECOMPOSE_MIRROR:-$("$lc" --config "$ks" --label Bench --dry-run | awk '$1 == "base" { print $2 }')}
suites=$("$lc" --config "$ks" --label Bench --dry-run | awk '$3 == "suite" { print $4 }' | paste -sd' ')

now() { date +%s.%N; }
# Each build starts with nothing left to write back and an empty page
# cache, so that neither pays for what the run before it left behind (on
# these machines that moved a build's time by half).
settle() { sync; echo 3 > /proc/sys/vm/drop_caches; }

echo "== package set (livecompose resolve, cold cache)"
start=$(now)
"$lc" resolve --quiet --config "$ks" --cache "$work/resolve-cache" > "$work/set.txt"
cold_resolve=$(echo "$(now) - $start" | bc)
# Every line but the closing total is one package.
packages=$(head -n -1 "$work/set.txt" | wc -l)
tail -1 "$work/set.txt"

echo "== parse + resolve with a warm cache (indexes verified again, nothing downloaded)"
start=$(now)
"$lc" resolve --quiet --config "$ks" --cache "$work/resolve-cache" > /dev/null
warm_resolve=$(echo "$(now) - $start" | bc)

echo "== livecompose --format dir (cold cache)"
settle
start=$(now)
"$lc" --quiet --config "$ks" --label Bench --format dir --output "$work/lc" --cache "$work/lc-cache"
lc_time=$(echo "$(now) - $start" | bc)

echo "== mmdebstrap, the same packages (cold: no cache)"
include=$(head -n -1 "$work/set.txt" | awk '{ print $1 }' | paste -sd,)
sources=()
for suite in $suites; do sources+=("deb $mirror $suite main"); done
settle
start=$(now)
mmdebstrap --quiet --variant=essential --include="$include" \
    --aptopt='APT::Install-Recommends "false"' bookworm "$work/mm" "${sources[@]}"
mm_time=$(echo "$(now) - $start" | bc)

lc_count=$(chroot "$work/lc/Bench" dpkg-query -W | wc -l)
mm_count=$(chroot "$work/mm" dpkg-query -W | wc -l)
printf '\n%-34s %10s %10s\n' "" livecompose mmdebstrap
printf '%-34s %10s %10s\n' "installed packages" "$lc_count" "$mm_count"
printf '%-34s %9.1fs %9.1fs\n' "root filesystem, cold cache" "$lc_time" "$mm_time"
printf '%-34s %10.2f\n' "time ratio (livecompose/mmdebstrap)" "$(echo "$lc_time / $mm_time" | bc -l)"
printf '%-34s %9.2fs\n' "resolve, cold (download indexes)" "$cold_resolve"
printf '%-34s %9.2fs  (%s packages)\n' "parse + resolve, warm" "$warm_resolve" "$packages"
