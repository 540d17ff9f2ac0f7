#!/bin/sh
# Buildroot's host-fakeroot, stood in for by Debian's /usr/bin/fakeroot
# (package fakeroot): no fakeroot source tarball is downloadable here.
exec /usr/bin/fakeroot "$@"
