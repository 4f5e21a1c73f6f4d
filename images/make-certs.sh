#!/bin/sh
# Certificates for the agents' HTTPS API (mutual TLS), made with openssl in one directory:
#
#   make-certs.sh ca         DIR                   the CA: DIR/ca.pem and DIR/ca.key
#   make-certs.sh agent      DIR NAME IP [IP...]   an agent's server certificate, for its addresses
#   make-certs.sh controller DIR [NAME]            a read-only client: the controller (GET only)
#   make-certs.sh operator   DIR NAME [DAYS]       an operator (OU=swanpair-operator: may POST),
#                                                  short-lived: 1 day unless DAYS
#
# Each leaf is DIR/NAME.pem with DIR/NAME.key. Keys are P-256 and mode 0600, the directory
# 0700; a leaf that exists is not remade (remove it to renew). Agents trust the CA for their
# clients and present their server certificate; the controller and operators trust the CA
# for the agents. Keep ca.key off the appliances. docs/install.md, docs/agent.md (roles).
set -eu

die() {
  echo "make-certs.sh: $*" >&2
  exit 1
}
usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 2 ] || usage
what=$1
dir=$2
shift 2
command -v openssl >/dev/null 2>&1 || die "openssl is not installed"
umask 077
CA_DAYS=${CA_DAYS:-3650}
LEAF_DAYS=${LEAF_DAYS:-825}

name_ok() {
  case "$1" in
  "" | *[!A-Za-z0-9._-]*) die "name '$1': use letters, digits and . _ - only" ;;
  esac
}

newkey() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 0600 "$1"
}

# sign NAME SUBJECT DAYS EXTENSIONS: a key, a request, and the CA's signature on it.
sign() {
  name=$1 subject=$2 days=$3 ext=$4
  if [ ! -f "$dir/ca.pem" ] || [ ! -f "$dir/ca.key" ]; then
    die "no CA in $dir: run '$0 ca $dir' first"
  fi
  if [ -f "$dir/$name.pem" ]; then
    echo "make-certs.sh: $dir/$name.pem exists; remove it and its key to make a new one" >&2
    return 0
  fi
  newkey "$dir/$name.key"
  printf '%s\n' "$ext" >"$dir/$name.ext"
  openssl req -new -key "$dir/$name.key" -subj "$subject" -out "$dir/$name.csr"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days "$days" -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
  chmod 0644 "$dir/$name.pem"
  echo "$dir/$name.pem ($subject, $days days)"
}

mkdir -p "$dir"
chmod 0700 "$dir"
case "$what" in
ca)
  [ $# -eq 0 ] || usage
  [ ! -f "$dir/ca.key" ] || die "$dir/ca.key exists; remove it to make a new CA (every certificate then needs remaking)"
  newkey "$dir/ca.key"
  openssl req -x509 -new -key "$dir/ca.key" -subj "/CN=swanpair agent API CA" -days "$CA_DAYS" \
    -sha256 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.pem"
  chmod 0644 "$dir/ca.pem"
  echo "$dir/ca.pem (CA, $CA_DAYS days)"
  ;;
agent)
  [ $# -ge 2 ] || usage
  name=$1
  shift
  name_ok "$name"
  san=""
  for ip in "$@"; do
    case "$ip" in
    *[!0-9a-fA-F.:]* | "") die "'$ip' is not an IP address" ;;
    esac
    san="${san:+$san,}IP:$ip"
  done
  sign "$name" "/CN=$name" "$LEAF_DAYS" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san"
  ;;
controller)
  name=${1:-controller}
  name_ok "$name"
  sign "$name" "/CN=$name" "$LEAF_DAYS" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
  ;;
operator)
  [ $# -ge 1 ] || usage
  name=$1
  days=${2:-1}
  name_ok "$name"
  case "$days" in *[!0-9]* | "" | 0) die "DAYS '$days': a whole number of days, at least 1" ;; esac
  sign "$name" "/OU=swanpair-operator/CN=$name" "$days" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
  ;;
*) usage ;;
esac
