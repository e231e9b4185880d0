#!/bin/sh
# Builds the imgpromote executable exactly as the images do (Containerfile, Containerfile.slim,
# and CI's rootfs check all call this): release, Swift runtime linked statically, so the
# image needs only glibc, libstdc++, libcurl, OpenSSL, libyaml and the CA bundle at run time.
# Usage: agent-image/build-binary.sh OUTDIR   (run from anywhere; builds the package at the repo root)
# Writes OUTDIR/imgpromote (stripped) and OUTDIR/imgpromote.debug (its symbols; needs binutils' objcopy).
# Env: SWIFT_BUILD_PATH  scratch path for SwiftPM (default: .build-agent-image at the repo root)
set -eu
out=${1:?usage: build-binary.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=${SWIFT_BUILD_PATH:-$root/.build-agent-image}
cd "$root"
swift build -c release --static-swift-stdlib --product imgpromote --scratch-path "$scratch"
bin=$(swift build -c release --static-swift-stdlib --product imgpromote --scratch-path "$scratch" --show-bin-path)
mkdir -p "$out"
# Shipped stripped; the symbols go to imgpromote.debug beside it, which the binary names in its
# .gnu_debuglink section (with a CRC), so gdb / eu-stack / llvm-symbolizer pick it up for crash reports
# when it sits next to the binary or under /usr/lib/debug.
objcopy --only-keep-debug "$bin/imgpromote" "$out/imgpromote.debug"
objcopy --strip-all --add-gnu-debuglink="$out/imgpromote.debug" "$bin/imgpromote" "$out/imgpromote"
chmod 0644 "$out/imgpromote.debug"
chmod 0755 "$out/imgpromote"
echo "built $out/imgpromote ($(wc -c <"$out/imgpromote") bytes, stripped; symbols: $out/imgpromote.debug," \
     "$(wc -c <"$out/imgpromote.debug") bytes)"
