#!/usr/bin/env bash
# Installs what building, testing, the demo and the benchmark need on a fresh Debian 12 machine.
# Idempotent: apt runs only when a package is missing.
set -euo pipefail
packages=(
  libcurl4-openssl-dev libssl-dev pkg-config   # libcurl + libcrypto/libssl for the transport
  libyaml-dev                                  # YAML: kubeconfigs and promotion files
  docker-registry skopeo apache2-utils openssl  # real registries, a cross-checking client, htpasswd, cert tools
  curl python3 time bc gcc                      # demo, benchmark (gcc: its latency proxy)
  groovy junit4                                 # Jenkins shared-library tests
  python3-yaml mmdebstrap                       # agent-image checks (template parsing, runtime rootfs)
  python3-pip                                   # supply-chain tests fetch securesystemslib (DSSE) and PyNaCl from PyPI
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# kubectl: the oracle of the kubeconfig differential test. These machines have it from the Google
# Cloud CLI repository's `kubectl` package; Debian's `kubernetes-client` ships the same /usr/bin/kubectl
# and would clash with it, so anything is installed only when no kubectl exists: `kubectl` where a
# configured repository offers it, else `kubernetes-client`.
if ! command -v kubectl >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: kubectl is missing (run as root, or install kubectl or kubernetes-client)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if apt-cache policy kubectl 2>/dev/null | grep -q 'Candidate: [0-9]'; then k=kubectl; else k=kubernetes-client; fi
  echo "install-deps: installing $k (kubectl)" >&2
  apt-get install -y -qq --no-install-recommends "$k" >/dev/null
fi
command -v swift >/dev/null || { echo "install-deps: swift is not on PATH (Swift 6 toolchain needed)" >&2; exit 1; }
