# Test image only: the root shell on ttyAMA0 (post-build-test.sh puts it in
# inittab in place of the getty) is driven by the QEMU harness: no echo and
# no prompt, so the console carries only command output and its markers.
export PS1=''
export PS2=''
stty -echo 2>/dev/null
# S03crashkeep starts "crashkeep watch --init" in the background: the
# scenarios read what init did, so the marker waits (at most 300 s) until
# the daemon is ready: /run/crashkeep/init.json names the pid in its
# pidfile (as build/test-image/etc/profile does).
# Every 0.5 s, shell built-ins first: each command forked competes with the
# daemon for the guest's one vCPU.
n=0
while [ "$n" -lt 600 ] && { [ -s /var/run/crashkeep.pid ] || pidof crashkeep >/dev/null; }; do
	pid=""
	[ -s /var/run/crashkeep.pid ] && read -r pid </var/run/crashkeep.pid
	[ -n "$pid" ] && [ -s /run/crashkeep/init.json ] && grep -qs "\"pid\": $pid," /run/crashkeep/init.json && break
	n=$((n + 1))
	sleep 0.5
done
echo "CRASHKEEP-READY uptime=$(cut -d' ' -f1 /proc/uptime)"
