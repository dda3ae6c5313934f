#!/usr/bin/env bash
# Stages the minimal image's build context in $1: bash-static as /bin/bash, busybox with its
# applets as symlinks, passwd/group for uid 1000, and the static agent runner.
# Needs Debian's bash-static and busybox-static packages.
set -euo pipefail
out=$1 runner=$2
rm -rf "$out"; mkdir -p "$out/bin" "$out/etc" "$out/app"
cp /bin/bash-static "$out/bin/bash"
cp /bin/busybox "$out/bin/busybox"
# stty: the bash tool needs it to turn echo off (minimal-image.md pitfall 1).
for a in sh ls cat grep sed awk mkdir rm cp mv env id echo head tail wc find sort tr touch \
         chmod date sleep printf test xargs uname stty tty uniq seq true false basename dirname \
         cut diff du ln pwd readlink realpath tee which gzip tar; do
  ln -s busybox "$out/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/bash\n' > "$out/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' > "$out/etc/group"
cp "$runner" "$out/app/agent-runner"
cp "$(dirname "$0")/Dockerfile" "$out/Dockerfile"
