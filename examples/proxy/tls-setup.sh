#!/usr/bin/env bash
# A private CA and a certificate for `smv serve --tls-cert/--tls-key`, with openssl only (no
# nginx or caddy in front). Clients trust exactly this CA with SMV_SERVER_CA=ca.pem.
#   examples/proxy/tls-setup.sh smv.example.com 10.0.0.5 /etc/smv/tls
set -euo pipefail
name=${1:?usage: tls-setup.sh DNS-NAME [IP] [DIR]}
ip=${2:-}
dir=${3:-.}
mkdir -p "$dir" && cd "$dir"
umask 077
san="DNS:$name"
[ -n "$ip" ] && san="$san,IP:$ip"

# The CA: keep ca.key offline after this (it can mint certificates clients will trust).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1825 \
  -subj "/CN=smv proxy CA" -keyout ca.key -out ca.pem 2>/dev/null
# The server's key and certificate (not a CA: rustls refuses a CA certificate as a leaf).
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=$name" -keyout key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 397 \
  -extfile ext.cnf -out cert.pem 2>/dev/null
rm -f server.csr ext.cnf
chmod 0644 ca.pem cert.pem
echo "server: smv serve --listen 0.0.0.0:7443 --tls-cert $PWD/cert.pem --tls-key $PWD/key.pem"
echo "client: export SMV_SERVER=https://$name:7443 SMV_SERVER_CA=/path/to/ca.pem"
