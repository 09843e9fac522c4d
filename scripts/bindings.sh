#!/usr/bin/env bash
# Generates the Kotlin, Swift and Python sources of waybill-mobile from the
# library (uniffi's library mode: the names, types and doc comments are read
# from the unstripped build), into OUT (default: target/bindings):
#
#   OUT/kotlin/waybill/waybill_mobile.kt
#   OUT/swift/Waybill.swift, WaybillFFI.h, WaybillFFI.modulemap
#   OUT/python/waybill_mobile.py
#
# Usage: bash scripts/bindings.sh [OUT]. See docs/mobile.md.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
out=${1:-$target/bindings}
cargo build --locked -p waybill-mobile -p uniffi-bindgen
case "$(uname)" in
    Darwin) library="$target/debug/libwaybill_mobile.dylib" ;;
    *) library="$target/debug/libwaybill_mobile.so" ;;
esac
for language in kotlin swift python; do
    rm -rf "${out:?}/$language"
    "$target/debug/uniffi-bindgen" generate --no-format --library "$library" \
        --language "$language" --out-dir "$out/$language"
done
echo "bindings in $out/{kotlin,swift,python}"
