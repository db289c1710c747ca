#!/usr/bin/env bash
# The test command: installs the pinned test tools, starts moto's server (the DynamoDB/SQS wire
# endpoint) on a free loopback port, runs every test of the workspace with all features against it,
# and stops the server on every exit path. Extra arguments go to `cargo test` (e.g. a test filter).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
requirements="$root/infra/requirements-test.txt"

if [[ ! -x "$venv/bin/python" ]]; then
  echo "test.sh: creating $venv"
  python3 -m venv "$venv"
fi
# Reinstall only when the pinned list changed since the last install.
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "test.sh: installing test tools from infra/requirements-test.txt"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi

# The browser tests drive Debian's Chromium through Playwright's `executable_path` (never
# `playwright install`, which downloads a browser); a CJK font, or Chinese renders as boxes.
if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
  echo "test.sh: installing chromium and fonts-noto-cjk"
  sudo_cmd=()
  if [[ "$(id -u)" != 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    chromium fonts-noto-cjk >/dev/null
fi
export DINGBRIDGE_TEST_CHROMIUM="$(command -v chromium)"

port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp -t moto.XXXXXX.log)"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
cleanup() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT INT TERM

endpoint="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  if curl -fsS "$endpoint/moto-api/" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "test.sh: moto_server exited at start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! curl -fsS "$endpoint/moto-api/" >/dev/null 2>&1; then
  echo "test.sh: moto_server did not answer on $endpoint within 10 s" >&2
  cat "$log" >&2
  exit 1
fi
echo "test.sh: moto_server ready on $endpoint"

export AWS_ENDPOINT_URL="$endpoint"
export DINGBRIDGE_TEST_AWS_ENDPOINT="$endpoint"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
# The SCIM checkers (scim2, scim-sanity) the end-to-end tests run.
export DINGBRIDGE_TEST_VENV="$venv"

status=0
results="$(mktemp -t cargo-test.XXXXXX.log)"
cargo test --workspace --all-features "$@" 2>&1 | tee "$results" || status=$?
# One closing line for the whole run: cargo prints a result line per test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
rm -f "$results"
exit "$status"
