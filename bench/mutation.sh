#!/usr/bin/env bash
# Mutation testing of model_core with mutmut (configured in pyproject.toml, [tool.mutmut]).
# Slow (tens of minutes for the whole package on 2 cores), so not in CI.
#
#   bench/mutation.sh                      # every module mutmut is configured for
#   bench/mutation.sh activations forward  # only these modules of model_core
#
# One worker at nice 19: the machine is shared. CATVNONCAT_DATA is unset, so the course
# reproduction skips: every kill comes from a unit test that runs without the data.
# Results accumulate in mutants/ (git-ignored): a second run re-checks only what changed.
# The score is printed by bench/mutation_score.py, which counts the mutants listed in
# bench/mutation_equivalent.txt as equivalent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MUTMUT_VENV:-.venv-mut}
if [ ! -x "$VENV/bin/mutmut" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -e ".[dev]" "mutmut>=3.8,<4"
fi
patterns=()
for module in "$@"; do patterns+=("model_core.$module.*"); done
start=$(date +%s)
env -u CATVNONCAT_DATA nice -n 19 "$VENV/bin/mutmut" run --max-children 1 "${patterns[@]}" \
    > mutants.log 2>&1 || { tail -n 40 mutants.log; exit 1; }
echo "mutmut ran $(( $(date +%s) - start )) s (log: mutants.log)"
"$VENV/bin/python" bench/mutation_score.py "$@"
