#!/bin/sh
# The image's unprivileged user: whisperx, UID/GID 1000 (the usual first host user, so a
# bind-mounted cache stays writable). ubuntu:24.04-based images already have UID 1000 as
# `ubuntu` (useradd --uid 1000 would exit 4): that account goes first, as in most
# Ubuntu 24.04 based images. $1: a root folder to work in (only `rehearse` passes one).
set -eu
root=${1:-}
set --
if [ -n "$root" ]; then set -- --prefix "$root"; fi
if grep -q '^ubuntu:' "$root/etc/passwd"; then userdel "$@" ubuntu; fi
if grep -q '^ubuntu:' "$root/etc/group"; then groupdel "$@" ubuntu; fi
rm -rf "$root/home/ubuntu"
groupadd "$@" --gid 1000 whisperx
useradd "$@" --uid 1000 --gid 1000 --no-create-home --home-dir /home/whisperx \
  --shell /usr/sbin/nologin whisperx
install -d -m 0755 -o 1000 -g 1000 "$root/home/whisperx"
