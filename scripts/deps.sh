#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build Millrace: RocksDB's
# headers and library (librocksdb-dev, RocksDB 7.8, which grocksdb v1.7.15
# builds against). Does nothing when they are present.
set -euo pipefail
if [ -f /usr/include/rocksdb/c.h ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing librocksdb-dev (RocksDB headers and library)..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq librocksdb-dev
