#!/bin/bash
# Buildroot's host-patchelf, stood in for by Debian's /usr/bin/patchelf
# (package patchelf) plus the one option Debian's lacks: Buildroot's own
# "--make-rpath-relative ROOT [--no-standard-lib-dirs] [--relative-to-file]
# FILE" (support/scripts/fix-rpath), written here in shell. Every other call
# goes to Debian's patchelf as it is.
#
# For each RPATH/RUNPATH directory of FILE (the rules of Buildroot's patch):
#   $ORIGIN...          kept if FILE's directory + the rest exists
#   ROOT...             kept if it exists
#   anything else       kept if ROOT + it exists, else dropped
# and with --no-standard-lib-dirs, ROOT/lib and ROOT/usr/lib are dropped.
# A kept directory becomes $ORIGIN/<path from FILE's directory> with
# --relative-to-file, else its path under ROOT. Both sides are resolved
# (realpath) before the relative path is made, so a tree reached through a
# symlink still gets a path that stays inside it. (A trial with a C++ port of
# Buildroot's patch to patchelf 0.14.3 left 51 host programs of the
# overridden packages with an empty RUNPATH, and check-host-rpath stopped a
# later package; build/buildroot-image.sh runs that check over the whole host
# tree at the end.)
set -euo pipefail
REAL=/usr/bin/patchelf

if [ "${1:-}" != --make-rpath-relative ]; then
	exec "$REAL" "$@"
fi
root=${2:?patchelf: --make-rpath-relative needs ROOT}
shift 2
nostd=0 relative=0
while [ $# -gt 1 ]; do
	case "$1" in
	--no-standard-lib-dirs) nostd=1 ;;
	--relative-to-file) relative=1 ;;
	*) echo "patchelf: Cannot use option \"$1\" with --make-rpath-relative" >&2; exit 1 ;;
	esac
	shift
done
file=${1:?patchelf: --make-rpath-relative needs a FILE}
rpath=$("$REAL" --print-rpath "$file")
[ -n "$rpath" ] || exit 0
given=${root%/}
root=$(realpath -m "$root")
dir=$(realpath -m "$(dirname "$file")")
new=""
IFS=: read -r -a dirs <<<"$rpath"
# shellcheck disable=SC2016 # $ORIGIN is literal: the loader expands it
for d in "${dirs[@]}"; do
	case "$d" in
	'$ORIGIN'*) path="$dir${d#'$ORIGIN'}" ;;
	# Under ROOT as given or as resolved (the tree may be reached through a link).
	"$given" | "$given"/* | "$root" | "$root"/*) path=$d ;;
	*) path="$root$d" ;;
	esac
	[ -e "$path" ] || continue
	path=$(realpath "$path")
	if [ "$nostd" = 1 ] && { [ "$path" = "$root/lib" ] || [ "$path" = "$root/usr/lib" ]; }; then
		continue
	fi
	if [ "$relative" = 1 ]; then
		rel=$(realpath --relative-to="$dir" "$path")
		[ "$rel" = . ] && entry='$ORIGIN' || entry="\$ORIGIN/$rel"
	else
		entry=${path#"$root"}
		entry=${entry:-/}
	fi
	case ":$new:" in *":$entry:"*) ;; *) new=${new:+$new:}$entry ;; esac
done
[ "$new" = "$rpath" ] && exit 0
exec "$REAL" --set-rpath "$new" "$file"
