# Stand-in for OpenWrt's /lib/functions.sh (config part) in openwrt/test.sh: the same calls
# and semantics (config_load, config_get, config_get_bool, config_list_foreach), reading real
# UCI syntax from $UCI_CONFIG_DIR/<name> with awk instead of libuci.

config_load() {
	local file="$UCI_CONFIG_DIR/$1"
	[ -f "$file" ] || return 1
	eval "$(awk '
		function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
		function val(line,   v) {
			v = line
			sub(/^[ \t]*[a-z]+[ \t]+[A-Za-z0-9_]+[ \t]*/, "", v)
			if (v ~ /^\047/) { sub(/^\047/, "", v); sub(/\047[ \t]*$/, "", v) }
			else if (v ~ /^"/) { sub(/^"/, "", v); sub(/"[ \t]*$/, "", v) }
			return v
		}
		/^[ \t]*(#|$)/ { next }
		$1 == "config" { sec = $3; gsub(/[\047"]/, "", sec); if (sec == "") sec = "cfg" NR; next }
		$1 == "option" { print "CONFIG_" sec "_" $2 "=" q(val($0)); next }
		$1 == "list" {
			n[sec "_" $2]++
			print "CONFIG_" sec "_" $2 "_ITEM" n[sec "_" $2] "=" q(val($0))
			print "CONFIG_" sec "_" $2 "_LENGTH=" n[sec "_" $2]
		}
	' "$file")"
}

config_get() { # var section option [default]
	local __v
	eval "__v=\${CONFIG_$2_$3-}"
	[ -n "$__v" ] || __v="${4-}"
	eval "$1=\$__v"
}

config_get_bool() { # var section option [default]
	local __b
	config_get __b "$2" "$3" "${4-}"
	case "$__b" in
	1 | on | true | yes | enabled) __b=1 ;;
	0 | off | false | no | disabled) __b=0 ;;
	*) __b="${4-}" ;;
	esac
	eval "$1=\$__b"
}

config_list_foreach() { # section option callback [args...]
	local __s="$1" __o="$2" __cb="$3" __n __i=1 __item
	shift 3
	eval "__n=\${CONFIG_${__s}_${__o}_LENGTH:-0}"
	while [ "$__i" -le "$__n" ]; do
		eval "__item=\${CONFIG_${__s}_${__o}_ITEM$__i}"
		"$__cb" "$__item" "$@"
		__i=$((__i + 1))
	done
}
