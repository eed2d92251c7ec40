#!/usr/bin/env bash
# Builds a tiny base image from Debian's static busybox, with no network access: no registry
# is reachable from our machines, so the image is assembled from a local rootfs and imported.
#
#   deploy/images/busybox.sh [--force] [tag]     (default tag: gureum/busybox:latest)
#
# Idempotent: when the tag exists already it prints the image id and exits 0; --force rebuilds.
# Needs root (apt-get, when busybox-static is missing) and access to the Docker engine.
set -euo pipefail

usage() {
  echo "usage: $0 [--force] [tag]" >&2
  exit 2
}

force=false
tag=""
for arg in "$@"; do
  case "$arg" in
    --force) force=true ;;
    -h | --help) usage ;;
    -*) echo "unknown option: $arg" >&2; usage ;;
    *)
      [[ -z "$tag" ]] || usage
      tag="$arg"
      ;;
  esac
done
tag="${tag:-gureum/busybox:latest}"

if [[ "$force" == false ]] && existing_id="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null)"; then
  echo "$existing_id"
  exit 0
fi

if ! dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
  echo "installing busybox-static" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends busybox-static >&2
fi
busybox_binary=/bin/busybox
# Debian's dynamic `busybox` package also ships /bin/busybox and conflicts with busybox-static;
# only a static build runs in a rootfs without a libc.
if ldd "$busybox_binary" >/dev/null 2>&1; then
  echo "$busybox_binary is dynamically linked; install busybox-static instead of busybox" >&2
  exit 1
fi

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
rootfs="$workdir/rootfs"

mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,proc,sys,dev,home,tmp,var/tmp}
chmod 0755 "$rootfs"
chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
chmod 0700 "$rootfs/root"
install -m 0755 "$busybox_binary" "$rootfs/bin/busybox"
# Same layout as `busybox --install -s` run inside the rootfs, without needing a chroot and a
# mounted /proc there: one absolute symlink per applet at the path busybox itself lists.
while IFS= read -r applet_path; do
  [[ "$applet_path" == bin/busybox ]] && continue
  ln -sfn /bin/busybox "$rootfs/$applet_path"
done < <("$busybox_binary" --list-full)
[[ -L "$rootfs/bin/sh" ]] || { echo "busybox has no sh applet" >&2; exit 1; }

cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
GROUP
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"

# Numeric owners and a fixed mtime make the layer independent of who built it and when.
tar --numeric-owner --owner=0 --group=0 --mtime='@0' -C "$rootfs" -c . |
  docker import --change 'CMD ["/bin/sh"]' - "$tag" >/dev/null
docker image inspect --format '{{.Id}}' "$tag"
