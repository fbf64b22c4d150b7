#!/usr/bin/env bash
# Install what tinykube needs on a Debian machine, only what is missing.
# System packages with apt (once), Python packages into ./.venv.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds what the benchmarks compare with)
set -euo pipefail
cd "$(dirname "$0")/.."

# the node agent: runc (OCI runtime), CNI plugins, nftables and iproute2 for pod
# networking; the tests' own images come from busybox-static, served by Debian's
# docker-registry and packed with umoci/skopeo; dig (dnsutils) checks the cluster DNS;
# tmux drives the interactive kubectl exec/attach tests through a terminal
APT_PACKAGES=(python3 python3-venv ca-certificates curl iproute2 runc containernetworking-plugins
              nftables busybox-static docker-registry skopeo umoci zstd dnsutils tmux)
if [[ "${1:-}" == "--bench" ]]; then
  APT_PACKAGES+=(etcd-server etcd-client wrk podman catatonit)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v kubectl >/dev/null; then
  echo "warning: kubectl is not on PATH; the end-to-end tests drive the real kubectl" >&2
fi

PYTHON=${PYTHON:-python3}
stamp=.venv/.installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi
