#!/usr/bin/env bash
# The Docker-less local stack: Apache Kafka (KRaft, single node), Apicurio Registry
# (Confluent-compatible API) and PostgreSQL, all bound to 127.0.0.1.
#
#   scripts/stack.sh up       start what is not running, wait until each one answers
#   scripts/stack.sh down     stop everything this script started (no process left)
#   scripts/stack.sh status   one line per component
#   scripts/stack.sh env      the connection settings, as shell exports
#   scripts/stack.sh reset    down, then delete all data (downloads stay cached)
#   scripts/stack.sh stop|start|kill kafka|registry|postgres
#                             one component (fault-injection tests: kill is SIGKILL)
#
# Ports and paths come from the environment (defaults below). Downloads are cached in
# $PF_STACK_DIR and ~/.m2, so only the first start fetches anything.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_DIR=${PF_STACK_DIR:-$ROOT/.stack}
KAFKA_PORT=${PF_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${PF_KAFKA_CONTROLLER_PORT:-19093}
# A second listener for fault-injection tests: it advertises the port of a TCP proxy that
# the tests put in front of it, so that clients bootstrapped through the proxy keep using it.
KAFKA_FAULTS_PORT=${PF_KAFKA_FAULTS_PORT:-19094}
KAFKA_PROXY_PORT=${PF_KAFKA_PROXY_PORT:-19095}
REGISTRY_PORT=${PF_REGISTRY_PORT:-18081}
PG_PORT=${PF_PG_PORT:-15432}
PG_USER=${PF_PG_USER:-patternflow}
PG_PASSWORD=${PF_PG_PASSWORD:-patternflow}
PG_DATABASE=${PF_PG_DATABASE:-patternflow}
KAFKA_HEAP=${PF_KAFKA_HEAP:-1g}
REGISTRY_HEAP=${PF_REGISTRY_HEAP:-512m}
START_TIMEOUT=${PF_STACK_START_TIMEOUT:-120}

POM=$ROOT/stack/pom.xml
pom_property() { sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" "$POM" | head -n1; }
KAFKA_VERSION=$(pom_property kafka.version)
APICURIO_VERSION=$(pom_property apicurio.version)

KAFKA_HOME=$STACK_DIR/kafka-$KAFKA_VERSION
KAFKA_DATA=$STACK_DIR/data/kafka
REGISTRY_HOME=$STACK_DIR/apicurio-$APICURIO_VERSION
LOG_DIR=$STACK_DIR/logs
RUN_DIR=$STACK_DIR/run
PG_DATA=$STACK_DIR/data/postgres
PG_LOG=$LOG_DIR/postgres.log

die() { echo "stack: $*" >&2; exit 1; }
say() { echo "stack: $*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

require_command() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed; $2"
}

require_free_port() {
  local port=$1 what=$2
  port_open "$port" && die "port $port (for $what) is taken by another process; set $3 to a free port"
  return 0
}

wait_until() {
  local what=$1 log=$2; shift 2
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then
      echo "stack: $what did not answer within ${START_TIMEOUT}s; last lines of $log:" >&2
      tail -n 30 "$log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------- PostgreSQL
pg_bin_dir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

ensure_postgres_installed() {
  pg_bin_dir >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; run: sudo apt-get install -y postgresql"
  say "installing PostgreSQL from Debian's packages"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # The package starts its own cluster on 5432; this stack runs its own, so stop that one.
  service postgresql stop >/dev/null 2>&1 || true
  pg_bin_dir >/dev/null || die "PostgreSQL install finished but no pg_ctl was found"
}

# PostgreSQL refuses to run as root; when we are root, the cluster belongs to 'postgres'.
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# As root, the cluster's owner must be able to reach its directory; a checkout under a
# private folder (e.g. /root) is not reachable for 'postgres', so the cluster then lives
# in a folder of its own under /var/lib/patternflow, one per stack directory.
choose_pg_dirs() {
  [ "$(id -u)" = 0 ] || return 0
  mkdir -p "$STACK_DIR/data" "$LOG_DIR"
  if ! runuser -u postgres -- test -x "$STACK_DIR/data" 2>/dev/null || ! runuser -u postgres -- test -x "$LOG_DIR" 2>/dev/null; then
    local home
    home=/var/lib/patternflow/$(printf '%s' "$STACK_DIR" | sha256sum | cut -c1-12)
    mkdir -p "$home"
    chown postgres:postgres "$home"
    PG_DATA=$home/postgres
    PG_LOG=$home/postgres.log
  fi
}

pg_ready() { "$(pg_bin_dir)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

pg_running() { [ -f "$PG_DATA/postmaster.pid" ] && as_pg_owner "$(pg_bin_dir)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

psql_admin() {
  PGPASSWORD=$PG_PASSWORD "$(pg_bin_dir)/psql" -X -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"
}

start_postgres() {
  ensure_postgres_installed
  choose_pg_dirs
  local bin; bin=$(pg_bin_dir)
  if pg_running; then say "postgres already running on 127.0.0.1:$PG_PORT"; return 0; fi
  require_free_port "$PG_PORT" postgres PF_PG_PORT
  mkdir -p "$STACK_DIR/data" "$LOG_DIR"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    say "initialising a PostgreSQL cluster in $PG_DATA"
    mkdir -p "$PG_DATA"
    local pwfile; pwfile=$(mktemp)
    echo "$PG_PASSWORD" >"$pwfile"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PG_DATA" "$pwfile"; fi
    chmod 700 "$PG_DATA"
    as_pg_owner "$bin/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$pwfile" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
      >"$LOG_DIR/postgres-initdb.log" 2>&1 || { rm -f "$pwfile"; die "initdb failed, see $LOG_DIR/postgres-initdb.log"; }
    rm -f "$pwfile"
  fi
  touch "$PG_LOG"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PG_LOG"; fi
  # The parent folders must be traversable by the cluster owner.
  as_pg_owner "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$START_TIMEOUT" \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_DATA -c max_connections=200 -c fsync=on" \
    start >/dev/null || die "postgres did not start, see $PG_LOG"
  wait_until postgres "$PG_LOG" pg_ready
  psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname='$PG_DATABASE'" | grep -q 1 ||
    psql_admin -c "CREATE DATABASE \"$PG_DATABASE\""
  psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname='registry'" | grep -q 1 ||
    psql_admin -c "CREATE DATABASE registry"
  say "postgres up on 127.0.0.1:$PG_PORT (database $PG_DATABASE, user $PG_USER)"
}

stop_postgres() {
  pg_bin_dir >/dev/null || return 0
  if pg_running; then
    as_pg_owner "$(pg_bin_dir)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    say "postgres stopped"
  fi
}

# ---------------------------------------------------------------- Kafka
ensure_kafka_downloaded() {
  [ -f "$KAFKA_HOME/.complete" ] && return 0
  require_command mvn "install Maven (apt-get install -y maven)"
  say "fetching Apache Kafka $KAFKA_VERSION jars with Maven (cached in ~/.m2)"
  rm -rf "$KAFKA_HOME"; mkdir -p "$KAFKA_HOME/libs" "$LOG_DIR"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$KAFKA_HOME/libs" >"$LOG_DIR/maven-kafka.log" 2>&1 ||
    die "Maven could not fetch Kafka $KAFKA_VERSION, see $LOG_DIR/maven-kafka.log"
  touch "$KAFKA_HOME/.complete"
}


# Short-lived Kafka tools (storage format) with a small heap and their own log file.
kafka_tool() {
  java -Xmx256m -Dlog4j2.configurationFile="$ROOT/stack/log4j2.properties" \
    -Dkafka.logs.file="$LOG_DIR/kafka-tools.log" -cp "$KAFKA_HOME/libs/*" "$@"
}

write_kafka_config() {
  cat >"$STACK_DIR/kafka.properties" <<EOF
# Written by scripts/stack.sh: a single KRaft node that is both broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,FAULTS://127.0.0.1:$KAFKA_FAULTS_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,FAULTS://127.0.0.1:$KAFKA_PROXY_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,FAULTS:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=3
# One node: internal topics cannot have more replicas than brokers, or consumer groups
# never find a coordinator (kafkajs #1752).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Topics are created by the services and tests, never by a typo in a producer.
auto.create.topics.enable=false
log.retention.hours=24
log.segment.bytes=268435456
EOF
}

start_kafka() {
  if pid_alive "$RUN_DIR/kafka.pid"; then say "kafka already running on 127.0.0.1:$KAFKA_PORT"; return 0; fi
  require_free_port "$KAFKA_PORT" kafka PF_KAFKA_PORT
  require_free_port "$KAFKA_CONTROLLER_PORT" "kafka's controller" PF_KAFKA_CONTROLLER_PORT
  require_free_port "$KAFKA_FAULTS_PORT" "kafka's fault-test listener" PF_KAFKA_FAULTS_PORT
  ensure_kafka_downloaded
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$KAFKA_DATA"
  write_kafka_config
  if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
    local cluster_id
    cluster_id=$(kafka_tool kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
    kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$STACK_DIR/kafka.properties" \
      >"$LOG_DIR/kafka-format.log" 2>&1 || die "formatting Kafka storage failed, see $LOG_DIR/kafka-format.log"
  fi
  : >"$LOG_DIR/kafka-server.log"
  nohup java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/stack/log4j2.properties" \
    -Dkafka.logs.file="$LOG_DIR/kafka-server.log" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$STACK_DIR/kafka.properties" \
    >"$LOG_DIR/kafka.out" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/kafka.pid"
  kafka_started() {
    pid_alive "$RUN_DIR/kafka.pid" || { tail -n 30 "$LOG_DIR/kafka.out" >&2; die "kafka exited during start"; }
    port_open "$KAFKA_PORT" && grep -q "Kafka Server started" "$LOG_DIR/kafka-server.log"
  }
  wait_until kafka "$LOG_DIR/kafka-server.log" kafka_started
  say "kafka $KAFKA_VERSION up on 127.0.0.1:$KAFKA_PORT"
}

# ---------------------------------------------------------------- Apicurio Registry
ensure_registry_downloaded() {
  [ -f "$REGISTRY_HOME/.complete" ] && return 0
  require_command mvn "install Maven (apt-get install -y maven)"
  say "fetching Apicurio Registry $APICURIO_VERSION with Maven (cached in ~/.m2)"
  rm -rf "$REGISTRY_HOME"; mkdir -p "$REGISTRY_HOME" "$LOG_DIR"
  local artifact=io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all
  (cd "$REGISTRY_HOME" && mvn -q -B -f "$POM" dependency:copy -Dartifact="$artifact" \
    -DoutputDirectory="$REGISTRY_HOME" >"$LOG_DIR/maven-apicurio.log" 2>&1) ||
    die "Maven could not fetch $artifact, see $LOG_DIR/maven-apicurio.log"
  tar xzf "$REGISTRY_HOME"/apicurio-registry-app-*.tar.gz -C "$REGISTRY_HOME"
  rm -f "$REGISTRY_HOME"/apicurio-registry-app-*.tar.gz
  touch "$REGISTRY_HOME/.complete"
}

registry_ready() {
  pid_alive "$RUN_DIR/registry.pid" || { tail -n 30 "$LOG_DIR/registry.log" >&2; die "the registry exited during start"; }
  curl -fsS -o /dev/null "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects" 2>/dev/null
}

start_registry() {
  if pid_alive "$RUN_DIR/registry.pid"; then say "registry already running on 127.0.0.1:$REGISTRY_PORT"; return 0; fi
  require_free_port "$REGISTRY_PORT" "the schema registry" PF_REGISTRY_PORT
  require_command curl "install curl (apt-get install -y curl)"
  ensure_registry_downloaded
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  # Schemas live in PostgreSQL so that schema ids survive a registry restart: Avro
  # records already in Kafka carry those ids.
  APICURIO_STORAGE_KIND=sql \
  APICURIO_STORAGE_SQL_KIND=postgresql \
  APICURIO_DATASOURCE_URL="jdbc:postgresql://127.0.0.1:$PG_PORT/registry" \
  APICURIO_DATASOURCE_USERNAME=$PG_USER \
  APICURIO_DATASOURCE_PASSWORD=$PG_PASSWORD \
  QUARKUS_HTTP_HOST=127.0.0.1 \
  QUARKUS_HTTP_PORT=$REGISTRY_PORT \
  QUARKUS_LOG_CONSOLE_FORMAT='%d{HH:mm:ss.SSS} %-5p [%c{2.}] %s%e%n' \
    nohup java -Xmx"$REGISTRY_HEAP" -jar "$REGISTRY_HOME"/apicurio-registry-app-*-runner.jar \
    >"$LOG_DIR/registry.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/registry.pid"
  wait_until "the schema registry" "$LOG_DIR/registry.log" registry_ready
  say "apicurio registry $APICURIO_VERSION up on http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
}

# ---------------------------------------------------------------- processes
stop_pidfile() {
  local name=$1 file=$RUN_DIR/$1.pid
  [ -f "$file" ] || return 0
  local pid; pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    say "$name stopped"
  fi
  rm -f "$file"
}

status_line() {
  local name=$1 ok=$2 where=$3
  if $ok; then printf '%-9s up    %s\n' "$name" "$where"; else printf '%-9s down  %s\n' "$name" "$where"; fi
}

cmd_up() {
  require_command java "install a JDK 17+ (apt-get install -y openjdk-17-jre-headless)"
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = \([0-9]*\).*/\1/p')
  [ "${major:-0}" -ge 17 ] || die "java $major found; Kafka $KAFKA_VERSION needs Java 17 or newer"
  mkdir -p "$STACK_DIR"
  local started=$SECONDS
  start_postgres
  start_kafka
  start_registry
  say "stack ready in $((SECONDS - started))s"
}

cmd_down() {
  stop_pidfile registry
  stop_pidfile kafka
  stop_postgres
}

cmd_status() {
  local all=true
  if pid_alive "$RUN_DIR/kafka.pid" && port_open "$KAFKA_PORT"; then k=true; else k=false; all=false; fi
  if pid_alive "$RUN_DIR/registry.pid" && port_open "$REGISTRY_PORT"; then r=true; else r=false; all=false; fi
  if pg_bin_dir >/dev/null && pg_ready 2>/dev/null; then p=true; else p=false; all=false; fi
  status_line kafka "$k" "127.0.0.1:$KAFKA_PORT"
  status_line registry "$r" "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
  status_line postgres "$p" "127.0.0.1:$PG_PORT/$PG_DATABASE"
  $all
}

cmd_env() {
  cat <<EOF
export PF_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export PF_REGISTRY_URL=http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7
export PF_PG_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE
export PF_KAFKA_HOME=$KAFKA_HOME
export PF_KAFKA_DATA=$KAFKA_DATA
export PF_KAFKA_FAULTS_PORT=$KAFKA_FAULTS_PORT
export PF_KAFKA_PROXY_PORT=$KAFKA_PROXY_PORT
EOF
}

# One component, for fault-injection tests.
cmd_component() {
  local action=$1 name=${2:-}
  case "$action:$name" in
    stop:kafka | stop:registry) stop_pidfile "$name" ;;
    stop:postgres) stop_postgres ;;
    kill:kafka | kill:registry)
      local port=$KAFKA_PORT
      [ "$name" = registry ] && port=$REGISTRY_PORT
      if pid_alive "$RUN_DIR/$name.pid"; then kill -KILL "$(cat "$RUN_DIR/$name.pid")"; fi
      rm -f "$RUN_DIR/$name.pid"
      # The port is free once the kernel has closed the killed process's sockets.
      local deadline=$((SECONDS + 30))
      while port_open "$port" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
      say "$name killed" ;;
    start:kafka) start_kafka ;;
    start:registry) start_registry ;;
    start:postgres) start_postgres ;;
    *) echo "usage: $0 stop|start|kill kafka|registry|postgres (kill: kafka or registry)" >&2; exit 2 ;;
  esac
}

if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then choose_pg_dirs; fi

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  stop | start | kill) cmd_component "$1" "${2:-}" ;;
  reset) cmd_down; rm -rf "$STACK_DIR/data" "$STACK_DIR/kafka.properties" "$PG_DATA" "$PG_LOG"; say "data removed" ;;
  *) echo "usage: $0 up|down|status|env|reset|stop|start|kill [component]" >&2; exit 2 ;;
esac
