#!/usr/bin/env bash
# Build liboqs 0.16.0 (the version liboqs-python 0.16.0.1 in uv.lock expects) offline from the
# vendored tarball, as a shared Release library with only the algorithms meshlab uses, into a
# cache folder outside the clone. Reuses the cached build when its checksum matches. Prints the
# install prefix (use it as OQS_INSTALL_PATH) as the last line of stdout.
#
#   export OQS_INSTALL_PATH="$(tools/build_liboqs.sh | tail -n 1)"
#   uv sync --locked --extra liboqs
#
# Environment: LIBOQS_TARBALL (default ../shared/vendor/liboqs-0.16.0.tar.gz next to the clone),
# LIBOQS_PREFIX (default ${XDG_CACHE_HOME:-$HOME/.cache}/meshlab/liboqs-0.16.0-<sha256 prefix>).
# Exit status 2 when the tarball is missing (callers then skip the liboqs path).
set -euo pipefail

VERSION=0.16.0
SHA256=1b82e61efbe55b8ed98374d8b6f416e948b59154612153c71909b060e1368941
ALGS="KEM_ml_kem_512;KEM_ml_kem_768;KEM_ml_kem_1024;SIG_ml_dsa_44;SIG_ml_dsa_65;SIG_ml_dsa_87"
ALGS+=";SIG_slh_dsa_pure_sha2_128f;SIG_slh_dsa_pure_sha2_128s;SIG_falcon_512;SIG_falcon_1024"
ALGS+=";KEM_hqc_1;KEM_hqc_3;KEM_hqc_5"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tarball="${LIBOQS_TARBALL:-$here/../shared/vendor/liboqs-$VERSION.tar.gz}"
prefix="${LIBOQS_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/meshlab/liboqs-$VERSION-${SHA256:0:12}}"

if [[ -f "$prefix/.meshlab-build-ok" ]] && [[ "$(cat "$prefix/.meshlab-build-ok")" == "$SHA256 $ALGS" ]]; then
    echo "liboqs $VERSION: cached build in $prefix" >&2
    echo "$prefix"
    exit 0
fi
if [[ ! -f "$tarball" ]]; then
    echo "liboqs $VERSION: tarball not found at $tarball; liboqs stays disabled" >&2
    exit 2
fi
actual="$(sha256sum "$tarball" | cut -d' ' -f1)"
if [[ "$actual" != "$SHA256" ]]; then
    echo "liboqs $VERSION: checksum mismatch for $tarball: $actual != $SHA256" >&2
    exit 1
fi

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v gcc >/dev/null || missing+=(gcc)
[[ -f /usr/include/openssl/evp.h ]] || missing+=(libssl-dev)
if ((${#missing[@]})); then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        apt-get install -y --no-install-recommends "${missing[@]}" >&2
    else
        echo "liboqs $VERSION: missing build tools: ${missing[*]} (apt-get install them)" >&2
        exit 1
    fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar xzf "$tarball" -C "$work"
cmake -S "$work/liboqs-$VERSION" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=ON -DOQS_BUILD_ONLY_LIB=ON -DOQS_USE_OPENSSL=ON \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DOQS_MINIMAL_BUILD="$ALGS" >&2
ninja -C "$work/build" install >&2
echo "$SHA256 $ALGS" >"$prefix/.meshlab-build-ok"
echo "liboqs $VERSION: built into $prefix" >&2
echo "$prefix"
