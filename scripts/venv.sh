# Sourced by the scripts: `ensure_venv DIR PACKAGE…` creates the Python venv DIR and installs
# the pinned PACKAGEs into it, once; a stamp file named after the packages records it, so a
# change of pins reinstalls.
ensure_venv() {
  local venv=$1
  shift
  local stamp="$venv/.installed-$(printf '%s-' "$@" | tr -c 'A-Za-z0-9.=-' '_')"
  if [ ! -e "$stamp" ]; then
    echo "== installing $* into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    touch "$stamp"
  fi
}
