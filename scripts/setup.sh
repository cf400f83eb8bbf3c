#!/usr/bin/env bash
# Installs what OceanQL needs to build on Debian/Ubuntu when it is missing:
# libnetcdf-dev (the netcdf crate links the system libnetcdf), pkg-config,
# python3-venv (for the cross-check tests), openssl (a TLS test), and checks the Rust toolchain.
set -euo pipefail

need=()
dpkg -s libnetcdf-dev >/dev/null 2>&1 || need+=(libnetcdf-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need+=(pkg-config)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# openssl makes the self-signed certificate of the Flight SQL TLS test (repl/tests/flight.rs).
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >&2
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust is not installed. Install it with rustup (https://rustup.rs), Rust >= 1.94, then run this again." >&2
  exit 1
fi
rust_minor=$(rustc --version | sed -E 's/rustc 1\.([0-9]+).*/\1/')
if [ "${rust_minor:-0}" -lt 94 ]; then
  echo "setup: rustc $(rustc --version) is too old: OceanQL needs Rust >= 1.94 (rustup update stable)." >&2
  exit 1
fi
