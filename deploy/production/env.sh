# Sourced by sop-run and supervisord.sh: load_env FILE exports its KEY=value lines
# literally, as systemd's EnvironmentFile does (a rediss:// URL with `&` in it must
# not go through the shell). Blank lines and lines starting with # are skipped.
load_env() {
  [ -r "$1" ] || { echo "cannot read the env file $1 (see deploy/production/env.example)" >&2; return 1; }
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    export "${line%%=*}=${line#*=}"
  done <"$1"
}
