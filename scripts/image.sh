#!/usr/bin/env bash
# Builds the Plait container image FROM scratch (no base image is pulled, no registry is needed):
#
#     ./scripts/image.sh                   # release build, then localhost/plait:latest
#     PLAIT_BIN=path/to/plait ./scripts/image.sh    # package this binary instead of building
#     PLAIT_IMAGE=localhost/plait:dev ./scripts/image.sh
#
# Needs Debian's buildah (or podman) and binutils (`strip`); tested as root, as .ci/run runs.
# Lays out a build context in a temporary directory (the binary with its debug sections stripped,
# the shared libraries `ldd` lists, CA certificates, passwd/group for the uid 10001,
# nsswitch.conf, /tmp) and builds ../Containerfile from it. The image is written in the Docker
# format, the one that keeps HEALTHCHECK (PLAIT_IMAGE_FORMAT=oci for a plain OCI image).
# Prints the image name and its size last.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

image=${PLAIT_IMAGE:-localhost/plait:latest}
format=${PLAIT_IMAGE_FORMAT:-docker}

if command -v buildah >/dev/null 2>&1; then
  build=(buildah bud)
elif command -v podman >/dev/null 2>&1; then
  build=(podman build)
else
  echo "image.sh: neither buildah nor podman is installed (apt-get install buildah podman)" >&2
  exit 1
fi

if [ -n "${PLAIT_BIN:-}" ]; then
  bin=$PLAIT_BIN
else
  echo "==> cargo build --release --bin plait" >&2
  cargo build --release --bin plait
  bin=${CARGO_TARGET_DIR:-$root/target}/release/plait
fi
[ -x "$bin" ] || { echo "image.sh: no executable plait binary at $bin" >&2; exit 1; }

# A binary built with PLAIT_SKIP_WEB_BUILD=1 serves a placeholder page instead of the web demo.
if grep -q 'Plait is running</h1>' "$bin" && [ "${PLAIT_IMAGE_ALLOW_PLACEHOLDER:-}" != 1 ]; then
  echo "image.sh: $bin embeds the placeholder page, not the web demo (built with" \
    "PLAIT_SKIP_WEB_BUILD=1); rebuild it with Node.js, or set PLAIT_IMAGE_ALLOW_PLACEHOLDER=1" >&2
  exit 1
fi

ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || { echo "image.sh: $ca is missing (apt-get install ca-certificates)" >&2; exit 1; }

ctx=$(mktemp -d "${TMPDIR:-/tmp}/plait-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
fs=$ctx/rootfs
mkdir -p "$fs/usr/local/bin" "$fs/etc/ssl/certs" "$ctx/data"
mkdir -m 1777 "$fs/tmp"

# The binary, without its debug sections (symbols stay, so a panic's backtrace names functions).
strip --strip-debug -o "$fs/usr/local/bin/plait" "$bin"
version=$("$fs/usr/local/bin/plait" --version | awk '{print $2}')

# Every shared object the binary loads, at the path the dynamic loader looks for it (the loader
# itself, /lib64/ld-linux-*.so.*, is named by the binary's program header), symlinks resolved.
# A static binary has none ("not a dynamic executable").
libs=$( (ldd "$bin" 2>/dev/null || true) | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
for lib in $libs; do
  mkdir -p "$fs$(dirname "$lib")"
  cp -L "$lib" "$fs$lib"
done

cp -L "$ca" "$fs$ca"
cat >"$fs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
plait:x:10001:10001:Plait:/data:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat >"$fs/etc/group" <<'EOF'
root:x:0:
plait:x:10001:
nogroup:x:65534:
EOF
# Without this file glibc asks DNS before /etc/hosts.
cat >"$fs/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF

echo "==> ${build[*]} -t $image (plait $version, $(echo "$libs" | wc -w) libraries)" >&2
"${build[@]}" --format "$format" --layers=false --build-arg "VERSION=$version" \
  -f "$root/Containerfile" -t "$image" "$ctx" >&2

size=$(podman image inspect --format '{{.Size}}' "$image" 2>/dev/null \
  || buildah inspect --type image --format '{{.ImageSize}}' "$image" 2>/dev/null || echo '?')
echo "$image $size bytes"
