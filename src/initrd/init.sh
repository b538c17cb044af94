#!/bin/sh
# livecompose's /init.
#   Live: find the boot medium by its ISO 9660 volume label, mount
#   /live/filesystem.squashfs from it read-only under a tmpfs overlay and
#   switch root into the image's init.
#   Disk (no livecompose.label, a root=): mount the root file system root=
#   names and switch root into it, for images without an initramfs of their
#   own.
#
# Kernel command line:
#   livecompose.label=LABEL   live: the medium's volume label
#   toram                     live: copy the squashfs to RAM; the medium is freed
#   root=UUID=U|LABEL=L|/dev/NAME   disk: the root file system
#   rootfstype=TYPE rootflags=OPTIONS ro rw   disk: how to mount it (ro if unsaid)
#   livecompose.timeout=SECS  how long to wait for the device (default 60)
#   init=PATH                 the image's init (default /sbin/init)
# Everything else reaches the kernel and the image's init untouched.
#
# Any failure says why on the console and starts a shell there, because a
# PID 1 that exits is a kernel panic that explains nothing.

export PATH=/bin
/bin/busybox --install -s /bin

say() {
	echo "livecompose: $*"
}

rescue() {
	say "$*"
	say "the system cannot start; here is a shell (busybox)"
	while :; do
		setsid cttyhack sh || sh
	done
}

mkdir -p /proc /sys /dev /run /newroot
mount -t proc proc /proc || rescue "cannot mount /proc"
mount -t sysfs sysfs /sys || rescue "cannot mount /sys"
mount -t devtmpfs devtmpfs /dev || rescue "cannot mount /dev"
# Everything of the live boot stays under /run, which moves into the image:
# the medium remains visible there as /run/live/medium.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run || rescue "cannot mount /run"

# Kernel arguments are words, not patterns: no globbing while they are
# split (and again where they are passed on).
set -f
label=
toram=
root=
rootfstype=
rootflags=
rootmode=ro
timeout=60
init=/sbin/init
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	livecompose.label=*) label=${arg#*=} ;;
	toram) toram=1 ;;
	root=*) root=${arg#root=} ;;
	rootfstype=*) rootfstype=${arg#*=} ;;
	rootflags=*) rootflags=${arg#*=} ;;
	ro | rw) rootmode=$arg ;;
	livecompose.timeout=*) timeout=${arg#*=} ;;
	init=*) init=${arg#*=} ;;
	esac
done
case "$timeout" in
'' | *[!0-9]*) timeout=60 ;;
esac
# The kernel gives init the words it does not know itself ("single",
# "toram"...); the image's init gets them too, except ours.
pass=
for arg in "$@"; do
	[ "$arg" = toram ] || pass="$pass $arg"
done
set +f

if [ -n "$label" ]; then
	mode=live
elif [ -n "$root" ]; then
	mode=disk
else
	rescue "neither livecompose.label=LABEL (a live medium) nor root= (a disk) is on the kernel command line ($(cat /proc/cmdline))"
fi

while read -r module; do
	out=$(insmod "$module" 2>&1) || say "warning: cannot load $module: $out"
done </etc/livecompose/modules

# Prints the block device whose ISO 9660 primary volume descriptor (sector
# 16) has the label; the volume id is 32 bytes at offset 40, space-padded.
find_medium() {
	for dev in /sys/class/block/*; do
		name=${dev##*/}
		case "$name" in
		loop* | ram*) continue ;;
		esac
		[ -b "/dev/$name" ] || continue
		[ "$(dd if="/dev/$name" bs=1 skip=32769 count=5 2>/dev/null)" = CD001 ] || continue
		id=$(dd if="/dev/$name" bs=1 skip=32808 count=32 2>/dev/null | tr -d '\000' | sed 's/ *$//')
		if [ "$id" = "$label" ]; then
			echo "/dev/$name"
			return 0
		fi
	done
	return 1
}

# Prints the block device root= names, once it exists.
find_root() {
	case "$root" in
	UUID=* | LABEL=*) findfs "$root" 2>/dev/null ;;
	/dev/*) [ -b "$root" ] && echo "$root" ;;
	*) return 1 ;;
	esac
}

# Waits for `$1` (find_medium or find_root) to print a device: a block
# device that `$2` ("has the ISO 9660 label 'X'").
wait_for() {
	say "looking for the block device that $2 (up to ${timeout}s)"
	waited=0
	until found=$($1); do
		if [ "$waited" -ge "$timeout" ]; then
			rescue "no block device $2 after ${timeout}s; block devices: $(ls /sys/class/block | tr '\n' ' ')"
		fi
		sleep 1
		waited=$((waited + 1))
	done
	say "found $found"
	echo "$found" >/run/livecompose-device
}

mount_live() {
	wait_for find_medium "has the ISO 9660 label '$label'"
	medium=$(cat /run/livecompose-device)
	mkdir -p /run/live/medium /run/live/rootfs /run/live/overlay
	mount -t iso9660 -o ro "$medium" /run/live/medium || rescue "cannot mount $medium"
	squashfs=/run/live/medium/live/filesystem.squashfs
	[ -f "$squashfs" ] || rescue "$medium has no /live/filesystem.squashfs"

	if [ -n "$toram" ]; then
		say "toram: copying the squashfs to RAM"
		mkdir -p /run/live/toram
		mount -t tmpfs -o mode=0755 tmpfs /run/live/toram || rescue "cannot mount a tmpfs for toram"
		cp "$squashfs" /run/live/toram/ || rescue "cannot copy the squashfs to RAM (too little memory?)"
		squashfs=/run/live/toram/filesystem.squashfs
		umount /run/live/medium || say "warning: the medium stays mounted"
	fi

	mount -t squashfs -o ro,loop "$squashfs" /run/live/rootfs || rescue "cannot mount $squashfs"
	mount -t tmpfs -o mode=0755 tmpfs /run/live/overlay || rescue "cannot mount the overlay's tmpfs"
	mkdir -p /run/live/overlay/upper /run/live/overlay/work
	mount -t overlay -o lowerdir=/run/live/rootfs,upperdir=/run/live/overlay/upper,workdir=/run/live/overlay/work \
		overlay /newroot || rescue "cannot mount the overlay"
}

mount_disk_root() {
	case "$root" in
	UUID=* | LABEL=* | /dev/*) ;;
	*) rescue "root=$root: this initrd finds a root by UUID=, LABEL= or /dev/NAME" ;;
	esac
	wait_for find_root "holds the root file system $root"
	device=$(cat /run/livecompose-device)
	rm -f /run/livecompose-device
	# Word splitting of the type option is wanted: nothing or "-t TYPE".
	# shellcheck disable=SC2086
	mount ${rootfstype:+-t "$rootfstype"} -o "$rootmode${rootflags:+,$rootflags}" "$device" /newroot ||
		rescue "cannot mount $device ($root) on /newroot"
}

case "$mode" in
live) mount_live ;;
disk) mount_disk_root ;;
esac
rm -f /run/livecompose-device

# Test the link itself: an absolute link target means nothing from here.
[ -L "/newroot$init" ] || [ -x "/newroot$init" ] || rescue "the image has no $init"

for fs in run dev sys proc; do
	mount -o move "/$fs" "/newroot/$fs" || rescue "cannot move /$fs into the image"
done
# Word splitting of $pass is wanted: one kernel word each.
set -f
# shellcheck disable=SC2086
exec switch_root -c /dev/console /newroot "$init" $pass
