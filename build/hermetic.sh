#!/bin/bash
# Run a test command as a fresh machine would see it (issue 19): in a private
# mount namespace in which every place outside the checkout that a fixture
# script writes is an empty tmpfs. A machine that still holds what
# test/fixtures/*/make.sh once staged there (/opt/crashkeep-fixtures/...)
# then fails exactly as a fresh one does, instead of passing on leftovers.
#
#   build/hermetic.sh CMD [ARG...]
#
# Nothing is unmounted afterwards: the namespace ends with the command.
# Needs root (unshare --mount); otherwise the command runs as it is, and one
# line says that this run proves nothing about leftovers.
set -euo pipefail

# Where fixture scripts write outside the checkout: the cores and symbolize
# fixtures run their programs from /opt/crashkeep-fixtures so that the cores
# name stable paths (test/fixtures/*/README.md). /usr/lib/debug: the host's
# libc6-dbg, whose version follows Debian's point releases; the fixtures carry
# the debug files their cores need (test/fixtures/symbolize/README.md).
HIDDEN=(/opt /usr/lib/debug)

[ $# -gt 0 ] || { echo "usage: build/hermetic.sh CMD [ARG...]" >&2; exit 2; }

# Already inside (a make target that calls another through this script).
if [ "${CRASHKEEP_HERMETIC:-}" = 1 ]; then exec "$@"; fi

if [ "$(id -u)" != 0 ] || ! unshare --mount --propagation private true 2>/dev/null; then
	echo "hermetic: cannot make a private mount namespace (not root?): running with ${HIDDEN[*]} visible" >&2
	exec "$@"
fi

# shellcheck disable=SC2016 # the script is the inner shell's, expanded there
exec unshare --mount --propagation private -- env CRASHKEEP_HERMETIC=1 HERMETIC_HIDDEN="${HIDDEN[*]}" bash -euo pipefail -c '
	for dir in $HERMETIC_HIDDEN; do
		[ -d "$dir" ] || continue
		mount -t tmpfs -o mode=0755,size=1m hermetic "$dir"
	done
	exec "$@"' hermetic "$@"
