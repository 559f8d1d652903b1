#!/usr/bin/env bash
# Builds every function as AWS runs it, with `sam build` (cargo-lambda with zig, arm64,
# provided.al2023), and reports each function's zipped size and the build time.
# Not part of the test command: a cold build takes many minutes. See BENCHMARKS.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
"$ROOT/scripts/install-tools.sh" >/dev/null
# Lambda's arm64 target: rustup fetches its standard library.
rustup target add aarch64-unknown-linux-gnu >/dev/null
started=$SECONDS
sam build --template template.yaml "$@"
took=$((SECONDS - started))
python3 - "$took" <<'PY'
import io, os, sys, zipfile
root = ".aws-sam/build"
rows = []
for name in sorted(os.listdir(root)):
    binary = os.path.join(root, name, "bootstrap")
    if not os.path.isfile(binary):
        continue
    buffer = io.BytesIO()
    # As `sam deploy` packages it: the bootstrap alone, deflated.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(binary, "bootstrap")
    rows.append((name, os.path.getsize(binary), len(buffer.getvalue())))
goal = 2 * 1024 * 1024
for name, raw, zipped in rows:
    mark = "" if zipped <= goal else "  over the 2 MiB goal"
    print(f"  {name:<30} {raw / 2**20:6.2f} MiB   zipped {zipped / 2**20:5.2f} MiB{mark}")
largest = max(z for _, _, z in rows)
print(f"{len(rows)} functions built in {sys.argv[1]} s; largest zip {largest / 2**20:.2f} MiB (goal 2 MiB)")
PY
