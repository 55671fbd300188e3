# Sourced by scripts/lint-template and scripts/deploy: `venv NAME REQUIREMENTS` creates (or
# refreshes, when the pinned requirements change) the venv $dir/NAME-venv and prints its bin
# folder. $dir is $STRATA_LOCALSTACK_DIR, else .localstack/ (git-ignored).
dir="${STRATA_LOCALSTACK_DIR:-$PWD/.localstack}"
venv() {
  local v="$dir/$1-venv" req="$2"
  if ! cmp -s "$req" "$v/.strata-requirements" 2>/dev/null; then
    echo "==> installing $(grep -v '^#' "$req" | tr '\n' ' ')into $v" >&2
    mkdir -p "$dir"
    python3 -m venv --clear "$v"
    "$v/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    cp "$req" "$v/.strata-requirements"
  fi
  echo "$v/bin"
}
