#!/usr/bin/env bash
# Installs every non-cargo tool the local stack and the tests need into git-ignored
# folders of the project (.tools/). Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS"

# Python tools: cargo-lambda (brings zig), the SQS emulator, SAM CLI and cfn-lint.
PY_PACKAGES=(
  "cargo-lambda==1.9.*"
  "moto[server]==5.*"
  "aws-sam-cli==1.*"
  "cfn-lint==1.*"
  "boto3==1.*"
  "PyYAML==6.*"
  "standardwebhooks==1.*"
  "schemathesis==4.*"
  # Drives Debian's Chromium for the portal tests; it never downloads a browser of its own.
  "playwright==1.*"
)
if [ ! -x "$TOOLS/venv/bin/python" ]; then
  python3 -m venv "$TOOLS/venv"
fi
stamp="$TOOLS/venv/.installed-$(printf '%s\n' "${PY_PACKAGES[@]}" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  "$TOOLS/venv/bin/pip" install --quiet --upgrade pip
  "$TOOLS/venv/bin/pip" install --quiet "${PY_PACKAGES[@]}"
  touch "$stamp"
fi

# Amazon's DynamoDB Local ships inside this npm package; pack and extract it rather than
# installing its large dependency tree.
DDB_PKG="amplify-dynamodb-simulator@2.9.30"
if [ ! -f "$TOOLS/dynamodb/DynamoDBLocal.jar" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$DDB_PKG" >/dev/null && tar xzf ./*.tgz)
  rm -rf "$TOOLS/dynamodb"
  mv "$tmp/package/emulator" "$TOOLS/dynamodb"
  rm -rf "$tmp"
fi
# Debian's Chromium for the portal's browser tests (as root, or through sudo).
if [ ! -x /usr/bin/chromium ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium >/dev/null
fi
echo "tools ready in $TOOLS"
