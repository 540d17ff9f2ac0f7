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
# Whether to wait is decided by S03crashkeep being in this boot, not by a
# crashkeep process being there: start-stop-daemon --background returns
# before its child has exec'd crashkeep, and the shell could start in that
# window and not wait (a stop-28 CI failure: history read before the daemon
# had archived the previous boot). A daemon that never shows up (it could
# not start) is given 30 s.
n=0
wait_for=no
[ -x /etc/init.d/S03crashkeep ] && wait_for=yes
grep -qs 'crashkeep_test.skip=[^ ]*S03crashkeep' /proc/cmdline && wait_for=no
while [ "$wait_for" = yes ] && [ "$n" -lt 600 ]; do
	pid=""
	[ -s /var/run/crashkeep.pid ] && read -r pid </var/run/crashkeep.pid
	[ -n "$pid" ] && [ -s /run/crashkeep/init.json ] && grep -qs "\"pid\": $pid," /run/crashkeep/init.json && break
	[ "$n" -ge 60 ] && ! pidof crashkeep >/dev/null && break
	n=$((n + 1))
	sleep 0.5
done
echo "CRASHKEEP-READY uptime=$(cut -d' ' -f1 /proc/uptime)"
