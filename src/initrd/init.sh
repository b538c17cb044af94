#!/bin/sh
# livecompose's /init.
#   Live: find the boot medium by its ISO 9660 volume label, mount
#   /live/filesystem.squashfs from it read-only under a tmpfs overlay and
#   switch root into the image's init.
#   Netboot (livecompose.fetch=URL): bring the network up, download the
#   squashfs into RAM, check it, and boot it as the live mode does.
#   Disk (no livecompose.label, a root=): mount the root file system root=
#   names and switch root into it, for images without an initramfs of their
#   own.
#
# Kernel command line:
#   livecompose.label=LABEL   live: the medium's volume label
#   toram                     live: copy the squashfs to RAM; the medium is freed
#   livecompose.fetch=URL     netboot: download the squashfs from URL (http://,
#                             an IPv4 address: busybox wget resolves no names)
#   fetch=URL                 the same, as live-boot spells it
#   livecompose.sha256=HEX    netboot: the SHA-256 the download must have
#   livecompose.size=BYTES    netboot: the size the download must have
#   ip=dhcp|CLIENT:SERVER:GATEWAY:NETMASK:HOSTNAME:DEVICE:AUTOCONF
#                             netboot: as the kernel documents it (nfsroot.txt);
#                             without it, DHCP on the first interface with a link
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
fetch=
sha256=
size=
ip=
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
	livecompose.fetch=* | fetch=*) fetch=${arg#*=} ;;
	livecompose.sha256=*) sha256=${arg#*=} ;;
	livecompose.size=*) size=${arg#*=} ;;
	ip=*) ip=${arg#ip=} ;;
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

if [ -n "$fetch" ]; then
	mode=net
elif [ -n "$label" ]; then
	mode=live
elif [ -n "$root" ]; then
	mode=disk
else
	rescue "neither livecompose.fetch=URL (a netboot), livecompose.label=LABEL (a live medium) nor root= (a disk) is on the kernel command line ($(cat /proc/cmdline))"
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
	mkdir -p /run/live/medium
	mount -t iso9660 -o ro "$medium" /run/live/medium || rescue "cannot mount $medium"
	squashfs=/run/live/medium/live/filesystem.squashfs
	[ -f "$squashfs" ] || rescue "$medium has no /live/filesystem.squashfs"

	if [ -n "$toram" ]; then
		say "toram: copying the squashfs to RAM"
		ram_dir
		cp "$squashfs" /run/live/toram/ || rescue "cannot copy the squashfs to RAM (too little memory?)"
		squashfs=/run/live/toram/filesystem.squashfs
		umount /run/live/medium || say "warning: the medium stays mounted"
	fi
	mount_overlay "$squashfs"
}

# The tmpfs that holds a squashfs in RAM (toram, netboot).
ram_dir() {
	mkdir -p /run/live/toram
	mount -t tmpfs -o mode=0755 tmpfs /run/live/toram || rescue "cannot mount a tmpfs for the squashfs in RAM"
}

# Mounts the squashfs `$1` read-only under a tmpfs overlay on /newroot.
mount_overlay() {
	mkdir -p /run/live/rootfs /run/live/overlay
	mount -t squashfs -o ro,loop "$1" /run/live/rootfs || rescue "cannot mount $1"
	mount -t tmpfs -o mode=0755 tmpfs /run/live/overlay || rescue "cannot mount the overlay's tmpfs"
	mkdir -p /run/live/overlay/upper /run/live/overlay/work
	mount -t overlay -o lowerdir=/run/live/rootfs,upperdir=/run/live/overlay/upper,workdir=/run/live/overlay/work \
		overlay /newroot || rescue "cannot mount the overlay"
}

# Prints the first network interface (but lo) whose link is up, after
# switching them all on; waits up to $timeout seconds for one.
find_link() {
	for dev in /sys/class/net/*; do
		[ "${dev##*/}" = lo ] || ip link set "${dev##*/}" up 2>/dev/null
	done
	waited=0
	while :; do
		for dev in /sys/class/net/*; do
			name=${dev##*/}
			[ "$name" = lo ] && continue
			if [ "$(cat "$dev/carrier" 2>/dev/null)" = 1 ]; then
				echo "$name"
				return 0
			fi
		done
		[ "$waited" -ge "$timeout" ] && return 1
		sleep 1
		waited=$((waited + 1))
	done
}

# Configures the network as ip= says (DHCP without it) and leaves the
# interface's name in $netdev.
network_up() {
	ip link set lo up
	# ip=CLIENT:SERVER:GATEWAY:NETMASK:HOSTNAME:DEVICE:AUTOCONF:...; a
	# single word (dhcp, on, any, both) is AUTOCONF alone.
	case "$ip" in
	*:*) ;;
	'' | dhcp | on | any | both | bootp) ip="::::::dhcp" ;;
	off | none) rescue "ip=$ip turns the network off, but livecompose.fetch= needs it" ;;
	*) rescue "ip=$ip: expected dhcp or CLIENT:SERVER:GATEWAY:NETMASK:HOSTNAME:DEVICE:AUTOCONF" ;;
	esac
	old_ifs=$IFS
	IFS=:
	set -f
	# shellcheck disable=SC2086
	set -- $ip
	set +f
	IFS=$old_ifs
	client=$1 gateway=$3 netmask=$4 netdev=$6 autoconf=$7
	if [ -z "$netdev" ]; then
		say "waiting for a network link (up to ${timeout}s)"
		netdev=$(find_link) ||
			rescue "no network interface has a link after ${timeout}s; interfaces: $(ls /sys/class/net | tr '\n' ' ')(is the cable in, and the card's driver in this initrd?)"
	else
		[ -e "/sys/class/net/$netdev" ] ||
			rescue "ip= names the interface $netdev, which does not exist; interfaces: $(ls /sys/class/net | tr '\n' ' ')"
		ip link set "$netdev" up
	fi
	if [ -n "$client" ]; then
		say "$netdev: $client${netmask:+ netmask $netmask}${gateway:+ gateway $gateway} (ip=)"
		ifconfig "$netdev" "$client" ${netmask:+netmask "$netmask"} up ||
			rescue "cannot give $netdev the address $client"
		if [ -n "$gateway" ]; then
			route add default gw "$gateway" dev "$netdev" ||
				rescue "cannot route through the gateway $gateway"
		fi
		return
	fi
	case "$autoconf" in
	'' | dhcp | on | any | both | bootp) ;;
	*) rescue "ip=$ip: no client address, and autoconfiguration $autoconf is not DHCP" ;;
	esac
	say "$netdev: asking for a DHCP lease"
	udhcpc -i "$netdev" -s /etc/livecompose/udhcpc.script -n -q -f -t 10 -T 3 ||
		rescue "no DHCP lease on $netdev after 10 requests (is a DHCP server on this network?)"
}

# Downloads $fetch into RAM, with a few tries and a progress line, and
# checks its size and SHA-256; leaves its path in $squashfs.
fetch_squashfs() {
	network_up
	ram_dir
	squashfs=/run/live/toram/filesystem.squashfs
	attempt=1
	tries=3
	while :; do
		rm -f "$squashfs"
		say "fetching $fetch${size:+ ($size bytes)} (try $attempt of $tries)"
		# No -T: busybox 1.35's static wget crashes with it on a refused
		# connection; its own read timeout is 15 minutes.
		wget -q -O "$squashfs" "$fetch" 2>/run/livecompose-wget.log &
		wget=$!
		seconds=0
		while kill -0 "$wget" 2>/dev/null; do
			sleep 1
			seconds=$((seconds + 1))
			if [ $((seconds % 5)) = 0 ]; then
				have=$(stat -c %s "$squashfs" 2>/dev/null || echo 0)
				say "fetched $((have / 1048576)) MiB${size:+ of $((size / 1048576)) MiB} in ${seconds}s"
			fi
		done
		wait "$wget" && break
		error=$(cat /run/livecompose-wget.log)
		# A refusal by the server (404, 403...) will not change by asking again.
		case "$error" in
		*"server returned error: HTTP/"*" 4"*) rescue "cannot fetch $fetch: $error" ;;
		esac
		[ "$attempt" -ge "$tries" ] && rescue "cannot fetch $fetch after $tries tries: $error"
		say "the download failed ($error); trying again in 3s"
		sleep 3
		attempt=$((attempt + 1))
	done
	rm -f /run/livecompose-wget.log
	got=$(stat -c %s "$squashfs")
	say "fetched $fetch: $got bytes"
	if [ -n "$size" ] && [ "$got" != "$size" ]; then
		rescue "size mismatch for $fetch: expected $size bytes, got $got"
	fi
	if [ -n "$sha256" ]; then
		want=$(echo "$sha256" | tr 'A-F' 'a-f')
		got=$(sha256sum "$squashfs" | cut -d' ' -f1)
		[ "$got" = "$want" ] || rescue "sha256 mismatch for $fetch: expected $want, got $got"
		say "sha256 $got: as expected"
	else
		say "warning: no livecompose.sha256= on the command line; the download is not checked"
	fi
}

mount_net() {
	case "$size" in
	*[!0-9]*) rescue "livecompose.size=$size is not a number of bytes" ;;
	esac
	fetch_squashfs
	mount_overlay "$squashfs"
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
net) mount_net ;;
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
