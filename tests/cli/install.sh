#!/bin/bash
# Installing dpt like a Debian tool:
#  - the man pages (man/dpt.1, man/dpt-COMMAND.1): a page for every command `dpt help` lists,
#    each option tag (.TP) of a page is an option the command's --help lists (option lines and
#    usage lines) and the other way round, every option the command's source accepts is in
#    its --help, dpt.1 names every command's page, and each page renders without a warning
#    (mandoc -Tlint, groff -ww, man -l);
#  - the bash completion (completion/dpt.bash): the commands, every option of every command,
#    .dpt traces (and a list of them), directories, pids, files after -o FMT:, a program after
#    dpt track --;
#  - make install / make uninstall under DESTDIR, with PREFIX and without (/usr/local); the
#    installed binary works away from the build tree;
#  - make deb: its control (name, version of dpt --version, Depends from the libraries the
#    binary links, as ldd and dpkg -S find them), its contents, lintian; then installed for real
#    with dpkg -i (root), run, man -w, and removed with dpkg -r leaving none of its files. The
#    package is removed on any exit, a failed check or a signal included.
set -u
. "$(dirname "$0")/lib.sh"

installed=0
cleanup() {
	[ "$installed" = 1 ] && dpkg_retry dpkg -r dpt >/dev/null 2>&1
	rm -rf "$TMP"
	kill $(jobs -p) 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# make for this test alone: the make that may run it (make check, make sanitize) would pass
# its own variables down through MAKEFLAGS
mk() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -C "$ROOT" BUILD="$BUILD" "$@"; }

# dpkg_retry CMD...: run a dpkg command, waiting (up to 5 min) while another holds dpkg's lock
dpkg_retry() {
	for _ in $(seq 300); do
		"$@" >"$TMP/dpkg.out" 2>&1 && return 0
		grep -qi 'lock' "$TMP/dpkg.out" || return 1
		sleep 1
	done
	return 1
}

# the commands `dpt help` lists
commands() { "$DPT" help | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p'; }

# help_opts [COMMAND]: the options (-x and --long, one a line) `dpt COMMAND --help` lists in
# its usage lines (up to the first blank line) and its option lines ("  -i, --interval DUR  ...",
# indented at most 6), or `dpt help`'s without COMMAND
help_opts() {
	{ if [ -n "${1-}" ]; then "$DPT" "$1" --help; else "$DPT" help; fi; } | awk '
	function opt(x) {
		sub(/[=[].*/, "", x)
		if (x ~ /^-[A-Za-z0-9]$/ || x ~ /^--[a-z0-9][a-z0-9-]*$/) print x
	}
	NR == 1 { usage = 1 }
	/^$/ { usage = 0 }
	{ line = $0 }
	usage { gsub(/[][|]/, " ", line); n = split(line, w, " "); for (i = 1; i <= n; i++) opt(w[i]); next }
	match(line, /^ +-/) && RLENGTH <= 7 {
		sub(/^ +/, "", line); sub(/  .*/, "", line); gsub(/,/, " ", line)
		n = split(line, w, " "); for (i = 1; i <= n; i++) opt(w[i])
	}' | sort -u
}

# man_opts PAGE: the options in the tags of PAGE's .TP paragraphs
man_opts() {
	awk '
	function opt(x) {
		sub(/[=[].*/, "", x)
		if (x ~ /^-[A-Za-z0-9]$/ || x ~ /^--[a-z0-9][a-z0-9-]*$/) print x
	}
	tp {
		line = $0; gsub(/\\f[BIRP]/, "", line); gsub(/\\-/, "-", line); sub(/^\.[A-Z]+ /, "", line)
		gsub(/[",]/, " ", line); n = split(line, w, " "); for (i = 1; i <= n; i++) opt(w[i])
		tp = 0; next
	}
	/^\.TP/ { tp = 1 }' "$1" | sort -u
}

# src_opts COMMAND: the options src/cmd-COMMAND.c accepts: the long ones of its option tables
# and the letters of its getopt_long() call (RUN_LONGOPTS and RUN_SHORTOPTS from src/cmd.h
# where it uses them)
src_opts() {
	local f=$ROOT/src/cmd-$1.c h=$ROOT/src/cmd.h re='{"[a-z0-9-]*", *[a-z_]*_argument' call
	call=$(grep -o 'getopt_long([^)]*' "$f")
	{
		grep -o "$re" "$f"
		grep -q RUN_LONGOPTS "$f" && sed -n '/#define RUN_LONGOPTS/,/^$/p' "$h" | grep -o "$re"
		grep -o '"[^"]*"' <<<"$call" | tr -d '"+:' | grep -o . | sed 's/^/-/'
		grep -q RUN_SHORTOPTS <<<"$call" &&
			sed -n 's/^#define RUN_SHORTOPTS "\(.*\)"/\1/p' "$h" | tr -d ':' | grep -o . | sed 's/^/-/'
	} | sed 's/{"\([^"]*\)".*/--\1/' | sort -u
}

# same_set NAME A B: ok when files A and B hold the same lines, else say what differs
same_set() {
	local only_a only_b
	only_a=$(comm -23 "$2" "$3" | tr '\n' ' ') only_b=$(comm -13 "$2" "$3" | tr '\n' ' ')
	if [ -z "$only_a$only_b" ]; then ok "$1"; else
		fail "$1" "only in ${4:-the first}: ${only_a:-none}; only in ${5:-the second}: ${only_b:-none}"
	fi
}

# lint_page NAME PAGE: renders without a warning in every formatter there is
lint_page() {
	local why=
	if command -v mandoc >/dev/null; then
		mandoc -Tlint -Wwarning "$2" >"$TMP/lint" 2>&1 || [ -s "$TMP/lint" ] || echo "exit $?" >"$TMP/lint"
		[ -s "$TMP/lint" ] && why="mandoc: $(head -c 300 "$TMP/lint")"
	fi
	groff -man -Tutf8 -ww -z "$2" >"$TMP/lint" 2>&1
	[ -s "$TMP/lint" ] && why="$why groff: $(head -c 300 "$TMP/lint")"
	if command -v man >/dev/null; then
		MANWIDTH=80 man -l "$2" >"$TMP/rendered" 2>"$TMP/lint"
		[ -s "$TMP/lint" ] && why="$why man: $(head -c 300 "$TMP/lint")"
		grep -q '^NAME' "$TMP/rendered" || why="$why man -l rendered no NAME"
	fi
	if [ -z "$why" ]; then ok "$1"; else fail "$1" "$why"; fi
}

# --- man pages against --help and the source ---------------------------------------------------
cmds=$(commands)
check help-lists-commands test "$(echo "$cmds" | wc -w)" -ge 9
help_opts >"$TMP/help.opts"
man_opts "$ROOT/man/dpt.1" >"$TMP/man.opts"
same_set man-dpt-options "$TMP/help.opts" "$TMP/man.opts" "dpt help" "dpt.1"
lint_page man-dpt-renders "$ROOT/man/dpt.1"
for c in $cmds; do
	page=$ROOT/man/dpt-$c.1
	check "man-dpt-names-dpt-$c" grep -q "^\.BR dpt\\\\-$c (1)" "$ROOT/man/dpt.1"
	if [ ! -f "$page" ]; then
		fail "man-$c" "no man/dpt-$c.1 for the command dpt help lists (copy a page, e.g. man/dpt-export.1)"
		continue
	fi
	check "man-$c-title" grep -q "^\.TH DPT\\\\-${c^^} 1 " "$page"
	help_opts "$c" >"$TMP/help.opts"
	man_opts "$page" >"$TMP/man.opts"
	same_set "man-$c-options" "$TMP/help.opts" "$TMP/man.opts" "dpt $c --help" "dpt-$c.1"
	if [ -f "$ROOT/src/cmd-$c.c" ]; then
		src_opts "$c" >"$TMP/src.opts"
		same_set "help-$c-lists-accepted-options" "$TMP/src.opts" "$TMP/help.opts" \
			"src/cmd-$c.c" "dpt $c --help"
	else
		skip "help-$c-lists-accepted-options" "no src/cmd-$c.c to read its option table from"
	fi
	lint_page "man-$c-renders" "$page"
done
for page in "$ROOT"/man/dpt-*.1; do
	c=$(basename "$page" .1)
	c=${c#dpt-}
	echo "$cmds" | grep -qx "$c" || fail "man-$c-stale" "man/dpt-$c.1 but dpt help lists no $c"
done

# --- bash completion -----------------------------------------------------------------------------
# complete WORD...: what completion/dpt.bash offers for the last WORD, a line each
complete_words() {
	bash -c '. "$1" && shift && COMP_WORDS=("$@") && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) &&
		_dpt && for w in "${COMPREPLY[@]}"; do echo "$w"; done' _ "$ROOT/completion/dpt.bash" "$@" | sed 's/ $//'
}
complete_words "$DPT" "" | sort -u >"$TMP/offered"
echo "$cmds" | sort -u >"$TMP/cmds"
check completion-commands test -z "$(comm -23 "$TMP/cmds" "$TMP/offered")"
for c in $cmds; do
	complete_words "$DPT" "$c" - | sort -u >"$TMP/offered"
	help_opts "$c" >"$TMP/help.opts"
	missing=$(comm -23 "$TMP/help.opts" "$TMP/offered" | tr '\n' ' ')
	check "completion-$c-options" test -z "$missing"
	[ -z "$missing" ] || echo "# not offered: $missing"
done
mkdir -p "$TMP/c/sub" && touch "$TMP/c/run.dpt" "$TMP/c/notes.txt"
cd "$TMP/c" || exit 1
offered=$(complete_words "$DPT" report "" | tr '\n' ' ')
check completion-report-traces test "$offered" = "run.dpt sub "
offered=$(complete_words "$DPT" simgrid --vms run.dpt, | tr '\n' ' ')
check completion-simgrid-vms-list test "$offered" = "run.dpt,run.dpt run.dpt,sub "
offered=$(complete_words "$DPT" predict run.dpt --bandwidth 1G --start "" | tr '\n' ' ')
check completion-no-value-guessed test -z "$offered"
offered=$(complete_words "$DPT" import "" | tr '\n' ' ')
check completion-import-directory test "$offered" = "sub "
offered=$(complete_words "$DPT" vm -o "" | tr '\n' ' ')
check completion-output-formats test "$offered" = "trace: csv: ndjson: text: "
offered=$(complete_words "$DPT" vm -o csv : "" | sort | tr '\n' ' ')
check completion-output-file test "$offered" = "notes.txt run.dpt sub "
offered=$(complete_words "$DPT" vm --pattern "" | tr '\n' ' ')
check completion-pattern test "$offered" = "seq random hotcold stride "
sleep 60 &
sleeper=$!
complete_words "$DPT" track --pid "" >"$TMP/offered"
check completion-pid grep -qx "$sleeper" "$TMP/offered"
complete_words "$DPT" track -f -p "" >"$TMP/offered"
check completion-pid-short grep -qx "$sleeper" "$TMP/offered"
complete_words "$DPT" track -f -- slee >"$TMP/offered"
check completion-track-program grep -qx sleep "$TMP/offered"
kill $sleeper
cd "$TMP" || exit 1

# --- make install, make uninstall ----------------------------------------------------------------
mk install DESTDIR="$TMP/stage" PREFIX=/usr >"$TMP/install.log" 2>&1
check install-exit-0 test $? = 0
want="usr/bin/dpt usr/share/bash-completion/completions/dpt usr/share/doc/dpt/README.md
      usr/share/doc/dpt/docs/trace-format.md usr/share/man/man1/dpt.1"
for c in $cmds; do want="$want usr/share/man/man1/dpt-$c.1"; done
missing=
for f in $want; do [ -f "$TMP/stage/$f" ] || missing="$missing $f"; done
check install-files test -z "$missing"
[ -z "$missing" ] || echo "# missing:$missing"
check install-binary-mode test "$(stat -c %a "$TMP/stage/usr/bin/dpt")" = 755
check install-version test "$("$TMP/stage/usr/bin/dpt" --version)" = "$("$DPT" --version)"
if command -v man >/dev/null; then
	check install-man-found test "$(MANPATH="$TMP/stage/usr/share/man" man -w dpt-predict)" = \
		"$TMP/stage/usr/share/man/man1/dpt-predict.1"
fi
# away from the tree: a bare environment, another directory; the micro-VM's guest is in it
if have_kvm; then
	(cd / && env -i PATH=/usr/bin:/bin "$TMP/stage/usr/bin/dpt" vm --mem 16M --wss 4M --rate 4M \
		--interval 100ms --count 3 -q -o trace:"$TMP/alone.dpt") >"$TMP/alone.log" 2>&1
	check install-runs-vm-alone test $? = 0
	check install-reports-alone sh -c "'$TMP/stage/usr/bin/dpt' report '$TMP/alone.dpt' >/dev/null"
else
	skip install-runs-vm-alone "no usable /dev/kvm"
fi
mk uninstall DESTDIR="$TMP/stage" PREFIX=/usr >>"$TMP/install.log" 2>&1
check uninstall-exit-0 test $? = 0
check uninstall-leaves-no-file test -z "$(find "$TMP/stage" -type f)"
mk install DESTDIR="$TMP/local" >>"$TMP/install.log" 2>&1
check install-default-prefix test -x "$TMP/local/usr/local/bin/dpt" -a \
	-f "$TMP/local/usr/local/share/man/man1/dpt-track.1" -a \
	-f "$TMP/local/usr/local/share/bash-completion/completions/dpt"
mk uninstall DESTDIR="$TMP/local" >>"$TMP/install.log" 2>&1
check uninstall-default-prefix test -z "$(find "$TMP/local" -type f)"

# --- make deb ------------------------------------------------------------------------------------
deb=$(mk deb 2>"$TMP/deb.err" | tail -n 1) # its absolute path
if [ ! -f "$deb" ]; then
	fail deb-built "make deb made no package: $(tail -c 300 "$TMP/deb.err")"
	exit 0
fi
ok deb-built
version=$("$DPT" --version | cut -d' ' -f2)
check deb-package test "$(dpkg-deb -f "$deb" Package)" = dpt
check deb-version test "$(dpkg-deb -f "$deb" Version)" = "$version"
check deb-architecture test "$(dpkg-deb -f "$deb" Architecture)" = "$(dpkg --print-architecture)"
depends=$(dpkg-deb -f "$deb" Depends)
for p in libc6 libzstd1 libjansson4; do
	check "deb-depends-$p" grep -q "\(^\|, \)$p\( \|,\|$\)" <<<"$depends"
done
# every library the packaged binary needs, by ldd and dpkg -S, is a Depends
dpkg-deb -x "$deb" "$TMP/x"
for lib in $(objdump -p "$TMP/x/usr/bin/dpt" | awk '$1 == "NEEDED" { print $2 }'); do
	path=$(ldd "$TMP/x/usr/bin/dpt" | awk -v l="$lib" '$1 == l { print $3 }')
	pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1)
	[ -z "$pkg" ] && pkg=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
	check "deb-depends-for-$lib" grep -q "\(^\|, \)$pkg\( \|,\|$\)" <<<"$depends"
done
check deb-recommends-gnuplot grep -q gnuplot-nox <<<"$(dpkg-deb -f "$deb" Recommends)"
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./||' >"$TMP/contents"
missing=
for f in usr/bin/dpt usr/share/bash-completion/completions/dpt usr/share/doc/dpt/copyright \
	usr/share/doc/dpt/changelog.gz usr/share/man/man1/dpt.1.gz; do
	grep -qx "$f" "$TMP/contents" || missing="$missing $f"
done
for c in $cmds; do grep -qx "usr/share/man/man1/dpt-$c.1.gz" "$TMP/contents" || missing="$missing dpt-$c.1.gz"; done
check deb-contents test -z "$missing"
[ -z "$missing" ] || echo "# missing:$missing"
check deb-owned-by-root test -z "$(dpkg-deb -c "$deb" | awk '$2 != "root/root"')"
if command -v lintian >/dev/null; then
	lintian "$deb" 2>&1 | grep -v 'running with root privileges' >"$TMP/lintian"
	check deb-lintian-clean test ! -s "$TMP/lintian"
	sed 's/^/# /' "$TMP/lintian"
else
	skip deb-lintian-clean "lintian not installed"
fi

# --- dpkg -i, run, dpkg -r -----------------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
	skip deb-install "not root"
	exit 0
fi
if dpkg-query -W -f='${Status}' dpt 2>/dev/null | grep -q 'ok installed'; then
	skip deb-install "a dpt package is installed already: not replacing it"
	exit 0
fi
installed=1
dpkg_retry dpkg -i "$deb"
check deb-install test $? = 0 || sed 's/^/# /' "$TMP/dpkg.out"
check deb-installed-version test "$(/usr/bin/dpt --version)" = "dpt $version"
if grep -q 'man/man1/dpt-predict' "$TMP/contents" && command -v man >/dev/null; then
	if [ -f /usr/share/man/man1/dpt-predict.1.gz ]; then
		check deb-installed-man test "$(man -w dpt-predict)" = /usr/share/man/man1/dpt-predict.1.gz
	else
		skip deb-installed-man "dpkg left the man pages out (a path-exclude in /etc/dpkg/dpkg.cfg.d?)"
	fi
else
	skip deb-installed-man "man (man-db) not installed"
fi
check deb-installed-completion bash -c '. /usr/share/bash-completion/completions/dpt && complete -p dpt >/dev/null'
if have_kvm; then
	(cd "$TMP" && /usr/bin/dpt vm --mem 16M --wss 4M --interval 100ms --count 2 -q -o csv:deb.csv)
	check deb-installed-runs-vm test "$(wc -l <"$TMP/deb.csv")" -ge 3
fi
dpkg_retry dpkg -r dpt
check deb-remove test $? = 0
installed=0
check deb-removed-status test -z "$(dpkg-query -W -f='${Status}' dpt 2>/dev/null | grep ' installed')"
left=
while read -r f; do
	[ -n "$f" ] && [ -e "/$f" ] && [ ! -d "/$f" ] && left="$left /$f"
done <"$TMP/contents"
for d in /usr/share/doc/dpt /usr/share/doc/dpt/docs; do [ -e "$d" ] && left="$left $d"; done
check deb-removed-leaves-nothing test -z "$left"
[ -z "$left" ] || echo "# left:$left"
