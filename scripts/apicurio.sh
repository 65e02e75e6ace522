#!/usr/bin/env bash
# scripts/apicurio.sh - Apicurio Registry (a Confluent-compatible registry: its
# Confluent API is under /apis/ccompat/v7) from Maven Central, for checking
# bankstream's registry client and Avro against a registry that is not ours.
#
#   scripts/apicurio.sh build [--dir D]           fetch io.apicurio:apicurio-registry-app
#                                                 and package it (Quarkus) under D
#   scripts/apicurio.sh start [--dir D] [--port P] start it (in-memory H2 storage),
#                                                 print its ccompat base URL when it answers
#   scripts/apicurio.sh stop  [--dir D]
#
# Maven Central publishes the application as a plain jar whose dependencies
# are resolved by Maven; Quarkus needs its build step to run it, so `build`
# makes a one-dependency Maven project with quarkus-maven-plugin around it.
#
# Not yet seen working: on the machines of issue 17 Maven Central lacked parts
# of every Apicurio dependency tree tried (3.3.3: Quarkus 3.33.3.1's
# quarkus-smallrye-health-parent POM, and with Quarkus 3.33.3.2 its bootstrap
# jars; 2.6.13.Final: apicurio-registry-schema-util-provider and the
# apicurio-common-app-components jars; 3.0.9: its parent POM). The build
# stops with Maven's list of what is missing.
# D defaults to ~/.cache/bankstream/apicurio (never the repository).
set -euo pipefail
VERSION=${APICURIO_VERSION:-3.3.3}
# Quarkus of apicurio-registry's parent POM is 3.33.3.1, of which Maven Central
# lacks some POMs (quarkus-smallrye-health-parent): the next build, imported
# first so that it manages the io.quarkus artifacts.
QUARKUS=${APICURIO_QUARKUS:-3.33.3.2}
cmd=${1:-}
shift || true
dir=$HOME/.cache/bankstream/apicurio
port=8085
while [ $# -gt 0 ]; do
    case $1 in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) echo "scripts/apicurio.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
app=$dir/build/target/quarkus-app/quarkus-run.jar

case $cmd in
build)
    mkdir -p "$dir/build"
    cat >"$dir/build/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>bankstream.test</groupId>
  <artifactId>apicurio-runner</artifactId>
  <version>1</version>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>io.quarkus.platform</groupId>
        <artifactId>quarkus-bom</artifactId>
        <version>$QUARKUS</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
      <dependency>
        <groupId>io.apicurio</groupId>
        <artifactId>apicurio-registry</artifactId>
        <version>$VERSION</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>io.apicurio</groupId>
      <artifactId>apicurio-registry-app</artifactId>
      <version>$VERSION</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>io.quarkus</groupId>
        <artifactId>quarkus-maven-plugin</artifactId>
        <version>$QUARKUS</version>
        <extensions>true</extensions>
        <executions><execution><goals><goal>build</goal></goals></execution></executions>
      </plugin>
    </plugins>
  </build>
</project>
POM
    # Apicurio's parent POM lists repositories besides Maven Central that this
    # machine cannot reach: a mirror sends every request to Central (its URL
    # read from Maven's own super-POM).
    central=$(unzip -p "$(ls /usr/share/maven/lib/maven-model-builder*.jar | head -1)" \
        org/apache/maven/model/pom-4.0.0.xml | grep -o '<url>[^<]*</url>' | head -1)
    cat >"$dir/settings.xml" <<SETTINGS
<settings><mirrors><mirror><id>central-only</id><mirrorOf>*</mirrorOf>$central</mirror></mirrors></settings>
SETTINGS
    (cd "$dir/build" && mvn -B -q -U -s "$dir/settings.xml" package -DskipTests \
        -Dquarkus.index-dependency.apicurio.group-id=io.apicurio)
    [ -f "$app" ] || { echo "scripts/apicurio.sh: the build made no $app" >&2; exit 1; }
    echo "$app"
    ;;
start)
    [ -f "$app" ] || { echo "scripts/apicurio.sh: run 'scripts/apicurio.sh build' first" >&2; exit 1; }
    java -Dquarkus.http.port="$port" -Dquarkus.http.host=127.0.0.1 -jar "$app" \
        >"$dir/apicurio.log" 2>&1 &
    echo $! >"$dir/apicurio.pid"
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$port/apis/ccompat/v7/subjects" >/dev/null && {
            echo "http://127.0.0.1:$port/apis/ccompat/v7"; exit 0; }
        kill -0 "$(cat "$dir/apicurio.pid")" 2>/dev/null || break
        sleep 0.5
    done
    tail -20 "$dir/apicurio.log" >&2
    echo "scripts/apicurio.sh: Apicurio did not answer on port $port" >&2
    exit 1
    ;;
stop)
    [ -f "$dir/apicurio.pid" ] || exit 0
    kill "$(cat "$dir/apicurio.pid")" 2>/dev/null || true
    rm -f "$dir/apicurio.pid"
    ;;
*)
    echo "usage: scripts/apicurio.sh build|start|stop [--dir D] [--port P]" >&2
    exit 2
    ;;
esac
