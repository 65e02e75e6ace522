#!/usr/bin/env bash
# Install the Debian packages bankstream needs to build, test and run.
# Idempotent and silent when everything is already present.
set -euo pipefail
PKGS=(build-essential pkg-config clang-format
      librdkafka-dev kcat libpq-dev postgresql postgresql-client
      libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
      libcjson-dev libinih-dev libcmocka-dev uuid-dev libmicrohttpd-dev libssl-dev
      python3 tzdata bc curl procps iproute2 slurm-wlm munge cppcheck clang
      openjdk-17-jre-headless maven)   # scripts/kafka.sh: Apache Kafka 4.x (Java 17+) from Maven Central
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
