#!/usr/bin/env bash
# Mutation testing with mutmut 3 over the modules whose numbers users see.
#
#   bash bench/mutation.sh [MODULE.py ...]        default: losses, model, metrics (vae/core)
#   MUTATION_TESTS="tests/test_losses.py ..."     tests the mutants run (default: the fast set below)
#   MUTATION_JOBS=2  MUTATION_WORK=/tmp/vae-mutation  MUTATION_NICE=19
#   MUTATION_RERUN=1   reuse the last run in MUTATION_WORK: refresh tests/ from this checkout and
#                      rerun only the mutants it did not kill (after adding tests for them)
#   MUTATION_SAMPLE=N  run only N mutants per module, drawn at random (seed MUTATION_SEED=0) from
#                      those not yet checked: a score estimate when the whole set would take hours.
#                      A fresh run first runs each function's first mutant (mutmut needs a run to
#                      generate the mutants and collect which tests reach which function).
#
# Works on a scratch copy (tracked + untracked, not ignored, files of this checkout) so the
# repo never gets a mutants/ folder or a mutmut config. mutmut runs each mutant only against
# the tests that reached the mutated function in its first (stats) run; keep the list fast.
# Prints killed/total per module and every surviving mutant's diff; tests/MUTATION.md records
# why each remaining survivor is equivalent. Slow on 2 cores (minutes per module): CI does not
# run it. Needs `pip install mutmut` (requirements-test.txt).
#
# One change in the copy only: mutmut 3 skips decorated functions, so the copy drops the
# `@torch.no_grad()` lines of the mutated modules (same values, autograd merely records),
# otherwise iwae_log_likelihood, active_units and iw_log_px would never be mutated.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=(vae/core/losses.py vae/core/model.py vae/core/metrics.py)
tests=${MUTATION_TESTS:-"tests/test_losses.py tests/test_model.py tests/test_metrics.py"}
work=${MUTATION_WORK:-/tmp/vae-mutation}
jobs=${MUTATION_JOBS:-2}
niceness=${MUTATION_NICE:-19}

for m in "${modules[@]}"; do [ -f "$m" ] || { echo "no such module: $m" >&2; exit 2; }; done
present=""; for t in $tests; do [ -e "${t%%::*}" ] && present="$present $t"; done; tests=$present
export VAE_DATA_DIR="${VAE_DATA_DIR:-$(cd .. && pwd)/shared/data}"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1  # one torch thread per mutant process

sample_unchecked() {  # MUTATION_SAMPLE mutant names per module, among those never run
  python - "$@" <<'EOF'
import json, os, random, sys
from pathlib import Path
rng = random.Random(int(os.environ.get("MUTATION_SEED", "0")))
for mod in sys.argv[1:]:
    codes = json.loads((Path("mutants") / (mod + ".meta")).read_text())["exit_code_by_key"]
    todo = sorted(k for k, c in codes.items() if c is None)
    for name in rng.sample(todo, min(int(os.environ["MUTATION_SAMPLE"]), len(todo))):
        print(name)
EOF
}

if [ "${MUTATION_RERUN:-0}" = 1 ] && [ -d "$work/mutants" ]; then
  rm -rf "$work/tests" "$work/mutants/tests" "$work/bench/harness" "$work/mutants/bench/harness"
  git ls-files -z --cached --others --exclude-standard -- tests bench/harness | xargs -0 tar -cf - | tar -xf - -C "$work"
  cd "$work"
  mapfile -t again < <(python - "${modules[@]}" <<'EOF'
import json, os, sys
from pathlib import Path
for mod in sys.argv[1:]:
    meta = Path("mutants") / (mod + ".meta")
    for k, c in json.loads(meta.read_text())["exit_code_by_key"].items():
        if c in (0, None, 5, 33, 34, 35):  # survived, not checked, no tests, skipped, suspicious
            if c is not None or not os.environ.get("MUTATION_SAMPLE"):  # sampled runs: the rest
                print(k)
EOF
)
  echo "rerunning ${#again[@]} mutants not killed last time"
  rerun_args=("${again[@]}")
  # MUTATION_SAMPLE=0: only the survivors; N > 0: the survivors and N more never run.
  if [ -n "${MUTATION_SAMPLE:-}" ]; then mapfile -t -O "${#rerun_args[@]}" rerun_args < <(sample_unchecked "${modules[@]}"); fi
else
  rm -rf "$work" && mkdir -p "$work"
  git ls-files -z --cached --others --exclude-standard | grep -zv '^checkpoints/user/' \
    | xargs -0 tar -cf - 2>/dev/null | tar -xf - -C "$work"
  cd "$work"
  for m in "${modules[@]}"; do sed -i '/^[[:space:]]*@torch\.no_grad()[[:space:]]*$/d' "$m"; done
  rerun_args=()
fi

{
  echo "[mutmut]"
  echo "source_paths = vae"
  echo "only_mutate ="
  for m in "${modules[@]}"; do echo "    $m"; done
  echo "pytest_add_cli_args_test_selection ="
  for t in $tests; do echo "    $t"; done
  echo "pytest_add_cli_args ="
  echo "    -p"
  echo "    no:cacheprovider"
  echo "also_copy ="
  echo "    checkpoints"
  echo "    pages"
  echo "    app.py"
  echo "    .streamlit"
  echo "    bench/harness"
} > setup.cfg

start=$(date +%s)
mut() {
  nice -n "$niceness" python -m mutmut run --max-children "$jobs" "$@" >> mutmut-run.log 2>&1 || {
    echo "mutmut run failed; last lines of $work/mutmut-run.log:" >&2; tail -30 mutmut-run.log >&2; exit 1; }
}
: > mutmut-run.log
if [ -n "${MUTATION_SAMPLE:-}" ] && [ ${#rerun_args[@]} -eq 0 ]; then
  mut '*__mutmut_1'  # generates the mutants and the test stats; runs one mutant per function
  mapfile -t rerun_args < <(sample_unchecked "${modules[@]}")
fi
if [ "${MUTATION_RERUN:-0}" = 1 ] && [ ${#rerun_args[@]} -eq 0 ]; then
  echo "nothing to rerun"
else
  mut "${rerun_args[@]}"
fi
echo "mutmut run: $(( $(date +%s) - start )) s, modules: ${modules[*]}"

python - "${modules[@]}" <<'EOF'
"""killed / total per module from mutmut's .meta files, then each survivor's diff."""
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

KILLED = {"killed", "timeout", "segfault", "caught by type check"}
survivors = []
for mod in sys.argv[1:]:
    meta = Path("mutants") / (mod + ".meta")
    codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    status = {k: status_by_exit_code[c] for k, c in codes.items()}
    killed = sum(s in KILLED for s in status.values())
    checked = sum(c is not None for c in codes.values())  # < total after MUTATION_SAMPLE runs
    counts = Counter(s for k, s in status.items() if s not in KILLED and codes[k] is not None)
    survivors += [k for k, s in status.items() if s not in KILLED and codes[k] is not None]
    pct = f" ({100 * killed / checked:.1f}%)" if checked else ""
    of = f" run, of {len(codes)} mutants" if checked < len(codes) else ""
    print(f"{mod}: killed {killed} / {checked}{pct}{of}; not killed: {dict(counts) or 'none'}")
for name in survivors:
    print(f"\n=== {name}")
    print(subprocess.run([sys.executable, "-m", "mutmut", "show", name],
                         capture_output=True, text=True).stdout.strip())
EOF
echo "(scratch copy and mutmut's state: $work; 'cd $work && mutmut show NAME' for one mutant)"
