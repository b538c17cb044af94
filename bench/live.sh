#!/usr/bin/env bash
# Benchmark (not a test) for issue 4: the live ISO of a kickstart made by
# livecompose, against the same package set plus Debian's live-boot made by
# hand with mmdebstrap, mksquashfs (the same compressor, level and block size)
# and xorriso; both built from cold caches and booted to `login:` under
# software emulation (TCG), side by side in one run.
#
#   bench/live.sh [KICKSTART]        default: kickstarts/debian-minimal.ks
#
# LC=/path/to/livecompose uses that binary instead of building one. KEEP=1
# keeps the work directory (ISOs, console logs) for a look afterwards.
# The mirror and suites are livecompose's (--dry-run): $LIVECOMPOSE_MIRROR or
# the host's apt sources. Needs root, mmdebstrap, squashfs-tools, xorriso,
# isolinux, syslinux-common and qemu-system-x86.
#
# The peer ISO boots from BIOS only (ISOLINUX, no EFI System Partition);
# livecompose's also carries an ESP with systemd-boot and a second copy of
# the kernel and initrd. The table shows the ESP and the ISO without it.
# mmdebstrap hooks and dpkg-query formats are single-quoted on purpose: $1 and
# ${Package} are theirs to expand.
# shellcheck disable=SC2016
set -euo pipefail
cd "$(dirname "$0")/.."
ks=${1:-kickstarts/debian-minimal.ks}
label=LcBench
peer_label=LcPeer

[ "$(id -u)" = 0 ] || { echo "bench: needs root (both builds install packages into a root)" >&2; exit 1; }
for tool in mmdebstrap mksquashfs xorriso qemu-system-x86_64 bc; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing: apt-get install mmdebstrap squashfs-tools xorriso qemu-system-x86 bc" >&2; exit 1; }
done
isolinux_dir=/usr/lib/ISOLINUX
syslinux_dir=/usr/lib/syslinux/modules/bios
for file in "$isolinux_dir/isolinux.bin" "$isolinux_dir/isohdpfx.bin" "$syslinux_dir/ldlinux.c32" "$syslinux_dir/menu.c32" "$syslinux_dir/libutil.c32"; do
    [ -f "$file" ] || { echo "bench: $file is missing: apt-get install isolinux syslinux-common" >&2; exit 1; }
done

if [ -z "${LC:-}" ]; then
    cargo build --release --locked -q
    LC=target/release/livecompose
fi
work=$(mktemp -d /var/tmp/livecompose-bench-live.XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then
    trap 'echo "bench: kept $work" >&2' EXIT
else
    trap 'rm -rf --one-file-system "$work"' EXIT
fi

# Runs a command and writes "seconds peak-RSS-KiB CPU-seconds" to the file $1
# (RSS and CPU are "-" without /usr/bin/time); its output goes to $1.out.
measure() {
    local result=$1 start
    shift
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%e %M %U %S' -o "$result.time" "$@" >"$result.out" 2>&1 || { tail -40 "$result.out" >&2; return 1; }
        # The time file's last line: a failing command puts a note above it.
        tail -1 "$result.time" | awk '{ printf "%s %s %.1f\n", $1, $2, $3 + $4 }' >"$result"
    else
        start=$(date +%s.%N)
        "$@" >"$result.out" 2>&1 || { tail -40 "$result.out" >&2; return 1; }
        echo "$(echo "$(date +%s.%N) - $start" | bc) - -" >"$result"
    fi
}

# Boots an ISO from a BIOS CD under TCG; prints the seconds to `login:`, or
# "failed" (livecompose test has shown the last console lines).
boot() {
    local iso=$1 log=$2 out
    if out=$("$LC" test "$iso" --firmware bios --media cdrom --accel tcg --timeout 600 --expect 'login:' --log "$log" 2>&1); then
        echo "$out" >&2
        echo "$out" | sed -n 's/.* after \([0-9.]*\) s$/\1/p' | head -1
    else
        echo "$out" >&2
        echo failed
    fi
}

# Size in bytes of a file inside an ISO (Rock Ridge listing).
iso_file_size() {
    xorriso -indev "$1" -lsl "$2" 2>/dev/null | awk 'NR == 1 { print $5 }'
}

# Bytes of the EFI System Partition of a hybrid ISO, from its MBR (type 0xef,
# "Blocks" of 512 bytes) as xorriso reports it; 0 when there is none.
esp_bytes() {
    xorriso -indev "$1" -report_system_area plain 2>/dev/null |
        awk '$1 == "MBR" && $2 == "partition" && $3 == ":" && $6 == "0xef" { bytes += $8 * 512 } END { print bytes + 0 }'
}

plan=$("$LC" --config "$ks" --label "$label" --dry-run)
# Repository lines: "NAME URL suite SUITE [COMPONENTS] cost N".
sources=()
while read -r url suite components; do
    sources+=("deb $url $suite $components")
done < <(echo "$plan" | awk '$3 == "suite" { match($0, /\[[^]]*\]/); print $2, $4, substr($0, RSTART + 1, RLENGTH - 2) }')
first_suite=$(echo "$plan" | awk '$3 == "suite" { print $4; exit }')
[ ${#sources[@]} -gt 0 ] || { echo "bench: no Debian repository in $ks" >&2; exit 1; }

echo "== livecompose (cold cache): $ks"
measure "$work/lc.m" "$LC" --quiet --config "$ks" --label "$label" --output "$work/lc" --cache "$work/cache"
read -r lc_time lc_rss lc_cpu <"$work/lc.m"
lc_iso=$work/lc/$label.iso
manifest=$work/lc/$label.packages
echo "   $(wc -l <"$manifest") packages, $(stat -c %s "$lc_iso") bytes, ${lc_time}s"

# The peer boots with livecompose's kernel arguments, its own live-boot ones
# instead of livecompose.label=.
xorriso -osirrox on -indev "$lc_iso" -extract /isolinux/isolinux.cfg "$work/lc-isolinux.cfg" >/dev/null 2>&1
lc_append=$(awk '$1 == "LABEL" { entry = $2 } entry == "live" && $1 == "APPEND" { $1 = ""; print; exit }' "$work/lc-isolinux.cfg")
lc_timeout=$(awk '$1 == "TIMEOUT" { print $2; exit }' "$work/lc-isolinux.cfg")
peer_append="boot=live components$(echo "$lc_append" | awk '{ for (i = 1; i <= NF; i++) if ($i !~ /^livecompose\./) printf " %s", $i }')"

echo "== the peer: mmdebstrap (no cache), the same packages + live-boot"
live_boot=(live-boot live-boot-initramfs-tools initramfs-tools)
include=$(awk '{ print $1 }' "$manifest" | cat - <(printf '%s\n' "${live_boot[@]}") | sort -u | paste -sd,)
hostname=$(awk '$1 == "network" { for (i = 2; i <= NF; i++) if ($i ~ /^--hostname=/) { sub(/^--hostname=/, "", $i); print $i } }' "$ks" | tail -1)
mm_command=(mmdebstrap --variant=essential --include="$include"
    --aptopt='APT::Install-Recommends "false"'
    --customize-hook='chroot "$1" useradd --create-home --shell /bin/bash --groups sudo --comment "Live User" live'
    --customize-hook='echo live:live | chroot "$1" chpasswd'
    --customize-hook='chroot "$1" systemctl enable systemd-networkd'
    --customize-hook="echo ${hostname:-debian-live} > \"\$1/etc/hostname\""
    "$first_suite" "$work/mm" "${sources[@]}")
measure "$work/mm.m" "${mm_command[@]}"
read -r mm_time mm_rss mm_cpu <"$work/mm.m"

lc_names=$(awk '{ print $1 }' "$manifest" | sort)
mm_names=$(chroot "$work/mm" dpkg-query -W -f '${Package}\n' | sort)
only_peer=$(comm -13 <(echo "$lc_names") <(echo "$mm_names") | paste -sd' ')
only_lc=$(comm -23 <(echo "$lc_names") <(echo "$mm_names") | paste -sd' ')
echo "   $(echo "$mm_names" | wc -l) packages; only in the peer: ${only_peer:-none}; only in livecompose's: ${only_lc:-none}"

kernel=$(find "$work/mm/boot" -name 'vmlinuz-*' | sort -V | tail -1)
version=${kernel##*/vmlinuz-}
peer_initrd=$work/mm/boot/initrd.img-$version
[ -f "$peer_initrd" ] || { echo "bench: the peer root has no $peer_initrd" >&2; exit 1; }
# Listed to a file first: grep -q would end the pipe early and pipefail fail it.
chroot "$work/mm" lsinitramfs "/boot/initrd.img-$version" >"$work/peer-initrd.list"
grep -qx 'scripts/live' "$work/peer-initrd.list" ||
    { echo "bench: the peer's initrd has no live-boot (scripts/live)" >&2; exit 1; }

echo "== the peer: mksquashfs"
iso=$work/peer-iso
mkdir -p "$iso/live" "$iso/isolinux"
mk_command=(mksquashfs "$work/mm" "$iso/live/filesystem.squashfs" -comp xz -Xbcj x86 -b 128K -noappend -no-progress)
measure "$work/mk.m" "${mk_command[@]}"
read -r mk_time mk_rss mk_cpu <"$work/mk.m"

echo "== the peer: xorriso"
cp "$kernel" "$iso/live/vmlinuz"
cp "$peer_initrd" "$iso/live/initrd.img"
cp "$isolinux_dir/isolinux.bin" "$syslinux_dir/ldlinux.c32" "$syslinux_dir/menu.c32" "$syslinux_dir/libutil.c32" "$iso/isolinux/"
cat >"$iso/isolinux/isolinux.cfg" <<EOF
SERIAL 0 115200
UI menu.c32
PROMPT 0
TIMEOUT ${lc_timeout:-30}
DEFAULT live
MENU TITLE $peer_label

LABEL live
  MENU LABEL $peer_label
  LINUX /live/vmlinuz
  INITRD /live/initrd.img
  APPEND $peer_append
EOF
peer_iso=$work/$peer_label.iso
xo_command=(xorriso -as mkisofs -o "$peer_iso" -V "$peer_label" -r -J
    -isohybrid-mbr "$isolinux_dir/isohdpfx.bin"
    -c isolinux/boot.cat -b isolinux/isolinux.bin -no-emul-boot -boot-load-size 4 -boot-info-table
    "$iso")
measure "$work/xo.m" "${xo_command[@]}"
read -r xo_time xo_rss xo_cpu <"$work/xo.m"
peer_time=$(echo "$mm_time + $mk_time + $xo_time" | bc)
if [ "$mm_cpu" = - ]; then
    peer_cpu=-
    peer_rss=-
else
    peer_cpu=$(echo "$mm_cpu + $mk_cpu + $xo_cpu" | bc)
    peer_rss=$(printf '%s\n' "$mm_rss" "$mk_rss" "$xo_rss" | sort -n | tail -1)
fi

echo "== boot livecompose's ISO (BIOS, CD, TCG)"
lc_boot=$(boot "$lc_iso" "$work/lc.console.log")
echo "== boot the peer ISO (BIOS, CD, TCG)"
peer_boot=$(boot "$peer_iso" "$work/peer.console.log")

lc_size=$(stat -c %s "$lc_iso")
peer_size=$(stat -c %s "$peer_iso")
lc_sqfs=$(iso_file_size "$lc_iso" /live/filesystem.squashfs)
peer_sqfs=$(stat -c %s "$iso/live/filesystem.squashfs")
lc_initrd=$(iso_file_size "$lc_iso" /live/initrd.img)
peer_initrd_size=$(stat -c %s "$iso/live/initrd.img")
lc_kernel=$(iso_file_size "$lc_iso" /live/vmlinuz)
peer_kernel=$(stat -c %s "$iso/live/vmlinuz")
lc_esp=$(esp_bytes "$lc_iso")
peer_esp=$(esp_bytes "$peer_iso")

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-" }'; }
secs() { case $1 in failed | -) echo "$1" ;; *) printf '%.1f s' "$1" ;; esac; }
kib_mib() { case $1 in -) echo - ;; *) awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }' ;; esac; }
row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; }

echo
# The peer's commands as run, the package list and the mirror abbreviated.
show() {
    local arg
    for arg in "$@"; do
        case $arg in
            --include=*) arg="--include=<the $(wc -l <"$manifest") names of $label.packages + ${live_boot[*]}>" ;;
            deb\ *) arg="deb <mirror> ${arg#deb * }" ;;
        esac
        arg=${arg//"$work"/\$work}
        case $arg in
            *[[:space:]\"\$\<\>\|]*) printf "'%s' " "$arg" ;;
            *) printf '%s ' "$arg" ;;
        esac
    done
    echo
}
echo "Peer commands:"
show "${mm_command[@]}"
show "${mk_command[@]}"
show "${xo_command[@]}"
echo "isolinux.cfg APPEND $peer_append (TIMEOUT ${lc_timeout:-30} as livecompose's)"
echo "Machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo
row "" livecompose "peer (mmdebstrap + live-boot)" "livecompose/peer"
row --- --- --- ---
row "ISO" "$(mib "$lc_size")" "$(mib "$peer_size")" "$(ratio "$lc_size" "$peer_size")"
row "EFI System Partition (kernel + initrd again)" "$(mib "$lc_esp")" "$(mib "$peer_esp") (BIOS only)" ""
row "ISO without the ESP" "$(mib $((lc_size - lc_esp)))" "$(mib $((peer_size - peer_esp)))" "$(ratio $((lc_size - lc_esp)) $((peer_size - peer_esp)))"
row "squashfs" "$(mib "$lc_sqfs")" "$(mib "$peer_sqfs")" "$(ratio "$lc_sqfs" "$peer_sqfs")"
row "initrd" "$(mib "$lc_initrd")" "$(mib "$peer_initrd_size")" "$(ratio "$lc_initrd" "$peer_initrd_size")"
row "kernel" "$(mib "$lc_kernel")" "$(mib "$peer_kernel")" "$(ratio "$lc_kernel" "$peer_kernel")"
row "build, cold caches (wall)" "$(secs "$lc_time")" "$(secs "$peer_time") (mmdebstrap $(secs "$mm_time"), mksquashfs $(secs "$mk_time"), xorriso $(secs "$xo_time"))" "$(ratio "$lc_time" "$peer_time")"
row "build CPU (user + system)" "$(secs "$lc_cpu")" "$(secs "$peer_cpu")" "$(ratio "$lc_cpu" "$peer_cpu")"
row "build peak RSS" "$(kib_mib "$lc_rss")" "$(kib_mib "$peer_rss") (largest step)" "$(ratio "$lc_rss" "$peer_rss")"
row "boot to \`login:\` (BIOS, CD, TCG)" "$(secs "$lc_boot")" "$(secs "$peer_boot")" "$(ratio "$lc_boot" "$peer_boot")"
