#!/bin/bash
# The Debian source files of the offline Buildroot build, pinned by sha256 in
# debian-sources.tsv beside this script, fetched with "apt-get source" into
# out/cache/debian-src/.
#
#   build/buildroot-offline/debian-sources.sh fetch debian|buildroot
#       fetch the files of that kernel variant (each once: a cached file whose
#       sha256 matches is kept)
#   build/buildroot-offline/debian-sources.sh served SOURCE
#       list every orig file the suites serve for the source package SOURCE,
#       with its version and sha256 (to re-pin a file the archive dropped)
#
# apt runs on a private state in out/cache/apt-src/ (its own deb-src list of
# bookworm and trixie with their updates and security suites, its own package
# lists and download cache), so the machine's apt sources, lists and
# preferences are neither read nor changed. The Release files are checked
# with Debian's archive keyring (package debian-archive-keyring).
#
# Environment: OUT (default out), DEBIAN_MIRROR (default
# http://deb.debian.org/debian), DEBIAN_SECURITY_MIRROR (default
# http://deb.debian.org/debian-security).
set -euo pipefail

HERE=$(dirname "$(readlink -f "$0")")
PINS="$HERE/debian-sources.tsv"
OUT=${OUT:-out}
mkdir -p "$OUT/cache"
CACHE=$(cd "$OUT/cache" && pwd)
DEST="$CACHE/debian-src"
APTDIR="$CACHE/apt-src"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { printf 'debian-sources: %s\n' "$*" >&2; }
die() { printf 'debian-sources: %s\n' "$*" >&2; exit 1; }

for tool in apt-get apt-cache sha256sum; do
	command -v "$tool" >/dev/null 2>&1 || die "Cannot find \"$tool\": this script needs a Debian host"
done
[ -r "$KEYRING" ] || die "Cannot read \"$KEYRING\": apt-get install debian-archive-keyring"

# apt on the private state only: no system sources, lists, status or preferences.
mkdir -p "$APTDIR"/{lists/partial,cache/archives/partial,sources.list.d,preferences.d}
APT=(
	-o "Dir::Etc::SourceList=$APTDIR/sources.list"
	-o "Dir::Etc::SourceParts=$APTDIR/sources.list.d"
	-o "Dir::Etc::Preferences=$APTDIR/preferences"
	-o "Dir::Etc::PreferencesParts=$APTDIR/preferences.d"
	-o "Dir::State::Lists=$APTDIR/lists"
	-o "Dir::State::status=$APTDIR/status"
	-o "Dir::Cache=$APTDIR/cache"
	-o "APT::Sandbox::User=root"
)
{
	for suite in bookworm bookworm-updates trixie trixie-updates; do
		echo "deb-src [signed-by=$KEYRING] $MIRROR $suite main"
	done
	for suite in bookworm-security trixie-security; do
		echo "deb-src [signed-by=$KEYRING] $SECURITY $suite main"
	done
} >"$APTDIR/sources.list.new"
touch "$APTDIR/status" "$APTDIR/preferences"
# A changed source list invalidates the lists.
if ! cmp -s "$APTDIR/sources.list.new" "$APTDIR/sources.list"; then
	mv "$APTDIR/sources.list.new" "$APTDIR/sources.list"
	rm -f "$APTDIR/updated"
else
	rm -f "$APTDIR/sources.list.new"
fi

update() {
	log "apt-get update (deb-src of bookworm and trixie, private lists in $APTDIR)"
	apt-get "${APT[@]}" -q update >"$APTDIR/update.log" 2>&1 ||
		die "Cannot read the Debian source lists: apt-get update failed ($(grep -m1 -E '^(E|Err):' "$APTDIR/update.log" || tail -n1 "$APTDIR/update.log"))"
	touch "$APTDIR/updated"
}

# Lists older than a day are read again: suites change (point releases,
# security updates) and drop files.
fresh_lists() {
	if [ ! -f "$APTDIR/updated" ] || [ -n "$(find "$APTDIR/updated" -mmin +1440)" ]; then
		update
	fi
}

# "version sha256 file" for every orig file of source package $1.
served() {
	apt-cache "${APT[@]}" showsrc "$1" 2>/dev/null | awk '
		/^Version:/ { v = $2 }
		/^Checksums-Sha256:/ { c = 1; next }
		/^[^ ]/ { c = 0 }
		c && $3 ~ /\.orig\.tar\./ && $3 !~ /\.asc$/ { print v, $1, $3 }' | sort -u
}

# The version of source package $1 that serves file $2 with sha256 $3.
version_of() {
	served "$1" | awk -v f="$2" -v s="$3" '$3 == f && $2 == s { print $1; exit }'
}

fetch_one() {
	local file=$1 sha=$2 src version tmp
	if [ -f "$DEST/$file" ] && [ "$(cat "$DEST/$file.sha256" 2>/dev/null)" = "$sha" ]; then
		return
	fi
	src=${file%%_*}
	version=$(version_of "$src" "$file" "$sha")
	if [ -z "$version" ] && [ -f "$APTDIR/updated" ] && [ -z "$(find "$APTDIR/updated" -mmin -10)" ]; then
		update # lists from an earlier run may predate the pin
		version=$(version_of "$src" "$file" "$sha")
	fi
	[ -n "$version" ] ||
		die "Cannot fetch \"$file\" (sha256 $sha, pinned in build/buildroot-offline/debian-sources.tsv): no bookworm or trixie suite serves it any more; re-pin it: build/buildroot-offline/debian-sources.sh served $src lists the files served now"
	log "apt-get source $src=$version ($file)"
	tmp="$DEST/.tmp-$src"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# The archive here serves some files of a source package and not others
	# (the .dsc or .debian.tar of many answer 404): only the orig file counts,
	# so apt-get's exit status does not, the file and its sha256 do.
	(cd "$tmp" && apt-get "${APT[@]}" -q source --download-only "$src=$version" >"$tmp/apt.log" 2>&1) || true
	[ -f "$tmp/$file" ] ||
		die "Cannot fetch \"$file\" with apt-get source $src=$version: $(grep -m1 -F "$file" "$tmp/apt.log" | grep -E '^(E|Err):' || grep -m1 -E '^(E|Err):' "$tmp/apt.log" || tail -n1 "$tmp/apt.log")"
	[ "$(sha256sum "$tmp/$file" | cut -d' ' -f1)" = "$sha" ] ||
		die "Cannot use \"$file\" from apt-get source $src=$version: its sha256 is not the pinned $sha"
	mv "$tmp/$file" "$DEST/$file"
	echo "$sha" >"$DEST/$file.sha256"
	rm -rf "$tmp"
}

case "${1:-}" in
fetch)
	variant=${2:-}
	case "$variant" in debian | buildroot) ;; *) die "Cannot fetch for kernel variant \"$variant\": use debian or buildroot" ;; esac
	mkdir -p "$DEST"
	fresh_lists
	while IFS=$'\t' read -r file sha want _; do
		case "$file" in "" | \#*) continue ;; esac
		[ "$want" = all ] || [ "$want" = "$variant" ] || continue
		fetch_one "$file" "$sha"
	done <"$PINS"
	;;
served)
	[ -n "${2:-}" ] || die "Cannot list served files: name a source package (e.g. zlib)"
	fresh_lists
	out=$(served "$2")
	[ -n "$out" ] || die "Cannot find source package \"$2\" in bookworm or trixie"
	printf 'version\tsha256\tfile\n'
	tr ' ' '\t' <<<"$out"
	;;
*)
	die "Cannot run \"${1:-}\": use fetch debian|buildroot, or served SOURCE"
	;;
esac
