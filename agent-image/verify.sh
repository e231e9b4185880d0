#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted $VARS are meant for the inner shell and dpkg-query
# Verifies agent-image/ as far as this machine allows (no container engine, no cluster):
#  1. OpenShift templates and pod templates parse and carry the required fields (verify_static.py);
#  2. the Containerfiles' structure (stages, Swift UBI 9 builder, --static-swift-stdlib, numeric
#     USER, group-0 HOME, labels, runtime packages, smoke test) (verify_static.py);
#  3. with IMGPROMOTE_BIN set: the binary runs in a Debian root file system holding only the
#     essential packages plus the Debian equivalents of the Containerfile's runtime packages,
#     set up by the Containerfile's own set-up commands, as an arbitrary UID in group 0.
# Env:
#  IMGPROMOTE_BIN            binary to test (agent-image/build-binary.sh OUT builds it like the images)
#  IMGPROMOTE_SMOKE_ARGS     arguments for the smoke run instead of the Containerfile's (`version`)
#  IMGPROMOTE_ROOTFS_CACHE   cache of root file systems (default /var/cache/imgpromote-rootfs)
#  IMGPROMOTE_ROOTFS_SUITE   Debian suite (default bookworm); IMGPROMOTE_ROOTFS_MIRROR a mirror URL
#  IMGPROMOTE_NO_INSTALL     set to never apt-get install missing tools
# Ends with "verify: N passed, N failed". Exit status 0 only when nothing failed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0 skipped=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
skip() { echo "SKIP $*"; skipped=$((skipped + 1)); }
info() { echo "     $*"; }
summary() {
  echo "verify: $passed passed, $failed failed$([ "$skipped" -gt 0 ] && echo ", $skipped skipped")"
  [ "$failed" -eq 0 ]
  exit
}
can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${IMGPROMOTE_NO_INSTALL-}" ]; }
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1; }
}

# ---- 1 + 2: static checks -----------------------------------------------------------------------
PY=python3
if ! "$PY" -c 'import yaml' 2>/dev/null; then
  if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
    PY=/usr/bin/python3
  elif can_install && apt_install python3-yaml && /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
    PY=/usr/bin/python3
  else
    fail "python3 with PyYAML is needed (apt-get install python3-yaml)"
    summary
  fi
fi
static_out=$("$PY" "$here/verify_static.py" check)
echo "$static_out" | grep -v '^static: '
line=$(echo "$static_out" | tail -n 1)
if [[ $line =~ ^static:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1])) failed=$((failed + BASH_REMATCH[2]))
else
  fail "verify_static.py did not finish: $line"
fi

# ---- 3: the binary in a root file system with only the runtime packages ------------------------
if [ -z "${IMGPROMOTE_BIN-}" ]; then
  skip "rootfs run: IMGPROMOTE_BIN is not set (agent-image/build-binary.sh OUT, then IMGPROMOTE_BIN=OUT/imgpromote)"
  summary
fi
if [ ! -f "$IMGPROMOTE_BIN" ] || [ ! -x "$IMGPROMOTE_BIN" ]; then
  fail "rootfs run: IMGPROMOTE_BIN=$IMGPROMOTE_BIN is not an executable file"
  summary
fi
if [ "$(id -u)" != 0 ]; then
  fail "rootfs run: needs root (mmdebstrap, chroot)"
  summary
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
  can_install && apt_install mmdebstrap
  command -v mmdebstrap >/dev/null 2>&1 || { fail "rootfs run: mmdebstrap is missing (apt-get install mmdebstrap)"; summary; }
fi

packages=$("$PY" "$here/verify_static.py" debian-packages)
setup=$("$PY" "$here/verify_static.py" setup-script Containerfile)
home=$("$PY" "$here/verify_static.py" home Containerfile)
smoke=$("$PY" "$here/verify_static.py" smoke-command Containerfile)
[ -n "${IMGPROMOTE_SMOKE_ARGS-}" ] && smoke="imgpromote $IMGPROMOTE_SMOKE_ARGS"
suite=${IMGPROMOTE_ROOTFS_SUITE:-bookworm}
arch=$(dpkg --print-architecture)
cache=${IMGPROMOTE_ROOTFS_CACHE:-/var/cache/imgpromote-rootfs}
key="$suite-$arch-essential-$(echo "$packages" | tr ',' '+')"
base="$cache/$key"
mkdir -p "$cache"
(
  flock 9
  if [ ! -f "$base/.imgpromote-rootfs-complete" ]; then
    echo "     building $base with mmdebstrap (cached for later runs)"
    rm -rf "$base" "$base.tmp"
    # shellcheck disable=SC2086
    if timeout 900 mmdebstrap --quiet --variant=essential --include="$packages" "$suite" "$base.tmp" \
         ${IMGPROMOTE_ROOTFS_MIRROR-} >"$cache/$key.log" 2>&1; then
      touch "$base.tmp/.imgpromote-rootfs-complete" && mv "$base.tmp" "$base"
    else
      tail -n 20 "$cache/$key.log"
    fi
  fi
) 9>"$cache/.lock"
if [ ! -f "$base/.imgpromote-rootfs-complete" ]; then
  fail "rootfs: mmdebstrap --variant=essential --include=$packages $suite (log: $cache/$key.log)"
  summary
fi
npk=$(chroot "$base" dpkg-query -W -f '${Package}\n' | wc -l)
pass "rootfs: Debian $suite essential + $packages ($npk packages, nothing else)"

work=$(mktemp -d /tmp/imgpromote-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"
cp -a "$base" "$root"
install -m 0755 "$IMGPROMOTE_BIN" "$root/usr/local/bin/imgpromote"

# The Containerfile's own set-up commands (after COPY --from=build, before USER 1001), as root.
if chroot "$root" /bin/sh -c "$setup" >"$work/setup.log" 2>&1; then
  pass "image set-up commands from the Containerfile run in the rootfs"
else
  fail "image set-up commands failed: $(tail -n 3 "$work/setup.log")"
fi

# Runs a command in the rootfs as UID:GID with a fresh /proc and a clean environment.
in_rootfs() {
  local user=$1
  shift
  timeout 120 unshare --mount --pid --fork --mount-proc="$root/proc" \
    chroot --userspec="$user" --groups=0 "$root" \
    /usr/bin/env -i HOME="$home" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 /bin/sh -c "$*"
}

magic=$(head -c 4 "$IMGPROMOTE_BIN" | od -An -c | tr -d ' ')
if [ "$magic" = '177ELF' ]; then pass "binary is an ELF executable"; else fail "binary is not ELF ($magic)"; fi

ldd_out=$(chroot "$root" ldd /usr/local/bin/imgpromote 2>&1)
ldd_rc=$?
if echo "$ldd_out" | grep -q 'not found'; then
  fail "ldd in the rootfs: missing libraries:"
  echo "$ldd_out" | grep 'not found' | sed 's/^/     /'
elif [ $ldd_rc -ne 0 ] && ! echo "$ldd_out" | grep -qE 'not a dynamic executable|statically linked'; then
  fail "ldd in the rootfs failed: $ldd_out"
else
  pass "ldd in the rootfs: every shared library is found"
  libs=$(echo "$ldd_out" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
  owners=$(for l in $libs; do
    chroot "$root" dpkg -S "$l" 2>/dev/null || chroot "$root" dpkg -S "/usr$l" 2>/dev/null
  done | cut -d: -f1 | sort -u | tr '\n' ' ')
  info "direct + transitive libraries: $(echo "$libs" | wc -w), from: $owners"
fi
if echo "$ldd_out" | grep -q 'libswift'; then
  fail "binary needs Swift runtime libraries (not built with --static-swift-stdlib)"
else
  pass "binary needs no Swift runtime shared library"
fi

uid=1000680000
id_out=$(in_rootfs "$uid:0" 'id -u; id -g; test -w "$HOME" && echo home-writable' 2>&1)
if [ "$id_out" = "$uid"$'\n'0$'\n'home-writable ]; then
  pass "arbitrary UID $uid, GID 0, no passwd entry: HOME=$home is writable"
else
  fail "arbitrary UID: expected uid $uid, gid 0, writable $home; got: $id_out"
fi
if in_rootfs "$uid:0" 'mkdir -p "$HOME/.config/imgpromote/probe" && touch "$HOME/.kube/probe"' >"$work/w.log" 2>&1; then
  pass "arbitrary UID can create files under $home/.config and $home/.kube"
else
  fail "arbitrary UID cannot write under $home: $(cat "$work/w.log")"
fi
for user in "$uid:0" "1001:0"; do
  if out=$(in_rootfs "$user" "$smoke" 2>&1); then
    pass "smoke test as $user in the rootfs: $smoke -> $(echo "$out" | head -n 1)"
  else
    fail "smoke test as $user: $smoke -> $(echo "$out" | tail -n 3)"
  fi
done
if [ -s "$root/etc/ssl/certs/ca-certificates.crt" ]; then
  pass "CA bundle present (/etc/ssl/certs/ca-certificates.crt; on UBI: /etc/pki/tls/certs/ca-bundle.crt)"
else
  fail "CA bundle missing in the rootfs"
fi
glibc=$(grep -aoE 'GLIBC_2\.[0-9]+' "$IMGPROMOTE_BIN" | sort -t. -k2,2n -u | tail -n 1)
if [ -n "$glibc" ]; then
  info "binary needs up to $glibc; UBI 9 / RHEL 9 have GLIBC_2.34"
  if [ "${glibc#GLIBC_2.}" -gt 34 ]; then
    info "note: this binary was built against a newer glibc than UBI 9's; the images build it on UBI 9"
  fi
fi
summary
