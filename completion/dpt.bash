# bash completion for dpt.                                        -*- shell-script -*-
#
# Everything is read from dpt itself, so a new command or option completes without an edit
# here: the commands from `dpt help`, a command's options (and the word naming each one's
# value) from the option lines and the usage lines of `dpt COMMAND --help`. The values: a
# .dpt trace where the usage names one, a directory for DIR, a pid for PID, a program and
# its arguments after `dpt track [--]`, the formats of -o FMT:FILE, and the few option values
# listed in _dpt_values.

# _dpt_values OPTION: the values OPTION takes, when it takes one of a few words.
_dpt_values()
{
	case $1 in
	--pattern) echo "seq random hotcold stride" ;;
	--log-mode) echo "bitmap ring" ;;
	--method) echo "auto uffd soft-dirty" ;;
	--mode) echo "auto page-sampling dirty-bitmap dirty-ring" ;;
	-k | --kind) echo "rate wss heatmap all predict" ;;
	-m | --monitor) echo "stdio unix:" ;;
	-o | --output) [ "$2" = plot ] || echo "trace: csv: ndjson: text:" ;;
	esac
}

# _dpt_help DPT [COMMAND]: `DPT COMMAND --help` (`DPT help` without COMMAND), read once per
# shell and binary.
declare -gA _dpt_help_cache 2>/dev/null
_dpt_help()
{
	local key="$1 $2"
	if [ -z "${_dpt_help_cache[$key]+set}" ]; then
		if [ -n "$2" ]; then
			_dpt_help_cache[$key]=$("$1" "$2" --help 2>/dev/null)
		else
			_dpt_help_cache[$key]=$("$1" help 2>/dev/null)
		fi
	fi
	printf '%s\n' "${_dpt_help_cache[$key]}"
}

# _dpt_commands DPT: the commands `dpt help` lists.
_dpt_commands()
{
	local line in=
	while IFS= read -r line; do
		case $line in
		commands:) in=1 ;;
		"") in= ;;
		*) [ -n "$in" ] && line=${line#"${line%%[! ]*}"} && echo "${line%% *}" ;;
		esac
	done < <(_dpt_help "$1")
}

# _dpt_options DPT COMMAND: a line per option, "OPTION ARG" (ARG empty when it takes none),
# from the option lines ("  -i, --interval DUR   text") and the usage lines ("[--to T]").
_dpt_options()
{
	local line col w opts arg usage=1 words i
	while IFS= read -r line; do
		[ -z "$line" ] && usage=
		if [ -n "$usage" ]; then
			# "--opt ARG" or "-o ARG" in the usage lines
			read -r -a words <<<"${line//[][|]/ }"
			for i in "${!words[@]}"; do
				case ${words[i]} in
				-[A-Za-z0-9] | --[a-z0-9]*)
					arg=
					case ${words[i + 1]-} in [A-Z]*) arg=${words[i + 1]} ;; esac
					echo "${words[i]%%=*} $arg"
					;;
				esac
			done
			continue
		fi
		case $line in
		"  -"* | "   -"* | "    -"* | "     -"* | "      -"*) ;;
		*) continue ;;
		esac
		col=${line#"${line%%[! ]*}"}
		col=${col%%  *}
		opts= arg=
		for w in ${col//,/ }; do
			case $w in
			-*) opts="$opts ${w%%[[=]*}" ;;
			*) arg=$w ;;
			esac
		done
		for w in $opts; do echo "$w $arg"; done
	done < <(_dpt_help "$1" "$2")
}

_dpt_files()
{
	compopt -o filenames 2>/dev/null
	mapfile -t COMPREPLY < <(compgen "$@")
}

_dpt()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local dpt=${COMP_WORDS[0]} cmd= prog= dashdash= i w
	COMPREPLY=()
	[[ $dpt == "~/"* ]] && dpt=$HOME/${dpt#"~/"}
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [ -z "$cmd" ]; then
			[[ $w == -* ]] || cmd=$w
		elif [ "$w" = -- ] && [ -z "$dashdash" ]; then
			dashdash=1
		elif [ -n "$dashdash" ] || { [[ $w != -* && $w != : && ${COMP_WORDS[i - 1]} != : ]] &&
			! _dpt_takes_value "$dpt" "$cmd" "${COMP_WORDS[i - 1]}"; }; then
			prog=$w
			break
		fi
	done
	if [ -z "$cmd" ]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_dpt_commands "$dpt") help --help --version" -- "$cur")
		return
	fi
	[ "$cmd" = help ] && return
	# dpt track [options] [--] CMD ARGS: the program, then what its arguments want
	if [ "$cmd" = track ] && [ -n "$prog" ]; then
		compopt -o bashdefault -o default 2>/dev/null
		return
	fi
	if [ "$cmd" = track ] && [ -n "$dashdash" ]; then
		mapfile -t COMPREPLY < <(compgen -c -- "$cur")
		return
	fi
	# the value of -o FMT:FILE and --monitor unix:PATH, split at ':' by bash
	if [ "$prev" = : ] && [ "$COMP_CWORD" -ge 3 ]; then
		_dpt_files -f -- "$cur"
		return
	fi
	local arg
	arg=$(_dpt_options "$dpt" "$cmd" | while read -r o a; do
		[ "$o" = "$prev" ] && [ -n "$a" ] && echo "$a" && break
	done)
	if [ -n "$arg" ]; then
		_dpt_value "$prev" "$cmd" "$arg"
	elif [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_dpt_options "$dpt" "$cmd" | cut -d' ' -f1 | sort -u)" -- "$cur")
	else
		# a positional argument: what the usage names
		local usage
		usage=$(_dpt_help "$dpt" "$cmd" | sed '/^$/q')
		case $usage in
		*"dpt $cmd DIR"*) _dpt_files -d -- "$cur" ;;
		*.dpt*) _dpt_traces ;;
		*CMD*) mapfile -t COMPREPLY < <(compgen -c -- "$cur") ;;
		esac
	fi
}

# _dpt_value OPTION COMMAND ARG: complete the value of OPTION, which the help calls ARG.
_dpt_value()
{
	local values k
	values=$(_dpt_values "$1" "$2")
	if [ -n "$values" ]; then
		compopt -o nospace 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -W "$values" -- "$cur")
		for k in "${!COMPREPLY[@]}"; do
			[[ ${COMPREPLY[k]} == *: ]] || COMPREPLY[k]="${COMPREPLY[k]} "
		done
		return
	fi
	case $3 in
	PID) mapfile -t COMPREPLY < <(compgen -W "$(cd /proc && printf '%s ' [0-9]*)" -- "$cur") ;;
	DIR) _dpt_files -d -- "$cur" ;;
	*.dpt*) _dpt_traces ;;
	*FILE* | OUT* | PATH | SOCKET) _dpt_files -f -- "$cur" ;;
	esac
}

# .dpt traces, and directories to walk down to one; after a comma (--vms A.dpt,B.dpt) the
# next one
_dpt_traces()
{
	local d k before= word=$cur
	if [[ $word == *,* ]]; then
		before=${word%,*},
		word=${word##*,}
		compopt -o nospace 2>/dev/null
	fi
	_dpt_files -f -X '!*.dpt' -- "$word"
	while IFS= read -r d; do COMPREPLY+=("$d"); done < <(compgen -d -- "$word")
	for k in "${!COMPREPLY[@]}"; do COMPREPLY[k]=$before${COMPREPLY[k]}; done
}

# _dpt_takes_value DPT COMMAND WORD: whether WORD is an option of COMMAND taking a value.
_dpt_takes_value()
{
	[[ $3 == -* ]] || return 1
	_dpt_options "$1" "$2" | {
		while read -r o a; do
			[ "$o" = "$3" ] && [ -n "$a" ] && exit 0
		done
		exit 1
	}
}

complete -F _dpt dpt
