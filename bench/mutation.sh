#!/usr/bin/env bash
# Mutation testing of model_core with mutmut (configured in pyproject.toml, [tool.mutmut]).
# Slow (tens of minutes for the whole package on 2 cores), so not in CI.
#
#   bench/mutation.sh                      # every module mutmut is configured for
#   bench/mutation.sh activations forward  # only these modules of model_core
#   bench/mutation.sh --service            # the service's pure modules (bench/mutmut-service.toml)
#   bench/mutation.sh --service api.limits # only this one of them
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
VENV=$(cd "$VENV" && pwd)  # absolute: the service run leaves the checkout's root
top=$PWD
score=(bench/mutation_score.py)
patterns=()
if [ "${1:-}" = "--service" ]; then
    shift
    # mutmut reads ./pyproject.toml's [tool.mutmut] and keeps ./mutants: a root of its own,
    # with copies (mtimes kept, so its state survives a re-run) and the service's section
    root=.mutmut-service
    mkdir -p "$root"
    rm -rf "$root/service" "$root/tests"
    cp -a service tests "$root/"
    sed '/^\[tool.mutmut\]/,/^\[/{/^\[tool.mutmut\]/d;/^\[/!d}' pyproject.toml > "$root/pyproject.toml"
    cat bench/mutmut-service.toml >> "$root/pyproject.toml"
    [ "$#" -gt 0 ] || set -- state.jobs api.limits api.uploads api.http.guards api.http.framing
    for module in "$@"; do
        case $module in
            # of jobs.py only the progress plan (the rest is the SQLite queue), of uploads.py
            # only the media types (the rest streams a multipart body to a file)
            state.jobs) patterns+=("service.state.jobs.x_progress_plan*") ;;
            api.uploads) for f in media_type unsupported_media_type multipart_content_type missing_file; do
                             patterns+=("service.api.uploads.x_${f}__mutmut_*"); done ;;
            *) patterns+=("service.$module.*") ;;
        esac
    done
    score+=(--service)
    cd "$root"
else
    for module in "$@"; do patterns+=("model_core.$module.*"); done
fi
start=$(date +%s)
env -u CATVNONCAT_DATA nice -n 19 "$VENV/bin/mutmut" run --max-children 1 "${patterns[@]}" \
    > mutants.log 2>&1 || { tail -n 40 mutants.log; exit 1; }
echo "mutmut ran $(( $(date +%s) - start )) s (log: $PWD/mutants.log)"
cd "$top"
"$VENV/bin/python" "${score[@]}" "$@"
