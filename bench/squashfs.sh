#!/usr/bin/env bash
# Benchmark (not a test): `livecompose squashfs` against mksquashfs on a real Debian
# root, same codec, level, block size and thread count, one after the other in one run.
#
#   bench/squashfs.sh [ROOT]
#
# ROOT defaults to /tmp/livecompose-bench-root, made with mmdebstrap (minbase
# bookworm, mirror from the host's apt sources) when missing. THREADS overrides the
# thread count (default: every core). Prints a Markdown table for README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

root=${1:-/tmp/livecompose-bench-root}
threads=${THREADS:-$(nproc)}
block=131072

for tool in mksquashfs /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing: apt-get install squashfs-tools time" >&2; exit 1; }
done
if [ ! -d "$root" ]; then
    command -v mmdebstrap >/dev/null || { echo "bench: apt-get install mmdebstrap" >&2; exit 1; }
    mmdebstrap --variant=minbase bookworm "$root" >&2
fi
cargo build --release --locked >&2
livecompose=$PWD/target/release/livecompose
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Both tools read the tree from the page cache.
tar -C "$root" -cf - . >/dev/null

# Runs a command under /usr/bin/time; prints "seconds peak-rss-KiB cpu-seconds image-bytes".
# CPU seconds (user + system) are reported too: on a shared machine wall time is noisy.
measure() {
    local image=$1
    shift
    rm -f "$image"
    /usr/bin/time -f '%e %M %U %S' -o "$out/time" "$@" >/dev/null 2>"$out/stderr" || { cat "$out/stderr" >&2; exit 1; }
    read -r seconds rss user system <"$out/time"
    echo "$seconds $rss $(awk -v u="$user" -v s="$system" 'BEGIN { print u + s }') $(stat -c %s "$image")"
}

echo "Tree: $(du -sh --apparent-size "$root" | cut -f1) in $(find "$root" | wc -l) entries; $threads threads, $block-byte blocks."
echo
echo "| codec | mksquashfs time (CPU) | livecompose time (CPU) | time ratio (CPU) | mksquashfs size | livecompose size | size ratio | mksquashfs RSS | livecompose RSS | RSS ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
row() {
    local name=$1 mk_args=$2 lc_args=$3
    # shellcheck disable=SC2086
    read -r mk_s mk_kb mk_cpu mk_size < <(measure "$out/mk.sqfs" mksquashfs "$root" "$out/mk.sqfs" -noappend -no-progress -b $block -processors "$threads" $mk_args)
    # shellcheck disable=SC2086
    read -r lc_s lc_kb lc_cpu lc_size < <(measure "$out/lc.sqfs" "$livecompose" squashfs "$root" "$out/lc.sqfs" --block-size $block --threads "$threads" $lc_args)
    awk -v n="$name" -v ms="$mk_s" -v ls="$lc_s" -v mc="$mk_cpu" -v lc="$lc_cpu" -v mz="$mk_size" -v lz="$lc_size" -v mk="$mk_kb" -v lk="$lc_kb" 'BEGIN {
        printf "| %s | %.1f s (%.1f) | %.1f s (%.1f) | %.2f (%.2f) | %d | %d | %.4f | %.0f MB | %.0f MB | %.2f |\n", n, ms, mc, ls, lc, ls / ms, lc / mc, mz, lz, lz / mz, mk / 1024, lk / 1024, lk / mk
    }'
}
row "xz (level 6)" "-comp xz" "--compression xz --xz-bcj none"
row "xz + x86 BCJ" "-comp xz -Xbcj x86" "--compression xz --xz-bcj x86"
row "zstd 15" "-comp zstd -Xcompression-level 15" "--compression zstd --level 15"
