# Shared by the test-VM kit's scripts (sourced, not run): paths, errors, small helpers.
#
# Environment knobs, all optional:
#   DPT_VMKIT_CACHE    cache directory (default: <repo>/build/vmkit): kernel, static helpers
#   DPT_VMKIT_KERNEL   use this vmlinuz instead of Debian's (no download)
#   DPT_VMKIT_BUSYBOX  use this static busybox instead of /bin/busybox
#   DPT_VMKIT_QEMU     QEMU binary (default: qemu-system-x86_64)

VMKIT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VMKIT_REPO=$(cd "$VMKIT_DIR/../.." && pwd)
VMKIT_CACHE=${DPT_VMKIT_CACHE:-$VMKIT_REPO/build/vmkit}
VMKIT_QEMU=${DPT_VMKIT_QEMU:-qemu-system-x86_64}
VMKIT_PROG=$(basename "$0")

# die MESSAGE: one line on stderr, exit 1 (callers that need another code print and exit themselves).
die() {
	echo "$VMKIT_PROG: $*" >&2
	exit 1
}

note() {
	echo "$VMKIT_PROG: $*" >&2
}

# vmkit_is_dynamic_elf FILE: true when FILE is an ELF executable that needs a dynamic loader,
# which the guest (busybox only, no libc) does not have.
vmkit_is_dynamic_elf() {
	[ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ] || return 1
	LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'
}

# vmkit_need_qemu: fail with one line when QEMU is missing.
vmkit_need_qemu() {
	command -v "$VMKIT_QEMU" >/dev/null 2>&1 ||
		die "$VMKIT_QEMU not found (install qemu-system-x86, see scripts/deps.sh)"
}

# vmkit_size_mib SIZE: QEMU-style size (512M, 1G, 256) to MiB, for checks only.
vmkit_size_mib() {
	case $1 in
	*[Gg]) echo $((${1%?} * 1024)) ;;
	*[Mm]) echo "${1%?}" ;;
	*[0-9]) echo "$1" ;;
	*) return 1 ;;
	esac
}

# vmkit_now: monotonic-ish wall clock in milliseconds.
vmkit_now() {
	echo $(($(date +%s%N) / 1000000))
}

# vmkit_ms_to_s MS: "1.234".
vmkit_ms_to_s() {
	printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

# vmkit_quote ARG...: one line of POSIX shell that re-creates the arguments exactly, each in
# single quotes (busybox ash reads it as bash would).
vmkit_quote() {
	local a out=""
	for a in "$@"; do
		out="$out '${a//\'/\'\\\'\'}'"
	done
	printf '%s\n' "${out# }"
}

# vmkit_prepare DIR: build what one boot needs in DIR and set the array vm_args to QEMU's
# arguments (without the console and monitor options, which run.sh and start.sh choose).
# Reads: vm_mem, vm_smp, vm_files (array), vm_cmd (array, may be empty: the guest idles),
# vm_append (extra kernel command line), vm_helpers (1: add the vmkit-static helpers),
# vm_modules (NAME[,NAME...]: kernel modules /init loads before DPT-READY, with their
# dependencies, from the kernel's own package: kernel.sh --modules).
# The command travels as a shell script: base64 in dpt.cmd= on the kernel command line when
# short, else packed into the initramfs (the command line is limited to 2 KiB).
vmkit_prepare() {
	local dir=$1 kernel b64 initrd_opts=() append
	vmkit_need_qemu
	vmkit_size_mib "$vm_mem" >/dev/null || die "bad memory size: $vm_mem (e.g. 256M, 1G)"
	case $vm_smp in '' | *[!0-9]*) die "bad --smp: $vm_smp" ;; esac
	kernel=$("$VMKIT_DIR/kernel.sh" --pvh) || exit 1
	if [ "${vm_helpers:-0}" = 1 ]; then
		local hdir h
		hdir=$("$VMKIT_DIR/helpers.sh") || exit 1
		for h in "$hdir"/*; do [ -x "$h" ] && [ -f "$h" ] && vm_files+=("$h"); done
	fi
	if [ -n "${vm_modules:-}" ]; then
		local mods m
		mods=$("$VMKIT_DIR/kernel.sh" --modules "$vm_modules") || exit 1
		while IFS= read -r m; do
			[ -z "$m" ] || initrd_opts+=(--module "$m")
		done <<<"$mods"
	fi
	append="console=ttyS0 panic=-1 quiet"
	if [ ${#vm_cmd[@]} -gt 0 ]; then
		vmkit_quote "${vm_cmd[@]}" >"$dir/cmd.sh"
		b64=$(base64 -w0 <"$dir/cmd.sh")
		if [ ${#b64} -le 1024 ]; then
			append="$append dpt.cmd=$b64"
		else
			initrd_opts=(--cmd-script "$dir/cmd.sh")
		fi
	fi
	[ -z "${vm_append:-}" ] || append="$append $vm_append"
	"$VMKIT_DIR/initramfs.sh" "${initrd_opts[@]}" "$dir/initrd.cpio.gz" ${vm_files[@]+"${vm_files[@]}"} || exit 1
	vm_args=(-accel tcg -m "$vm_mem" -smp "$vm_smp" -no-reboot -nodefaults -name dpt-vmkit
		-kernel "$kernel" -initrd "$dir/initrd.cpio.gz" -append "$append")
}

# vmkit_alive PID: true while PID is a running (not zombie) QEMU.
vmkit_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	# It may end between two reads: no complaint then, only "not alive".
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] || return 1
	tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF "$(basename "$VMKIT_QEMU")"
}

# vmkit_kill PID: TERM, then KILL after 3 s; returns when PID is gone or a zombie.
vmkit_kill() {
	local i
	vmkit_alive "$1" || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	for i in $(seq 30); do
		vmkit_alive "$1" || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	for i in $(seq 30); do
		vmkit_alive "$1" || return 0
		sleep 0.1
	done
}
