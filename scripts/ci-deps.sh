#!/usr/bin/env bash
# What the black-box tests need of the machine beyond Node: sudo, POSIX ACLs (setfacl),
# setpriv and useradd, with which model-attacker.test.ts runs the job as an unprivileged
# user with passwordless sudo, as a GitHub-hosted runner does; gdb; openssl, whose strict
# verify loopback-cert.test.ts runs on the key proxy's certificate. Installed as root with
# apt-get when missing; elsewhere it says what is missing and the test says why it fails.
set -euo pipefail
missing=()
command -v sudo >/dev/null || missing+=(sudo)
command -v setfacl >/dev/null || missing+=(acl)
command -v setpriv >/dev/null || missing+=(util-linux)
command -v useradd >/dev/null || missing+=(passwd)
command -v gdb >/dev/null || missing+=(gdb)
command -v openssl >/dev/null || missing+=(openssl)
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Missing for the isolation tests (install them, as root): ${missing[*]}" >&2
fi
