# Shell functions the benchmark scripts share (sourced by `compare` and `ratios`).

# Builds the engine's benchmarks in directory $1 with target directory $2 (the rest of the
# arguments name the benches, as `--bench NAME` each) and prints "<bench> <executable>".
bench_executables() {
  local dir=$1 target=$2 args=() name
  shift 2
  for name in "$@"; do args+=(--bench "$name"); done
  # The clock the token bucket's peer row reads, where the revision has it.
  if grep -q '^tsc = ' "$dir/engine/Cargo.toml"; then args+=(--features tsc); fi
  (cd "$dir" && CARGO_TARGET_DIR=$target cargo bench -q -p recourse-engine --no-run \
    "${args[@]}" --message-format=json 2>/dev/null) |
    grep -o '"target":{[^}]*"name":"[a-z_]*"[^}]*}.*"executable":"[^"]*"' |
    sed -E 's/.*"name":"([a-z_]+)".*"executable":"([^"]*)".*/\1 \2/'
}

# Runs a criterion bench executable $1 on the ids matching filter $2 (further arguments go
# to criterion) and prints "<id> <median ns>" for each.
criterion_medians() {
  local exe=$1 filter=$2
  shift 2
  "$exe" --bench --noplot "$@" "$filter" 2>/dev/null | awk '
    /^[a-z_]+\/[a-z0-9_]+/ { id = $1 }
    /time:/ {
      for (i = 1; i <= NF; i++) if ($i ~ /^\[/) { v = $(i + 2); u = $(i + 3); break }
      m = (u == "ps") ? 0.001 : (u == "ns") ? 1 : (u == "µs" || u == "us") ? 1000 : 1000000
      printf "%s %.2f\n", id, v * m
    }'
}
