#!/usr/bin/env bash
# Benchmark (not a test): a qcow2 cloud disk of a kickstart, built by
# livecompose and by the closest peer runnable here, side by side in one
# run, cold package caches: mmdebstrap (the same package set) + sfdisk +
# mkfs.fat and mke2fs -d at the partitions' offsets + qemu-img convert.
# The peer installs no boot loader (grub-install needs partitioned loop
# devices, which need udev): its figures are a lower bound. Prints wall
# time, CPU time (user + system) and image size, and the ratios.
#
#   bench/disk.sh [KICKSTART]      default: kickstarts/debian-cloud.ks
#
# The mirror is what livecompose uses: --mirror / $LIVECOMPOSE_MIRROR / the
# host's apt sources. Needs root, mmdebstrap, e2fsprogs, dosfstools, qemu-utils,
# fdisk (sfdisk) and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
ks=${1:-kickstarts/debian-cloud.ks}

cargo build --release --locked -q
lc=target/release/livecompose
work=$(mktemp -d /var/tmp/livecompose-bench.XXXXXX)
cleanup() {
    rm -rf "$work"
}
trap cleanup EXIT

plan=$("$lc" --config "$ks" --label Bench --format qcow2 --dry-run)
mirror=${LIVECOMPOSE_MIRROR:-$(awk '$1 == "base" { print $2 }' <<<"$plan")}
suites=$(awk '$3 == "suite" { print $4 }' <<<"$plan" | paste -sd' ')

# Wall and CPU seconds of a command, children included (bash's time).
timed() {
    local out=$1
    shift
    local TIMEFORMAT='%R %U %S'
    { time "$@" 2>&3; } 3>&2 2>"$out"
}
cpu() { awk '{ printf "%.1f", $2 + $3 }' "$1"; }
wall() { awk '{ printf "%.1f", $1 }' "$1"; }

echo "== livecompose --format qcow2 (cold cache)"
timed "$work/lc.time" "$lc" --quiet --config "$ks" --label Bench --format qcow2 \
    --output "$work/lc" --cache "$work/lc-cache"

echo "== peer: the same packages with mmdebstrap, then sfdisk, mkfs.fat, mke2fs -d, qemu-img"
"$lc" resolve --quiet --config "$ks" --cache "$work/lc-cache" >"$work/set.txt"
include=$(head -n -1 "$work/set.txt" | awk '{ print $1 }' | paste -sd,)
# The boot loader packages a livecompose disk image carries as well.
include="$include,grub-pc-bin,grub-efi-amd64-bin"
sources=()
for suite in $suites; do sources+=("deb $mirror $suite main"); done
# The peer's steps as one script, so /usr/bin/time counts all of them.
cat >"$work/peer.sh" <<PEER
set -euo pipefail
mmdebstrap --quiet --variant=essential --include="$include" \\
    --aptopt='APT::Install-Recommends "false"' bookworm "$work/mm" ${sources[*]@Q}
size_mb=\$(( \$(du -sm "$work/mm" | cut -f1) * 12 / 10 + 512 ))
truncate -s "\$((size_mb + 128))M" "$work/peer.raw"
printf 'label: gpt\\nstart=2048, size=6144, type=21686148-6449-6E6F-744E-656564454649\\nstart=8192, size=253952, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\\nstart=262144, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709\\n' |
    sfdisk -q "$work/peer.raw"
# The file systems straight into the image at their offsets (loop
# partitions need udev, which containers and CI machines lack).
mkfs.fat -F 16 --offset 8192 -n EFI "$work/peer.raw" 126976 >/dev/null
mke2fs -q -t ext4 -O ^metadata_csum_seed,^orphan_file -d "$work/mm" \\
    -E offset=\$((262144 * 512)) "$work/peer.raw" "\$(( (size_mb - 128) * 1024 ))"
qemu-img convert -O qcow2 "$work/peer.raw" "$work/peer.qcow2"
PEER
timed "$work/peer.time" bash "$work/peer.sh"

lc_size=$(stat -c %s "$work/lc/Bench.qcow2")
peer_size=$(stat -c %s "$work/peer.qcow2")
printf '\n%-30s %12s %12s %8s\n' "" livecompose peer ratio
printf '%-30s %11ss %11ss %8.2f\n' "wall, cold cache" "$(wall "$work/lc.time")" "$(wall "$work/peer.time")" \
    "$(echo "$(wall "$work/lc.time") / $(wall "$work/peer.time")" | bc -l)"
printf '%-30s %11ss %11ss %8.2f\n' "CPU (user + system)" "$(cpu "$work/lc.time")" "$(cpu "$work/peer.time")" \
    "$(echo "$(cpu "$work/lc.time") / $(cpu "$work/peer.time")" | bc -l)"
printf '%-30s %12s %12s %8.2f\n' "qcow2 size (bytes)" "$lc_size" "$peer_size" \
    "$(echo "$lc_size / $peer_size" | bc -l)"
echo "(the peer writes no boot loader, fstab or kernel command line: it measures the build steps, a lower bound)"
