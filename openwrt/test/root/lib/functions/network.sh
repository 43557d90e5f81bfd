# Stand-in for OpenWrt's /lib/functions/network.sh in openwrt/test.sh: interface addresses come
# from $NET_STATE ("<interface> ipv4|ipv6 <address>" per line) instead of ubus.

network_get_ipaddr() { # var interface
	eval "$1=\$(awk -v i=\"\$2\" '\$1 == i && \$2 == \"ipv4\" { print \$3; exit }' \"\$NET_STATE\")"
}

network_get_ipaddr6() { # var interface
	eval "$1=\$(awk -v i=\"\$2\" '\$1 == i && \$2 == \"ipv6\" { print \$3; exit }' \"\$NET_STATE\")"
}
