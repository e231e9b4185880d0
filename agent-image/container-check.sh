#!/usr/bin/env bash
# Builds both images of agent-image/ for real and runs them:
#  1. makes stand-in base images locally (the real ones cannot be pulled here; see STAND-INS below),
#  2. builds Containerfile and Containerfile.slim with buildah against them (build args for the bases),
#  3. runs each image with podman as an arbitrary UID in group 0 (HOME writable, imgpromote runs),
#  4. starts two emulated OpenShift clusters (and a plain htpasswd registry standing in for Quay) on
#     127.0.0.1 and promotes an image with the Jenkins step's own shell script (taken verbatim from
#     jenkins/vars/imgpromote.groovy) from inside each image, host network, /bin/sh = dash;
#     the result is read from the step's protocol lines and cross-checked with skopeo.
# Needs root, buildah, podman, runc, mmdebstrap, skopeo, docker-registry, htpasswd, python3, swift.
# Ends with "container-check: N passed, N failed (S s)". Exit status 0 only when nothing failed.
#
# STAND-INS (what each fakes; all built from Debian 12 by mmdebstrap, cached in $cache):
#  swift builder (for SWIFT_IMAGE = swift:6.3-rhel-ubi9): Debian 12 with the C/C++ build packages
#    and the -dev packages the Containerfile installs; the Swift toolchain is the host's /opt/swift
#    (same Swift 6.3.1), mounted read-only into the build (buildah --volume), not installed. glibc is
#    Debian's 2.36, not UBI 9's 2.34. `dnf` and `rpm` are shims: `rpm -q --whatprovides NAME` answers
#    from dpkg for the RHEL names the Containerfiles use; `dnf install` succeeds only if every named
#    package is already present (mapped to its Debian name) and never downloads; `dnf clean` no-ops.
#    SwiftPM's scratch directory is a cache volume seeded with the already-resolved swift-argument-parser
#    checkout, so the build needs no network.
#  runtime (for AGENT_BASE_IMAGE = jenkins-agent-base-rhel9 and RUNTIME_IMAGE = ubi9/ubi-minimal):
#    Debian 12 essential + libcurl4, libssl3, libyaml-0-2, libstdc++6, ca-certificates, with the rpm/dnf/microdnf
#    shims. No Java and no Jenkins remoting agent (the real agent base's entrypoint), no passwd
#    entry for 1001, no RHEL CA layout (/etc/pki): the Jenkins agent part is not exercised.
#
# Env: IMGPROMOTE_CHECK_CACHE (default /var/cache/imgpromote-container-check): stand-in tarballs,
#      image storage, SwiftPM cache. IMGPROMOTE_CHECK_STORAGE_DRIVER (default overlay; vfs works anywhere).
#      IMGPROMOTE_NO_INSTALL: never apt-get install missing tools.
set -uo pipefail

start=$(date +%s)
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
passed=0 failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
info() { echo "     $*"; }
summary() {
  echo "container-check: $passed passed, $failed failed ($(($(date +%s) - start)) s)"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
  exit
}
die() { fail "$*"; summary; }

[ "$(id -u)" = 0 ] || die "needs root (buildah/podman with --isolation chroot and runc as root)"
need=()
for t in buildah:buildah podman:podman runc:runc mmdebstrap:mmdebstrap skopeo:skopeo docker-registry:docker-registry \
         htpasswd:apache2-utils python3:python3 objcopy:binutils; do
  command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ -z "${IMGPROMOTE_NO_INSTALL-}" ] && command -v apt-get >/dev/null; then
    echo "     installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1; }
  fi
  for t in buildah podman runc mmdebstrap skopeo docker-registry htpasswd python3; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t"
  done
fi
swift_root=$(dirname "$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")")
[ -x "$swift_root/usr/bin/swift-build" ] || die "no Swift toolchain found (swift on PATH)"

cache=${IMGPROMOTE_CHECK_CACHE:-/var/cache/imgpromote-container-check}
mkdir -p "$cache"
work=$(mktemp -d /tmp/imgpromote-container-check.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
  # --one-file-system: never follow a mount point out of the work directory.
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- container engine configuration: private storage, runc, cgroupfs, no default ulimits -------
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
EOF
cat >"$work/storage.conf" <<EOF
[storage]
driver = "${IMGPROMOTE_CHECK_STORAGE_DRIVER:-overlay}"
graphroot = "$cache/storage"
runroot = "$cache/run"
EOF
export CONTAINERS_CONF="$work/containers.conf" CONTAINERS_STORAGE_CONF="$work/storage.conf"
export BUILDAH_ISOLATION=chroot
standin=localhost/imgpromote-standin

# ---- 1. stand-in base images ----------------------------------------------------------------
mkdir -p "$work/shims"
cat >"$work/shims/rpm" <<'EOF'
#!/bin/sh
# STAND-IN rpm (Debian underneath): only `rpm -q --whatprovides NAME` for the names the
# Containerfiles use, answered from dpkg. Anything else fails.
deb_of() {
  case "$1" in
    libcurl) echo libcurl4 ;; openssl-libs) echo libssl3 ;; libstdc++) echo libstdc++6 ;;
    ca-certificates) echo ca-certificates ;; libcurl-devel) echo libcurl4-openssl-dev ;;
    openssl-devel) echo libssl-dev ;; pkgconf-pkg-config) echo pkg-config ;;
    libyaml) echo libyaml-0-2 ;; libyaml-devel) echo libyaml-dev ;; *) return 1 ;;
  esac
}
if [ "$#" -eq 3 ] && [ "$1" = -q ] && [ "$2" = --whatprovides ]; then
  deb=$(deb_of "$3") || { echo "stand-in rpm: no Debian mapping for $3" >&2; exit 1; }
  if dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q 'install ok installed'; then
    echo "$3 (stand-in: Debian $deb)"
    exit 0
  fi
  echo "no package provides $3"
  exit 1
fi
echo "stand-in rpm: unsupported: rpm $*" >&2
exit 1
EOF
cat >"$work/shims/dnf" <<'EOF'
#!/bin/sh
# STAND-IN dnf/microdnf: `install` succeeds only if every package is already present (checked
# with the stand-in rpm); it never downloads. `clean` does nothing.
cmd=
for a in "$@"; do
  case "$a" in
    -*) ;;
    *) if [ -z "$cmd" ]; then cmd=$a; continue; fi
       if [ "$cmd" = install ]; then
         rpm -q --whatprovides "$a" >/dev/null || { echo "stand-in dnf: the stand-in base lacks $a" >&2; exit 1; }
       fi ;;
  esac
done
case "$cmd" in install|clean) exit 0 ;; esac
echo "stand-in dnf: unsupported: $*" >&2
exit 1
EOF
chmod 0755 "$work/shims/rpm" "$work/shims/dnf"

cp "$work/shims/dnf" "$work/shims/microdnf"
# make_standin NAME PACKAGES [podman import --change ...]: prints the image name.
make_standin() {
  local name=$1 packages=$2
  shift 2
  local key
  key=$(printf '%s\n' "$packages" "$(cat "$work/shims/rpm" "$work/shims/dnf")" | sha256sum | cut -c1-12)
  local tarball="$cache/standin-$name-$key.tar"
  if [ ! -f "$tarball" ]; then
    info "mmdebstrap bookworm: $name stand-in ($packages)" >&2
    # Straight to a tarball: mmdebstrap mounts and unmounts in its own temporary directory.
    if ! timeout 1200 mmdebstrap --quiet --variant=essential --include="$packages" \
         --customize-hook="copy-in $work/shims/rpm $work/shims/dnf $work/shims/microdnf /usr/bin/" \
         bookworm "$tarball.tmp.tar" >"$work/mmdebstrap-$name.log" 2>&1; then
      tail -n 20 "$work/mmdebstrap-$name.log" >&2
      rm -f "$tarball.tmp.tar"
      return 1
    fi
    mv "$tarball.tmp.tar" "$tarball"
  fi
  podman import "$@" "$tarball" "$standin/$name:$key" >"$work/import-$name.log" 2>&1 ||
    { cat "$work/import-$name.log" >&2; return 1; }
  echo "$standin/$name:$key"
}
runtime_pkgs="libcurl4,libssl3,libyaml-0-2,libstdc++6,ca-certificates"
builder_pkgs="libc6-dev,libstdc++-12-dev,libgcc-12-dev,binutils,libcurl4-openssl-dev,libssl-dev,libyaml-dev,pkg-config,zlib1g-dev,libncurses6,libcom-err2,libkeyutils1,git,ca-certificates,libsqlite3-0,libedit2,libxml2,libffi8,libuuid1,libbsd0"
runtime_image=$(make_standin runtime "$runtime_pkgs") || die "runtime stand-in base"
pass "runtime stand-in base $runtime_image (Debian 12 + $runtime_pkgs, rpm/dnf/microdnf shims)"
builder_image=$(make_standin swift-builder "$builder_pkgs" \
  --change "ENV PATH=$swift_root/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") ||
  die "swift builder stand-in base"
pass "swift builder stand-in base $builder_image (Debian 12 build packages; toolchain $swift_root mounted)"

# ---- 2. build both Containerfiles -----------------------------------------------------------
# SwiftPM scratch cache: seeded with the resolved dependency checkouts, so the build is offline.
swiftpm="$cache/swift-build"
if [ ! -d "$swiftpm/checkouts/swift-argument-parser" ]; then
  mkdir -p "$swiftpm"
  (cd "$root" && timeout 600 swift package resolve --scratch-path "$swiftpm" >"$work/resolve.log" 2>&1) ||
    { tail -n 5 "$work/resolve.log"; die "swift package resolve (seeding the SwiftPM cache)"; }
fi
build() { # build FILE TAG
  local file=$1 tag=$2
  local t0
  t0=$(date +%s)
  if (cd "$root" && timeout 1800 buildah build --isolation chroot --layers --pull=never \
        --build-arg SWIFT_IMAGE="$builder_image" --build-arg AGENT_BASE_IMAGE="$runtime_image" \
        --build-arg RUNTIME_IMAGE="$runtime_image" --build-arg IMAGE_SOURCE=https://example.com/imgpromote.git \
        --volume "$swift_root:$swift_root:ro" --volume "$swiftpm:/tmp/swift-build" \
        -f "agent-image/$file" -t "$tag" . >"$work/build-$file.log" 2>&1); then
    pass "buildah build -f agent-image/$file -> $tag ($(($(date +%s) - t0)) s)"
    return 0
  fi
  fail "buildah build -f agent-image/$file:"
  tail -n 25 "$work/build-$file.log" | sed 's/^/     /'
  return 1
}
agent=localhost/imgpromote-agent:check
slim=localhost/imgpromote-slim:check
built=()
build Containerfile "$agent" && built+=("$agent")
build Containerfile.slim "$slim" && built+=("$slim")
[ ${#built[@]} -gt 0 ] || summary

# ---- 3. each image as an arbitrary UID in group 0 -----------------------------------------------
uid=1000680000
run() { # run IMAGE CMD... : podman run as $uid:0, host network, shell entrypoint
  local image=$1
  shift
  timeout 300 podman run --rm --network host --user "$uid:0" --entrypoint /bin/sh "$image" -c "$@"
}
for image in "${built[@]}"; do
  user=$(podman image inspect -f '{{.Config.User}}' "$image")
  home=$(podman image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$image" | sed -n 's/^HOME=//p')
  [ "$user" = 1001 ] && [ "$home" = /home/jenkins ] && pass "$image: USER 1001, HOME=/home/jenkins" ||
    fail "$image: USER '$user', HOME '$home'"
  out=$(run "$image" 'id -u; id -g; test -w "$HOME" && mkdir "$HOME/probe" && touch "$HOME/.config/imgpromote/probe" && echo writable; imgpromote version' 2>&1)
  if [ "$(echo "$out" | sed -n 1,3p | tr '\n' ' ')" = "$uid 0 writable " ] && echo "$out" | grep -q '^imgpromote '; then
    pass "$image as $uid:0: HOME writable, $(echo "$out" | sed -n 4p | cut -c1-60)"
  else
    fail "$image as $uid:0: $out"
  fi
  # The shipped binary, copied out and inspected on the host (the runtime has no binutils).
  run "$image" 'cat /usr/local/bin/imgpromote' >"$work/shipped" 2>/dev/null
  size=$(wc -c <"$work/shipped")
  if [ "$size" -gt 1000000 ] && ! readelf -S "$work/shipped" | grep -qE '\.symtab|\.debug_info' &&
     readelf --string-dump=.gnu_debuglink "$work/shipped" | grep -q 'imgpromote\.debug'; then
    pass "$image: /usr/local/bin/imgpromote is stripped ($size bytes), .gnu_debuglink names imgpromote.debug"
  else
    fail "$image: /usr/local/bin/imgpromote ($size bytes) has symbols or no debug link"
  fi
done

# ---- 4. promotions from inside the images, with the step's script --------------------------------
(cd "$root" && timeout 900 swift build --product openshift-emulator >"$work/emulator-build.log" 2>&1 &&
  timeout 900 swift build --product imgpromote >>"$work/emulator-build.log" 2>&1) ||
  { tail -n 10 "$work/emulator-build.log"; die "swift build --product openshift-emulator"; }
bin=$(cd "$root" && swift build --show-bin-path)
emulator="$bin/openshift-emulator"
host_imgpromote="$bin/imgpromote"

# shellcheck source=../scripts/lib/clusters.sh
source "$root/scripts/lib/clusters.sh"
start_clusters "$emulator" || die "emulated clusters did not start"
quay_pw=$(secret)
# A plain registry with htpasswd auth, standing in for Quay / Harbor / Artifactory.
quay_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/quay/data"
htpasswd -Bbn team+ci "$quay_pw" >"$work/quay/htpasswd" 2>/dev/null
cat >"$work/quay/config.yml" <<EOF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $work/quay/data}}
http: {addr: 127.0.0.1:$quay_port}
auth: {htpasswd: {realm: quay-standin, path: $work/quay/htpasswd}}
EOF
docker-registry serve "$work/quay/config.yml" >"$work/quay/log" 2>&1 &
pids+=($!)
dev_api=$(cluster_field dev apiURL) prod_api=$(cluster_field prod apiURL)
dev_reg=$(cluster_field dev registryHost) prod_reg=$(cluster_field prod registryHost)
quay="127.0.0.1:$quay_port"
mkdir -p "$work/step" "$work/certs-dev" "$work/certs-prod"
cp "$(cluster_field dev caBundlePath)" "$work/step/dev-ca.pem"
cp "$(cluster_field prod caBundlePath)" "$work/step/prod-ca.pem"
cp "$work/step/dev-ca.pem" "$work/certs-dev/ca.crt"
cp "$work/step/prod-ca.pem" "$work/certs-prod/ca.crt"
pass "emulated clusters dev ($dev_api) and prod ($prod_api), plain registry $quay"

# Seed: alice pushes shop/app:1.0 to dev; the same image goes to the plain registry as team/app:1.0.
python3 "$root/bench/make-image.py" "$work/layout" 1.0 --layers 2x512K --platforms linux/amd64,linux/arm64 --seed 14 >/dev/null ||
  die "bench/make-image.py"
IMGPROMOTE_PASSWORD="$alice_pw" "$host_imgpromote" login --quiet --cluster "$dev_api" --ca-file "$work/step/dev-ca.pem" \
  --username alice --authfile "$work/alice-auth.json" >/dev/null 2>"$work/login.log" || { cat "$work/login.log"; die "login to dev"; }
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/policy.json"
skopeo copy --quiet --all --policy "$work/policy.json" --authfile "$work/alice-auth.json" --dest-cert-dir "$work/certs-dev" \
  "oci:$work/layout:1.0" "docker://$dev_reg/shop/app:1.0" || die "seeding dev with skopeo"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$quay" "$(printf 'team+ci:%s' "$quay_pw" | base64 -w0)" >"$work/quay-auth.json"
skopeo copy --quiet --all --policy "$work/policy.json" --authfile "$work/quay-auth.json" --dest-tls-verify=false \
  "oci:$work/layout:1.0" "docker://$quay/team/app:1.0" || die "seeding the plain registry with skopeo"
expected=$(skopeo inspect --raw --authfile "$work/alice-auth.json" --cert-dir "$work/certs-dev" "docker://$dev_reg/shop/app:1.0" | sha256sum | cut -d' ' -f1)
expected_quay=$(skopeo inspect --raw --authfile "$work/quay-auth.json" --tls-verify=false "docker://$quay/team/app:1.0" | sha256sum | cut -d' ' -f1)

# The step's script, verbatim: the ''' literal SCRIPT of jenkins/vars/imgpromote.groovy, unescaped
# as Groovy does (\\ -> \, \' -> ').
python3 - "$root/jenkins/vars/imgpromote.groovy" "$work/step/step.sh" <<'EOF' || die "extracting SCRIPT from imgpromote.groovy"
import re, sys
src = open(sys.argv[1]).read()
m = re.search(r"String SCRIPT = '''(.*?)'''", src, re.S)
open(sys.argv[2], "w").write(re.sub(r"\\(.)", lambda x: x.group(1) if x.group(1) in "\\'" else x.group(0), m.group(1)))
EOF
chmod -R a+rX "$work/step"
prod_login() { # an auth file for prod, from the promoter's token (for skopeo)
  IMGPROMOTE_TOKEN="$prod_sa" "$host_imgpromote" login --quiet --cluster "$prod_api" --ca-file "$work/step/prod-ca.pem" \
    --authfile "$work/prod-auth.json" >/dev/null 2>&1
}
prod_login || die "login to prod"

# promote IMAGE NAME WANT_DIGEST ARG... : runs the step script in IMAGE with argv ARG... (the
# IMGPROMOTE_STEP_ARG_n variables the step sets) and the credentials already exported here.
promote() {
  local image=$1 name=$2 want=$3
  shift 3
  local envs=(-e "IMGPROMOTE_STEP_ARGC=$#" -e IMGPROMOTE_STEP_BIN=imgpromote)
  local i=0
  for a in "$@"; do envs+=(-e "IMGPROMOTE_STEP_ARG_$i=$a"); i=$((i + 1)); done
  # Secrets: `-e NAME` copies the value from this environment: never in podman's argv.
  for v in IMGPROMOTE_SRC_TOKEN IMGPROMOTE_DEST_TOKEN IMGPROMOTE_SRC_USERNAME IMGPROMOTE_SRC_PASSWORD \
           IMGPROMOTE_STEP_SRC_AUTH IMGPROMOTE_STEP_DEST_AUTH; do
    [ -n "${!v-}" ] && envs+=(-e "$v")
  done
  local out
  out=$(timeout 300 podman run --rm --network host --user "$uid:0" -v "$work/step:/step:ro" "${envs[@]}" \
          --entrypoint /bin/sh "$image" /step/step.sh 2>"$work/promote.log")
  local status report
  status=$(echo "$out" | sed -n 's/^@@imgpromote-status //p')
  report=$(echo "$out" | sed -n 's/^@@imgpromote-report //p' | base64 -d 2>/dev/null)
  local digest
  digest=$(printf '%s' "$report" | python3 -c 'import json,sys; print(json.load(sys.stdin)["destination"]["digest"])' 2>/dev/null)
  local leaked=
  for s in "$dev_sa" "$prod_sa" "$quay_pw" "$alice_pw"; do
    grep -qF "$s" "$work/promote.log" && leaked=yes
    printf '%s' "$out" | grep -qF "$s" && leaked=yes
  done
  if [ "$status" = 0 ] && [ "$digest" = "sha256:$want" ] && [ -z "$leaked" ]; then
    pass "$image: $name with the step's script (dash, uid $uid:0): status 0, report digest sha256:${want:0:12}..."
    return 0
  fi
  fail "$image: $name: status '$status', digest '$digest' (want sha256:$want), secret in output: ${leaked:-no}"
  tail -n 8 "$work/promote.log" | sed 's/^/     /'
  return 1
}
for image in "${built[@]}"; do
  tag=$(basename "${image%%:*}")
  # OpenShift -> OpenShift: service-account tokens of both clusters (as the step binds Secret text).
  if IMGPROMOTE_SRC_TOKEN=$dev_sa IMGPROMOTE_DEST_TOKEN=$prod_sa IMGPROMOTE_STEP_SRC_AUTH=token IMGPROMOTE_STEP_DEST_AUTH=token \
     promote "$image" "dev -> prod" "$expected" copy "--src-cluster=$dev_api" --src-ca-file=/step/dev-ca.pem \
       "--dest-cluster=$prod_api" --dest-ca-file=/step/prod-ca.pem shop/app:1.0 "shop/app:$tag"; then
    seen=$(skopeo inspect --raw --authfile "$work/prod-auth.json" --cert-dir "$work/certs-prod" "docker://$prod_reg/shop/app:$tag" | sha256sum | cut -d' ' -f1)
    [ "$seen" = "$expected" ] && pass "skopeo: prod shop/app:$tag = dev shop/app:1.0" || fail "skopeo: prod shop/app:$tag is sha256:$seen"
  fi
  # Plain registry (Quay stand-in, user + password) -> OpenShift (token).
  if IMGPROMOTE_SRC_USERNAME=team+ci IMGPROMOTE_SRC_PASSWORD=$quay_pw IMGPROMOTE_DEST_TOKEN=$prod_sa \
     IMGPROMOTE_STEP_SRC_AUTH=password IMGPROMOTE_STEP_DEST_AUTH=token \
     promote "$image" "quay -> prod" "$expected_quay" copy --src-tls-verify=false \
       "--dest-cluster=$prod_api" --dest-ca-file=/step/prod-ca.pem "$quay/team/app:1.0" "shop/app:from-quay-$tag"; then
    seen=$(skopeo inspect --raw --authfile "$work/prod-auth.json" --cert-dir "$work/certs-prod" "docker://$prod_reg/shop/app:from-quay-$tag" | sha256sum | cut -d' ' -f1)
    [ "$seen" = "$expected_quay" ] && pass "skopeo: prod shop/app:from-quay-$tag = $quay/team/app:1.0" || fail "skopeo: prod shop/app:from-quay-$tag is sha256:$seen"
  fi
done
# A failure is a failure: a wrong password on the plain side gives status 3 through the same path.
out=$(IMGPROMOTE_SRC_USERNAME=team+ci IMGPROMOTE_SRC_PASSWORD=wrong IMGPROMOTE_STEP_SRC_AUTH=password \
  timeout 120 podman run --rm --network host --user "$uid:0" -v "$work/step:/step:ro" -e IMGPROMOTE_STEP_ARGC=4 \
  -e IMGPROMOTE_STEP_ARG_0=copy -e IMGPROMOTE_STEP_ARG_1=--src-tls-verify=false -e "IMGPROMOTE_STEP_ARG_2=$quay/team/app:1.0" \
  -e "IMGPROMOTE_STEP_ARG_3=$quay/team/app:never" -e IMGPROMOTE_SRC_USERNAME -e IMGPROMOTE_SRC_PASSWORD -e IMGPROMOTE_STEP_SRC_AUTH \
  --entrypoint /bin/sh "${built[0]}" /step/step.sh 2>/dev/null)
[ "$(echo "$out" | sed -n 's/^@@imgpromote-status //p')" = 3 ] && pass "${built[0]}: wrong registry password -> status 3" ||
  fail "${built[0]}: wrong registry password: $out"
summary
