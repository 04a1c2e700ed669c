#!/bin/bash
# A throwaway Samba Active Directory domain controller on 127.0.0.1 for the LDAP tests
# (Debian, run as root). Adapted from ../shared/reference/samba-ad.md (a verified recipe).
#
# usage: hack/samba-ad.sh install|start|stop|status|reset
#   install  apt-get the Samba AD DC packages, only when `samba` or `samba-tool` is missing
#   start    provision (first time, ~6 s) and start the DC; reuses a DC that already answers.
#            Prints the connection as KEY=value lines on stdout (logs go to stderr).
#   stop     stop the DC this machine runs (whichever state dir it was started from)
#   status   exit 0 and print the connection when a DC answers, exit 1 otherwise
#   reset    stop, then remove the state dir (the next start provisions a new domain)
#
# env: SAMBA_AD_DIR  state dir (default: target/samba-ad under the repository)
#
# Samba listens on the fixed ports 389/636 (it has no option to change them), so there is one DC
# a machine: a lock serialises starters and a pointer file (/tmp/samba-ad.current) names the
# state dir of the running DC, so tests of every worktree share it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
D=${SAMBA_AD_DIR:-$REPO/target/samba-ad}
REALM=CORP.EXAMPLE.TEST
DOM=CORP
BASE='DC=corp,DC=example,DC=test'
# A test-only domain on 127.0.0.1: the password is part of the harness, not a secret.
ADMINPW='Passw0rd!Test123'
BIND_DN="CN=Administrator,CN=Users,$BASE"
LOCK=/tmp/samba-ad.lock
CURRENT=/tmp/samba-ad.current
# Safety net: a DC nobody stops ends by itself after 6 hours.
MAX_RUNTIME=21600

log() { echo "samba-ad: $*" >&2; }

answers() {
  ldapsearch -x -H ldap://127.0.0.1 -s base -b '' -LLL dn >/dev/null 2>&1
}

print_conn() {
  local dir=$1
  echo "SAMBA_AD_DIR=$dir"
  echo "SAMBA_AD_LDAP_URL=ldap://127.0.0.1:389"
  echo "SAMBA_AD_LDAPS_URL=ldaps://127.0.0.1:636"
  echo "SAMBA_AD_BASE_DN=$BASE"
  echo "SAMBA_AD_BIND_DN=$BIND_DN"
  echo "SAMBA_AD_PASSWORD=$ADMINPW"
  echo "SAMBA_AD_CA=$dir/tls/ca.pem"
}

install() {
  if command -v samba >/dev/null && command -v samba-tool >/dev/null && command -v ldapsearch >/dev/null \
    && command -v openssl >/dev/null; then
    log "already installed ($(samba --version 2>/dev/null || echo samba))"
    return 0
  fi
  [ "$(id -u)" = 0 ] || { log "installing Samba needs root"; exit 2; }
  command -v apt-get >/dev/null || { log "installing Samba needs apt-get (Debian or Ubuntu)"; exit 2; }
  export DEBIAN_FRONTEND=noninteractive
  local pkgs=(samba-ad-dc samba-ad-provision ldap-utils openssl)
  # apt's own lock makes a second concurrent install fail; serialise ours.
  exec 8>"$LOCK.install"
  flock -w 600 8
  if ! apt-get install -y --no-install-recommends "${pkgs[@]}" >&2; then
    log "a package was not found: apt-get update, then again"
    apt-get update >&2
    apt-get install -y --no-install-recommends "${pkgs[@]}" >&2
  fi
  # On a systemd host apt starts the default smbd/nmbd/winbind; they do not use 389/636, but the
  # tests want nothing else of Samba running.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl stop smbd nmbd winbind samba-ad-dc >/dev/null 2>&1 || true
  fi
}

write_conf() {
  cat > "$D/etc/smb.conf" <<CONF
[global]
	netbios name = DC1
	workgroup = $DOM
	realm = $REALM
	server role = active directory domain controller
	interfaces = 127.0.0.1
	bind interfaces only = yes
	server services = ldap, cldap
	ldap server require strong auth = no
	private dir = $D/private
	lock directory = $D
	state directory = $D/state
	cache directory = $D/cache
	binddns dir = $D/bind-dns
	pid directory = $D/run
	ncalrpc dir = $D/run/ncalrpc
	winbindd socket directory = $D/run/winbindd
	ntp signd socket directory = $D/run/ntp_signd
	log file = $D/log/log.%m
	tls keyfile = $D/tls/key.pem
	tls certfile = $D/tls/cert.pem
	tls cafile = $D/tls/ca.pem

[sysvol]
	path = $D/state/sysvol
	read only = no

[netlogon]
	path = $D/state/sysvol/corp.example.test/scripts
	read only = no
CONF
}

provision() {
  log "provisioning a new domain in $D"
  rm -rf "$D"
  mkdir -p "$D"/{etc,private,state,cache,bind-dns,run,log,tls}
  # smb.conf BEFORE provisioning, or samba falls back to /etc/samba, /var/lib/samba, /run/samba.
  write_conf
  # Samba's own certificate has no SAN and rustls rejects it: a CA and a cert for 127.0.0.1.
  ( cd "$D/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Test LDAP CA" -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=dc1.corp.example.test" -keyout key.pem -out srv.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:dc1.corp.example.test\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > ext.cnf
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -extfile ext.cnf -out cert.pem 2>/dev/null
    chmod 600 key.pem ca.key )
  if ! samba-tool domain provision -s "$D/etc/smb.conf" --targetdir="$D" \
    --realm=$REALM --domain=$DOM --host-name=dc1 --server-role=dc \
    --dns-backend=NONE --adminpass="$ADMINPW" > "$D/log/provision.log" 2>&1; then
    tail -20 "$D/log/provision.log" >&2
    log "provisioning failed (log: $D/log/provision.log)"
    exit 1
  fi
  # Test users get simple passwords.
  samba-tool domain passwordsettings set -s "$D/etc/smb.conf" -H "$D/private/sam.ldb" \
    --complexity=off --min-pwd-length=1 --min-pwd-age=0 --max-pwd-age=0 >> "$D/log/provision.log" 2>&1
  touch "$D/.provisioned"
}

# A DC that already answers (started by any worktree): print its connection.
reuse() {
  answers || return 1
  local cur
  cur=$(cat "$CURRENT" 2>/dev/null || echo "$D")
  log "reusing the DC that answers on 127.0.0.1:389 (state dir $cur)"
  print_conn "$cur"
}

start() {
  command -v ldapsearch >/dev/null || { log "ldapsearch is not installed: run hack/samba-ad.sh install"; exit 2; }
  reuse && return 0
  [ "$(id -u)" = 0 ] || { log "starting Samba needs root (it binds 389/636)"; exit 2; }
  command -v samba >/dev/null || { log "samba is not installed: run hack/samba-ad.sh install"; exit 2; }
  exec 9>"$LOCK"
  flock -w 300 9 || { log "another start holds $LOCK for 5 minutes"; exit 1; }
  reuse && return 0   # started by whoever held the lock
  # Reuse a provisioned domain (a start then takes well under a second); the tests make their own
  # OUs, so leftovers of earlier runs do not matter. `reset` starts afresh.
  [ -f "$D/.provisioned" ] || provision
  write_conf
  # -M single: one process, LDAP answers in ~0.25 s. setsid: own process group, so stop can
  # take the whole group down. 9>&-: the DC must not inherit (and so hold) the lock.
  setsid samba -F -M single --debug-stdout -d 1 -s "$D/etc/smb.conf" -l "$D/log" \
    --maximum-runtime=$MAX_RUNTIME < /dev/null > "$D/log/samba.out" 2>&1 9>&- &
  local pid=$!
  echo "$pid" > "$D/samba.fg.pid"
  for _ in $(seq 1 300); do
    if answers; then
      echo "$D" > "$CURRENT"
      log "up (pid $pid, state dir $D)"
      print_conn "$D"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { tail -30 "$D/log/samba.out" >&2; log "samba exited"; exit 1; }
    sleep 0.1
  done
  tail -30 "$D/log/samba.out" >&2
  log "samba did not answer within 30 s"
  kill -TERM "$pid" 2>/dev/null || true
  exit 1
}

stop() {
  exec 9>"$LOCK"
  flock -w 300 9 || true
  local dir pid
  dir=$(cat "$CURRENT" 2>/dev/null || echo "$D")
  pid=$(cat "$dir/samba.fg.pid" 2>/dev/null || true)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    log "not running"
    rm -f "$CURRENT"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true   # the root process takes its children down
  for _ in $(seq 1 100); do
    if [ -z "$(ps -o pid= -g "$pid" 2>/dev/null)" ]; then
      rm -f "$CURRENT" "$dir/samba.fg.pid"
      log "stopped"
      return 0
    fi
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true   # the whole process group (setsid above)
  rm -f "$CURRENT" "$dir/samba.fg.pid"
  log "killed"
}

status() {
  if answers; then
    print_conn "$(cat "$CURRENT" 2>/dev/null || echo "$D")"
  else
    log "no DC answers on 127.0.0.1:389"
    return 1
  fi
}

reset() {
  stop
  rm -rf "$D"
}

case "${1:-}" in
  install|start|stop|status|reset) "$1" ;;
  *) echo "usage: $0 install|start|stop|status|reset" >&2; exit 2 ;;
esac
