#!/usr/bin/env bash
# The Docker-less local stack: Apache Kafka (KRaft, single node), Apicurio Registry
# (Confluent-compatible API) and PostgreSQL, all bound to 127.0.0.1.
#
#   scripts/stack.sh up       start what is not running, wait until each one answers
#   scripts/stack.sh down     stop everything this script started (no process left)
#   scripts/stack.sh status   one line per component
#   scripts/stack.sh env      the connection settings, as shell exports
#   scripts/stack.sh env --secure
#                             the same over the secure links: Kafka SASL_SSL (SCRAM-SHA-512),
#                             the registry over https with basic auth, PostgreSQL with TLS
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
# The secure links, always on next to the plaintext ones: Kafka's SASL_SSL listener and a
# second registry process serving https with basic auth (same storage, so the same ids).
KAFKA_SECURE_PORT=${PF_KAFKA_SECURE_PORT:-19096}
REGISTRY_PORT=${PF_REGISTRY_PORT:-18081}
REGISTRY_TLS_PORT=${PF_REGISTRY_TLS_PORT:-18443}
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
# Certificates and generated passwords (0600), made at the first start; never in the repo.
TLS_DIR=$STACK_DIR/tls
# The SCRAM user of Kafka's SASL_SSL listener and the basic-auth user of the https registry.
PIPELINE_USER=pipeline

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

# ---------------------------------------------------------------- certificates and passwords
# One local CA signs one server certificate (SAN 127.0.0.1 and localhost) that the broker's
# SASL_SSL listener, the https registry and PostgreSQL all present. Made once; delete
# $TLS_DIR and restart the stack to make new ones (docs/operations.md, "Secure links").
ensure_tls_material() {
  require_command openssl "install OpenSSL (apt-get install -y openssl)"
  mkdir -p "$TLS_DIR" "$LOG_DIR"
  chmod 700 "$TLS_DIR"
  if [ ! -s "$TLS_DIR/server.pem" ] || [ ! -s "$TLS_DIR/ca.pem" ] || [ ! -s "$TLS_DIR/broker-keystore.pem" ]; then
    say "making a local CA and a server certificate in $TLS_DIR"
    local log=$LOG_DIR/openssl.log
    (
      set -e
      umask 077
      cd "$TLS_DIR"
      rm -f ca.pem ca.key server.pem server.key broker-keystore.pem
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout ca.key -out ca.pem -days 3650 -subj "/CN=patternflow local CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout server.key -out server.csr -subj "/CN=localhost"
      printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth" \
        "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" >server.ext
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out server.pem -days 825 -extfile server.ext
      rm -f server.csr server.ext ca.srl
      # Kafka's PEM keystore: the (PKCS#8, unencrypted) key and the certificate in one file.
      cat server.key server.pem >broker-keystore.pem
    ) >"$log" 2>&1 || die "openssl could not make the certificates, see $log"
    # Certificates are public; the keys stay 0600.
    chmod 644 "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem"
  fi
  local name
  for name in kafka-pipeline registry-pipeline; do
    if [ ! -s "$TLS_DIR/$name.password" ]; then
      (umask 077 && openssl rand -hex 24 >"$TLS_DIR/$name.password")
    fi
  done
  write_secure_client_env
}

# What a client of the secure links needs (services, tests, the load generator): printed as
# exports by `stack.sh env --secure`, read by the test harness and `make run SECURE=1`.
# Passwords are referenced by file, never written here.
write_secure_client_env() {
  (
    umask 077
    cat >"$TLS_DIR/client.env" <<EOF
PF_KAFKA_BROKERS=127.0.0.1:$KAFKA_SECURE_PORT
PF_KAFKA_SECURITY_PROTOCOL=sasl_ssl
PF_KAFKA_SASL_MECHANISM=scram-sha-512
PF_KAFKA_SASL_USERNAME=$PIPELINE_USER
PF_KAFKA_SASL_PASSWORD_FILE=$TLS_DIR/kafka-pipeline.password
PF_KAFKA_SSL_CA_FILE=$TLS_DIR/ca.pem
PF_REGISTRY_URL=https://127.0.0.1:$REGISTRY_TLS_PORT/apis/ccompat/v7
PF_REGISTRY_USERNAME=$PIPELINE_USER
PF_REGISTRY_PASSWORD_FILE=$TLS_DIR/registry-pipeline.password
PF_REGISTRY_CA_FILE=$TLS_DIR/ca.pem
PF_PG_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE?sslmode=verify-full
PF_PG_CA_FILE=$TLS_DIR/ca.pem
EOF
  )
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
  if pg_running; then ensure_postgres_tls; say "postgres already running on 127.0.0.1:$PG_PORT"; return 0; fi
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
  ensure_postgres_tls
  say "postgres up on 127.0.0.1:$PG_PORT (database $PG_DATABASE, user $PG_USER; TLS on, plaintext accepted)"
}

# TLS with the stack's server certificate, switched on by ALTER SYSTEM and a reload, so a
# cluster made before TLS existed gets it without a restart. Clients that do not ask for
# TLS still connect (pg_hba's host lines take both).
ensure_postgres_tls() {
  local cert=$PG_DATA/patternflow-server.crt key=$PG_DATA/patternflow-server.key changed=false
  if ! cmp -s "$TLS_DIR/server.pem" "$cert" 2>/dev/null || ! cmp -s "$TLS_DIR/server.key" "$key" 2>/dev/null; then
    # PostgreSQL refuses a key that others can read: 0600, owned by the cluster's owner.
    cp "$TLS_DIR/server.pem" "$cert"
    cp "$TLS_DIR/server.key" "$key"
    chmod 600 "$cert" "$key"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$cert" "$key"; fi
    changed=true
  fi
  if $changed || [ "$(psql_admin -tAc 'SHOW ssl')" != on ]; then
    psql_admin -c "ALTER SYSTEM SET ssl_cert_file = '$cert'" -c "ALTER SYSTEM SET ssl_key_file = '$key'" \
      -c "ALTER SYSTEM SET ssl = on" -c "SELECT pg_reload_conf()" >/dev/null
    pg_ssl_on() { [ "$(psql_admin -tAc 'SHOW ssl')" = on ]; }
    wait_until "postgres's TLS" "$PG_LOG" pg_ssl_on
  fi
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
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,FAULTS://127.0.0.1:$KAFKA_FAULTS_PORT,SECURE://127.0.0.1:$KAFKA_SECURE_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,FAULTS://127.0.0.1:$KAFKA_PROXY_PORT,SECURE://127.0.0.1:$KAFKA_SECURE_PORT
controller.listener.names=CONTROLLER
# The controller and the broker talk over plaintext on loopback; clients choose a listener.
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,FAULTS:PLAINTEXT,SECURE:SASL_SSL
# SECURE: TLS with the stack's certificate (PEM, no keystore password: the key file is 0600),
# then SCRAM. Users are SCRAM credentials in the cluster metadata (ensure_scram_users).
listener.name.secure.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.secure.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.secure.ssl.keystore.type=PEM
listener.name.secure.ssl.keystore.location=$TLS_DIR/broker-keystore.pem
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
  require_free_port "$KAFKA_SECURE_PORT" "kafka's SASL_SSL listener" PF_KAFKA_SECURE_PORT
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
  say "kafka $KAFKA_VERSION up on 127.0.0.1:$KAFKA_PORT (SASL_SSL on 127.0.0.1:$KAFKA_SECURE_PORT)"
}

# The SCRAM credentials of the pipeline user, written through the plaintext listener after
# the broker is up: one path for a fresh data directory and for one formatted before the
# secure listener existed, and the password travels in a 0600 file, never on a command
# line. Skipped when this data directory already holds the current password (a marker with
# its hash), so a normal start pays no extra JVM.
ensure_scram_users() {
  local password_file=$TLS_DIR/kafka-pipeline.password marker=$KAFKA_DATA/.patternflow-scram
  local wanted; wanted=$(sha256sum "$password_file" | cut -c1-64)
  [ "$(cat "$marker" 2>/dev/null)" = "$wanted" ] && return 0
  local config; config=$(umask 077 && mktemp "$TLS_DIR/scram.XXXXXX")
  local password; password=$(cat "$password_file")
  # A properties file: ConfigCommand reads the credential as `password=…`, without the
  # brackets its --add-config syntax needs.
  printf 'SCRAM-SHA-512=password=%s\n' "$password" >"$config"
  kafka_tool kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter \
    --entity-type users --entity-name "$PIPELINE_USER" --add-config-file "$config" \
    >"$TLS_DIR/kafka-scram.log" 2>&1 || { rm -f "$config"; die "could not create Kafka's SCRAM user $PIPELINE_USER, see $TLS_DIR/kafka-scram.log"; }
  rm -f "$config"
  echo "$wanted" >"$marker"
  say "kafka SCRAM user '$PIPELINE_USER' set (password in $password_file)"
}

# A broker started before the secure listener existed keeps running without it until it is
# restarted: say so instead of letting the secure tests fail on a closed port.
check_secure_listener() {
  port_open "$KAFKA_SECURE_PORT" && return 0
  echo "stack: kafka runs without its SASL_SSL listener (127.0.0.1:$KAFKA_SECURE_PORT): it was started by an older stack script; restart it (scripts/stack.sh stop kafka && scripts/stack.sh start kafka) to get the secure listener" >&2
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

registry_url() {
  if [ "$1" = registry-tls ]; then echo "https://127.0.0.1:$REGISTRY_TLS_PORT/apis/ccompat/v7"; else echo "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"; fi
}

# Answers as the secure links' clients will use it: trusted by the stack's CA, with the
# pipeline user's password.
registry_answers() {
  local name=$1
  pid_alive "$RUN_DIR/$name.pid" || { tail -n 30 "$LOG_DIR/$name.log" >&2; die "$name exited during start"; }
  if [ "$name" = registry-tls ]; then
    curl -fsS -o /dev/null --cacert "$TLS_DIR/ca.pem" -K - "$(registry_url "$name")/subjects" 2>/dev/null \
      <<<"user = \"$PIPELINE_USER:$(cat "$TLS_DIR/registry-pipeline.password")\""
  else
    curl -fsS -o /dev/null "$(registry_url "$name")/subjects" 2>/dev/null
  fi
}

# Starts one registry process without waiting for it: `registry` (http) or `registry-tls`
# (https with basic auth). Both keep their schemas in the same PostgreSQL database, so an id
# means the same schema on both (records in Kafka carry those ids, whichever link wrote them).
launch_registry() {
  local name=$1
  if pid_alive "$RUN_DIR/$name.pid"; then say "$name already running at $(registry_url "$name")"; return 1; fi
  require_command curl "install curl (apt-get install -y curl)"
  ensure_registry_downloaded
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  local -a listen
  if [ "$name" = registry-tls ]; then
    require_free_port "$REGISTRY_TLS_PORT" "the https schema registry" PF_REGISTRY_TLS_PORT
    # https only (the http port is not opened), and every path needs the pipeline user:
    # Quarkus's embedded user store (part of Apicurio's build) behind HTTP basic auth.
    listen=(
      QUARKUS_HTTP_INSECURE_REQUESTS=disabled
      QUARKUS_HTTP_PORT=0
      QUARKUS_HTTP_SSL_PORT="$REGISTRY_TLS_PORT"
      QUARKUS_HTTP_SSL_CERTIFICATE_FILES="$TLS_DIR/server.pem"
      QUARKUS_HTTP_SSL_CERTIFICATE_KEY_FILES="$TLS_DIR/server.key"
      QUARKUS_HTTP_AUTH_BASIC=true
      QUARKUS_SECURITY_USERS_EMBEDDED_PLAIN_TEXT=true
      "QUARKUS_SECURITY_USERS_EMBEDDED_USERS_${PIPELINE_USER^^}=$(cat "$TLS_DIR/registry-pipeline.password")"
      QUARKUS_HTTP_AUTH_PERMISSION_PIPELINE_PATHS='/*'
      QUARKUS_HTTP_AUTH_PERMISSION_PIPELINE_POLICY=authenticated
    )
  else
    require_free_port "$REGISTRY_PORT" "the schema registry" PF_REGISTRY_PORT
    listen=(QUARKUS_HTTP_PORT="$REGISTRY_PORT")
  fi
  # Schemas live in PostgreSQL so that schema ids survive a registry restart: Avro
  # records already in Kafka carry those ids.
  env APICURIO_STORAGE_KIND=sql \
    APICURIO_STORAGE_SQL_KIND=postgresql \
    APICURIO_DATASOURCE_URL="jdbc:postgresql://127.0.0.1:$PG_PORT/registry" \
    APICURIO_DATASOURCE_USERNAME="$PG_USER" \
    APICURIO_DATASOURCE_PASSWORD="$PG_PASSWORD" \
    QUARKUS_HTTP_HOST=127.0.0.1 \
    QUARKUS_LOG_CONSOLE_FORMAT='%d{HH:mm:ss.SSS} %-5p [%c{2.}] %s%e%n' \
    "${listen[@]}" \
    nohup java -Xmx"$REGISTRY_HEAP" -jar "$REGISTRY_HOME"/apicurio-registry-app-*-runner.jar \
    >"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
}

wait_registry() {
  local name=$1
  wait_until "$name" "$LOG_DIR/$name.log" registry_answers "$name"
  say "apicurio registry $APICURIO_VERSION ($name) up at $(registry_url "$name")"
}

# One after the other: both registries share one PostgreSQL storage, and each creates its
# schema on the first start. Started together on an empty database they race, and the loser
# exits on a duplicate key (seen on a fresh CI clone: pg_type_typname_nsp_index "apicurio").
start_registries() {
  local name
  for name in "$@"; do
    if launch_registry "$name"; then wait_registry "$name"; fi
  done
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
  if $ok; then printf '%-12s up    %s\n' "$name" "$where"; else printf '%-12s down  %s\n' "$name" "$where"; fi
}

cmd_up() {
  require_command java "install a JDK 17+ (apt-get install -y openjdk-17-jre-headless)"
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = \([0-9]*\).*/\1/p')
  [ "${major:-0}" -ge 17 ] || die "java $major found; Kafka $KAFKA_VERSION needs Java 17 or newer"
  mkdir -p "$STACK_DIR"
  local started=$SECONDS
  ensure_tls_material
  start_postgres
  start_kafka
  ensure_scram_users
  check_secure_listener
  start_registries registry registry-tls
  say "stack ready in $((SECONDS - started))s"
}

cmd_down() {
  stop_pidfile registry-tls
  stop_pidfile registry
  stop_pidfile kafka
  stop_postgres
}

cmd_status() {
  local all=true
  if pid_alive "$RUN_DIR/kafka.pid" && port_open "$KAFKA_PORT"; then k=true; else k=false; all=false; fi
  if pid_alive "$RUN_DIR/kafka.pid" && port_open "$KAFKA_SECURE_PORT"; then ks=true; else ks=false; all=false; fi
  if pid_alive "$RUN_DIR/registry.pid" && port_open "$REGISTRY_PORT"; then r=true; else r=false; all=false; fi
  if pid_alive "$RUN_DIR/registry-tls.pid" && port_open "$REGISTRY_TLS_PORT"; then rs=true; else rs=false; all=false; fi
  if pg_bin_dir >/dev/null && pg_ready 2>/dev/null; then p=true; else p=false; all=false; fi
  status_line kafka "$k" "127.0.0.1:$KAFKA_PORT"
  status_line kafka-secure "$ks" "127.0.0.1:$KAFKA_SECURE_PORT (SASL_SSL, SCRAM-SHA-512)"
  status_line registry "$r" "$(registry_url registry)"
  status_line registry-tls "$rs" "$(registry_url registry-tls) (basic auth)"
  status_line postgres "$p" "127.0.0.1:$PG_PORT/$PG_DATABASE (TLS or plaintext)"
  $all
}

cmd_env() {
  if [ "${1:-}" = --secure ]; then
    [ -f "$TLS_DIR/client.env" ] || die "no $TLS_DIR/client.env yet: run 'scripts/stack.sh up' first"
    sed 's/^/export /' "$TLS_DIR/client.env"
  elif [ -n "${1:-}" ]; then
    die "usage: $0 env [--secure]"
  else
    cat <<EOF
export PF_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export PF_REGISTRY_URL=http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7
export PF_PG_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE
EOF
  fi
  cat <<EOF
export PF_STACK_SECURE_ENV=$TLS_DIR/client.env
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
    stop:kafka | stop:registry | stop:registry-tls) stop_pidfile "$name" ;;
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
    start:kafka) ensure_tls_material; start_kafka; ensure_scram_users ;;
    start:registry | start:registry-tls) ensure_tls_material; start_registries "$name" ;;
    start:postgres) ensure_tls_material; start_postgres ;;
    *) echo "usage: $0 stop|start|kill kafka|registry|registry-tls|postgres (kill: kafka or registry)" >&2; exit 2 ;;
  esac
}

if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then choose_pg_dirs; fi

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env "${2:-}" ;;
  stop | start | kill) cmd_component "$1" "${2:-}" ;;
  reset) cmd_down; rm -rf "$STACK_DIR/data" "$STACK_DIR/kafka.properties" "$PG_DATA" "$PG_LOG"; say "data removed" ;;
  *) echo "usage: $0 up|down|status|env|reset|stop|start|kill [component]" >&2; exit 2 ;;
esac
