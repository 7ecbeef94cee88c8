# Sourced by the scripts: `start_moto VENV` starts moto's server from VENV on a free loopback
# port, stops it when the calling script exits, and exports MOTO_ENDPOINT, AWS_ENDPOINT_URL,
# a fixed region, test credentials and AWS_EC2_METADATA_DISABLED for the SDKs.
start_moto() {
  local venv=$1
  moto_log=$(mktemp)
  "$venv/bin/moto_server" -H 127.0.0.1 -p 0 2>"$moto_log" &
  moto_pid=$!
  trap 'kill $moto_pid 2>/dev/null || true; rm -f "$moto_log"' EXIT
  local port=
  for _ in $(seq 1 200); do
    port=$(sed -n 's|.*Running on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$moto_log" | head -n1)
    [ -n "$port" ] && break
    kill -0 $moto_pid 2>/dev/null || { cat "$moto_log"; echo "moto_server died"; exit 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$moto_log"; echo "moto_server did not start"; exit 1; }
  echo "== moto_server on 127.0.0.1:$port"
  export MOTO_ENDPOINT=http://127.0.0.1:$port
  export AWS_ENDPOINT_URL=$MOTO_ENDPOINT
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN || true
}
