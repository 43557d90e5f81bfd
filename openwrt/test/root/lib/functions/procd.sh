# Stand-in for OpenWrt's procd helpers in openwrt/test.sh: every call is written to $CALLS,
# one line each, arguments in brackets so their boundaries show.

_record() {
	printf '%s' "$1" >>"$CALLS"
	shift
	[ $# -gt 0 ] && printf ' [%s]' "$@" >>"$CALLS"
	printf '\n' >>"$CALLS"
}
procd_open_instance() { _record procd_open_instance "$@"; }
procd_set_param() { _record procd_set_param "$@"; }
procd_append_param() { _record procd_append_param "$@"; }
procd_close_instance() { _record procd_close_instance "$@"; }
procd_add_reload_trigger() { _record procd_add_reload_trigger "$@"; }
procd_add_reload_interface_trigger() { _record procd_add_reload_interface_trigger "$@"; }
logger() { _record logger "$@"; }
