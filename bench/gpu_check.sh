#!/usr/bin/env bash
# bench/gpu_check.sh: the prepared GPU check (issue 16, item 8). Run it once on a machine with a CUDA GPU:
#
#     bash bench/gpu_check.sh [WHEELDIR [LOGDIR]]
#
# It installs gantool (no dependencies) into a throwaway venv that sees the current python's packages,
# then runs, each under `timeout` and all within GPU_CHECK_BUDGET_S seconds (default 450, under 8 min):
#   - tests/test_cuda.py (the tests marked `cuda`): train/sample, AMP and --compile, a classifier, evaluate
#   - torchrun --standalone --nproc_per_node 1 -m gantool train --device cuda (and 2 processes over NCCL
#     when there are 2 GPUs; with one, a bare NCCL all-reduce shows the backend works)
#   - bench/train_throughput.py on CUDA against the textbook loop: AMP on/off, --compile off/on
# and prints one markdown table at the end: a row per check (ok / FAILED / skipped) and its figure.
# Exit status: 0 when no row FAILED; 1 otherwise, and always 1 without a CUDA device (never a silent pass).
#
# No network is assumed. WHEELDIR holds the wheels the machine lacks: captum (and tqdm, which captum
# needs, if that is missing too), and pytest / pytest-xdist / hypothesis with their dependencies if those
# are missing; nothing is taken from WHEELDIR when the current python already has it. LOGDIR (default:
# a temporary folder, printed at the end) gets every step's stdout/stderr and the tests' junit XML.
# The python is $PYTHON, else python3 on PATH; it must have torch, torchvision, torchmetrics, typer, rich,
# safetensors, scikit-learn and matplotlib. Nothing is installed into it.

set -u -o pipefail  # no -e: a failing step is recorded in the table and the script goes on

START=$SECONDS
BUDGET_S=${GPU_CHECK_BUDGET_S:-450}  # every step's limit is cut to what is left of this
KILL_AFTER=10                        # `timeout -k`: SIGKILL this long after SIGTERM
MIN_STEP_S=20                        # a step that would get less than this is not started
DEADLINE=$((START + BUDGET_S))
PY=${PYTHON:-python3}

# the arguments as absolute paths, before the cd to the checkout
WHEELDIR=${1:-}
[ -n "$WHEELDIR" ] && [ -d "$WHEELDIR" ] && WHEELDIR=$(cd "$WHEELDIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX") || exit 2
LOGDIR=${2:-$WORK/logs}
mkdir -p "$LOGDIR" && LOGDIR=$(cd "$LOGDIR" && pwd) || exit 2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
VENV=$WORK/venv
VPY=$VENV/bin/python  # the python every check runs under (the current one if no venv can be made)

# Everything a step writes stays in WORK (removed at the end; the logs are kept): compiled kernels,
# gantool's data root and cache, pytest's folders. GANTOOL_DEVICE and the like would override the checks.
export TORCHINDUCTOR_CACHE_DIR=$WORK/inductor TRITON_CACHE_DIR=$WORK/triton
export GANTOOL_DATA_ROOT=$WORK/data-root XDG_CACHE_HOME=$WORK/cache
unset GANTOOL_DEVICE GANTOOL_MODEL GANTOOL_THREADS GANTOOL_DEBUG
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

cleanup() {  # keep the logs (they may live inside WORK); drop the venv, caches and runs
    find "$WORK" -mindepth 1 -maxdepth 1 ! -path "$LOGDIR" -exec rm -rf {} + 2>/dev/null
    [ "$LOGDIR" = "$WORK/logs" ] || rmdir "$WORK" 2>/dev/null
}
trap cleanup EXIT

# ---- the table ---------------------------------------------------------------------------------------
NAMES=() STATUSES=() FIGURES=() FAILED_LOGS=()
row() {  # row NAME STATUS FIGURE [LOG]: one line of the final table; a FAILED row's LOG tail is shown too
    NAMES+=("$1") STATUSES+=("$2") FIGURES+=("${3//|//}")
    echo "gpu_check: $1: $2${3:+ ($3)}"
    if [ "$2" = FAILED ] && [ -n "${4:-}" ]; then FAILED_LOGS+=("$1|$4"); fi
}

print_table() {
    local i
    echo "| check | status | figure |"
    echo "|---|---|---|"
    for i in "${!NAMES[@]}"; do
        echo "| ${NAMES[$i]} | ${STATUSES[$i]} | ${FIGURES[$i]} |"
    done
}

# ---- running a step under a time limit ------------------------------------------------------------------
# limited WANT NAME CMD...: CMD under `timeout`, stdout to $LOGDIR/NAME.out, stderr to NAME.err, stdin from
# /dev/null (nothing waits for a terminal). The limit is WANT seconds or what is left of the budget,
# whichever is less. Sets RC (124/137: timed out; "skip": not started, too little time left), TOOK (seconds,
# 1 decimal), LIMIT, OUTF and ERRF.
limited() {
    local want=$1 name=$2 t0
    shift 2
    OUTF=$LOGDIR/$name.out ERRF=$LOGDIR/$name.err
    LIMIT=$((DEADLINE - SECONDS - KILL_AFTER))
    ((want < LIMIT)) && LIMIT=$want
    if ((LIMIT < MIN_STEP_S)); then
        RC=skip TOOK=0
        echo "not started: ${LIMIT}s left of the ${BUDGET_S}s budget" >"$ERRF"
        return
    fi
    echo "gpu_check: running $name (limit ${LIMIT}s) ..."
    t0=$(date +%s.%N)
    timeout -k "$KILL_AFTER" "$LIMIT" "$@" >"$OUTF" 2>"$ERRF" </dev/null
    RC=$?
    TOOK=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}

why_failed() {  # one line for a FAILED row's figure, from RC and the step's stderr
    case $RC in
        124 | 137) echo "timed out after ${LIMIT}s" ;;
        *) echo "exit $RC after ${TOOK}s: $(grep -v '^[[:space:]]*$' "$ERRF" | tail -n 1 | cut -c1-160)" ;;
    esac
}

record() {  # record NAME FIGURE: the row of the last `limited` (ok when RC is 0)
    if [ "$RC" = skip ]; then
        row "$1" skipped "no time left in the ${BUDGET_S}s budget"
    elif [ "$RC" = 0 ]; then
        row "$1" ok "$2"
    else
        row "$1" FAILED "$(why_failed)" "$ERRF"
    fi
}

script() {  # script NAME: stdin to $WORK/NAME.py, for `limited` to run (its stdin is /dev/null)
    cat >"$WORK/$1.py"
    echo "$WORK/$1.py"
}

# ---- 1. the device: said first, on one line -------------------------------------------------------------
HAVE_CUDA=0 GPUS=0
step_device() {
    local probe line
    probe=$(script device_probe <<'EOF'
import sys
try:
    import torch
except Exception as e:  # no torch at all: nothing below can run
    print(f"none\tthe python cannot import torch: {e}"); sys.exit(0)
if torch.version.cuda is None:
    print(f"none\ttorch {torch.__version__} is a CPU-only build"); sys.exit(0)
if not torch.cuda.is_available():
    try:  # is_available() says no quietly; init() says why (no driver, no device visible, ...)
        torch.cuda.init()
        why = "torch.cuda.is_available() is False"
    except Exception as e:
        why = str(e).strip().splitlines()[0].split(". ")[0]
    print(f"none\ttorch {torch.__version__} (CUDA {torch.version.cuda}): {why}"); sys.exit(0)
n = torch.cuda.device_count()
names = ", ".join(sorted({torch.cuda.get_device_name(i) for i in range(n)}))
cap = ".".join(map(str, torch.cuda.get_device_capability(0)))
print(f"{n}\t{n} x {names} (sm {cap}), torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")
EOF
    )
    limited 60 device "$PY" "$probe"
    line=$(head -n 1 "$OUTF" 2>/dev/null)
    if [ "$RC" != 0 ] || [ -z "$line" ]; then
        echo "gpu_check: no CUDA device: $PY could not be asked ($(why_failed))"
        row "cuda device" FAILED "no CUDA device: $PY could not be asked" "$ERRF"
    elif [ "${line%%$'\t'*}" = none ]; then
        echo "gpu_check: no CUDA device: ${line#*$'\t'}; the CUDA checks are skipped and the exit status is 1"
        row "cuda device" FAILED "no CUDA device: ${line#*$'\t'}"
    else
        HAVE_CUDA=1 GPUS=${line%%$'\t'*}
        echo "gpu_check: CUDA: ${line#*$'\t'}"
        row "cuda device" ok "${line#*$'\t'}"
    fi
}

# ---- 2. install: a throwaway venv that sees the current python's packages --------------------------------
# Why a venv and not the current python: that may be the project's .venv or a system python, neither ours
# to change. Why not `venv --system-site-packages`: made from a venv's python, it sees the base interpreter's
# packages, not that venv's. So the new venv gets a .pth that adds the current python's site folders (their
# own .pth files processed, as site.addsitedir does) after its own: what we install (captum, pytest,
# gantool -e) lands in the throwaway venv and wins; torch and the rest come from outside, untouched (pip,
# run inside the venv, leaves outside packages alone: "outside environment, not uninstalling").
IN_VENV=0
step_venv() {
    local sites vsite
    limited 60 venv "$PY" -m venv --without-pip "$VENV"
    if [ "$RC" = 0 ]; then
        sites=$("$PY" -c 'import site; print(repr(list(site.getsitepackages())
            + ([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])))')
        vsite=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        # (one line, run by site at start-up; map, not a comprehension, which would not see `site` there)
        echo "import site; list(map(site.addsitedir, $sites))" >"$vsite/zz_gpu_check_outer.pth"
        # pip: the current python's (seen through the .pth), else the venv's own from ensurepip (offline)
        "$VPY" -m pip --version >/dev/null 2>&1 || "$VPY" -m ensurepip --default-pip >>"$ERRF" 2>&1
    fi
    if [ "$RC" = 0 ] && "$VPY" -c 'import torch' 2>>"$ERRF" && "$VPY" -m pip --version >/dev/null 2>>"$ERRF"; then
        IN_VENV=1
        row "install: venv" ok "$("$VPY" -c 'import sys, torch; print(f"python {sys.version.split()[0]}, torch {torch.__version__}, packages of {sys.argv[1]}")' "$PY" 2>&1 | tail -n 1)"
    else
        [ "$RC" = 0 ] && RC="0 (but the venv cannot import torch or run pip)"
        row "install: venv" FAILED "$(why_failed); the checks run under $PY, nothing installed" "$ERRF"
        VPY=$PY
    fi
}

have() { "$VPY" -c "import $1" >/dev/null 2>&1; }  # have MODULE: the checks' python imports it
version_of() { "$VPY" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null; }
wheeldir_ok() { [ -n "$WHEELDIR" ] && [ -d "$WHEELDIR" ]; }

from_wheeldir() {  # from_wheeldir DIST...: pip install, offline, from WHEELDIR only
    limited 120 "pip-$1" "$VPY" -m pip install --no-index --find-links "$WHEELDIR" "$@"
}

step_captum() {  # saliency and adversarial need captum; the machine has none unless WHEELDIR brings it
    if have captum; then
        row "install: captum" ok "$(version_of captum), already importable"
    elif ((!IN_VENV)); then
        row "install: captum" FAILED "not importable (no venv to install it into)"
    elif ! wheeldir_ok; then
        row "install: captum" FAILED "not importable, and no WHEELDIR to install it from (${WHEELDIR:-none given})"
    else
        from_wheeldir captum
        if [ "$RC" = 0 ] && ! have captum; then
            RC="0 (but not importable: $("$VPY" -c 'import captum' 2>&1 | tail -n 1))"
        fi
        record "install: captum" "$(version_of captum) from $WHEELDIR"
    fi
}

step_test_tools() {  # pytest is needed; pytest-xdist and hypothesis only if missing and WHEELDIR has them
    local dist mod wheels=() notes=()
    for dist in pytest pytest-xdist hypothesis; do
        mod=${dist/pytest-xdist/xdist}
        if have "$mod"; then
            notes+=("$dist $(version_of "$dist")")
        elif ((IN_VENV)) && wheeldir_ok && compgen -G "$WHEELDIR/${dist//-/_}-[0-9]*" >/dev/null; then
            wheels+=("$dist")
        fi
    done
    if ((${#wheels[@]})); then
        from_wheeldir "${wheels[@]}"
        [ "$RC" = 0 ] || record "install: ${wheels[*]} from WHEELDIR" ""
        for dist in "${wheels[@]}"; do have "${dist/pytest-xdist/xdist}" && notes+=("$dist $(version_of "$dist") from WHEELDIR"); done
    fi
    if have pytest; then
        row "install: test tools" ok "$(printf '%s, ' "${notes[@]}" | sed 's/, $//')"
    else
        row "install: test tools" FAILED "pytest is not importable and WHEELDIR has no pytest wheel"
    fi
}

step_gantool() {  # the project itself, editable and without dependencies (they are the machine's)
    if ((!IN_VENV)); then
        row "install: gantool (pip -e, no deps)" skipped "no venv: gantool is imported from the checkout"
        return
    fi
    # --no-build-isolation: the build backend (setuptools) comes from the current python, not the network
    limited 120 pip-gantool "$VPY" -m pip install --no-deps --no-index --no-build-isolation -e "$ROOT"
    if [ "$RC" = 0 ] && ! "$VENV/bin/gantool" --version >/dev/null 2>>"$ERRF"; then
        RC="0 (but $VENV/bin/gantool --version fails)"
    fi
    if [ "$RC" = 0 ]; then
        row "install: gantool (pip -e, no deps)" ok "$("$VENV/bin/gantool" --version 2>&1 | tail -n 1), ${TOOK}s"
    else  # the checks below still import gantool: from the checkout, the working directory
        row "install: gantool (pip -e, no deps)" FAILED "$(why_failed); the checks import it from the checkout" "$ERRF"
    fi
}

# ---- 3. the tests marked cuda -----------------------------------------------------------------------------
junit_rows() {  # junit_rows XML: "name<TAB>status<TAB>figure" per test case
    "$PY" - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET

for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    name, seconds = case.get("name", "?"), float(case.get("time") or 0)
    bad = case.find("failure") if case.find("failure") is not None else case.find("error")
    skip = case.find("skipped")
    if bad is not None:
        line = (bad.get("message") or "").strip().splitlines() or ["(no message)"]
        print(f"{name}\tFAILED\t{line[0][:160]} ({seconds:.1f}s)")
    elif skip is not None:
        print(f"{name}\tskipped\t{(skip.get('message') or '').strip()[:160]}")
    else:
        print(f"{name}\tok\t{seconds:.1f}s")
EOF
}

step_tests() {
    local xml=$LOGDIR/test_cuda.xml summary name status figure
    if ! have pytest; then row "pytest tests/test_cuda.py" FAILED "no pytest"; return; fi
    # one process: the CUDA context and the compiled kernels are made once. -p no:cacheprovider: no
    # .pytest_cache in the checkout; --basetemp: the tests' folders go with WORK
    limited 240 pytest "$VPY" -m pytest -v -rs -p no:cacheprovider --basetemp "$WORK/pytest" \
        --junitxml "$xml" tests/test_cuda.py
    if [ "$RC" = skip ]; then record "pytest tests/test_cuda.py" ""; return; fi
    if [ -s "$xml" ]; then  # a row per test: ok and its seconds, the skip reason, or the failure's first line
        while IFS=$'\t' read -r name status figure; do
            [[ $figure == "no CUDA device"* ]] && figure="no CUDA device"  # the first row says why
            row "test: $name" "$status" "$figure"
        done < <(junit_rows "$xml")
    fi
    summary=$(grep -E '^=+ .*(passed|failed|skipped|error|no tests ran).* =+$' "$OUTF" | tail -n 1 |
        sed -E 's/^=+ //; s/ =+$//')
    case $RC in
        0) if grep -q ' passed' <<<"$summary"; then row "pytest tests/test_cuda.py" ok "$summary"
           else row "pytest tests/test_cuda.py" skipped "${summary:-no summary line}"; fi ;;
        124 | 137) row "pytest tests/test_cuda.py" FAILED "timed out after ${LIMIT}s" "$OUTF" ;;
        *) row "pytest tests/test_cuda.py" FAILED "exit $RC: ${summary:-no summary line}" "$OUTF" ;;
    esac
}

# ---- 4. torchrun ----------------------------------------------------------------------------------------
throughput() {  # throughput FILE: a figure from train's --json summary on stdout
    "$PY" - "$1" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
s = json.loads(text[text.index("{"):])  # anything torchrun printed before the JSON is skipped
print(f"{s['steps']} steps, {s['images_seen']} images in {s['seconds']:.1f}s "
      f"({s['images_seen'] / max(s['seconds'], 1e-9):.0f} img/s) on {s['device']}, {s['processes']} process(es)")
EOF
}

torchrun_train() {  # torchrun_train NAME NPROC: the default recipe for 300 steps under torchrun
    # python -m torch.distributed.run is the `torchrun` entry point, here under the checks' python
    limited 120 "$1" "$VPY" -m torch.distributed.run --standalone --nproc_per_node "$2" \
        -m gantool --device cuda --seed 0 --json train --out "$WORK/$1" --steps 300 --log-every 100
    if [ "$RC" = 0 ] && [ ! -f "$WORK/$1/model.safetensors" ]; then RC="0 (but no model.safetensors)"; fi
}

step_torchrun() {
    local name="torchrun 1 process (-m gantool train --device cuda)"
    if ((!HAVE_CUDA)); then row "$name" skipped "no CUDA device"; return; fi
    torchrun_train torchrun-1 1
    # WORLD_SIZE 1 makes no process group (gantool/gan/distributed.py): NCCL is not touched here
    record "$name" "$( (throughput "$OUTF") 2>&1 | tail -n 1); WORLD_SIZE 1: no process group"
}

step_nccl() {
    local name="torchrun 2 processes (NCCL DDP)" probe
    if ((!HAVE_CUDA)); then
        row "$name" skipped "no CUDA device"
        row "nccl all-reduce (torch, 1 process)" skipped "no CUDA device"
        return
    fi
    if ((GPUS >= 2)); then
        torchrun_train torchrun-2 2
        record "$name" "$( (throughput "$OUTF") 2>&1 | tail -n 1)"
        return
    fi
    row "$name" skipped "$GPUS CUDA device: gantool takes one GPU per process"
    # one GPU: gantool never makes an NCCL group, so this shows the backend itself works on this machine
    probe=$(script nccl_probe <<'EOF'
import os
import time

import torch
import torch.distributed as dist

dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
torch.cuda.set_device(dev)
t0 = time.perf_counter()
dist.init_process_group("nccl", device_id=dev)
x = torch.full((1 << 20,), 2.0, device=dev)
dist.all_reduce(x)
dist.barrier()
assert torch.all(x == 2.0 * dist.get_world_size()).item()
took = time.perf_counter() - t0
dist.destroy_process_group()
print(f"init + all_reduce of 4 MB in {took:.2f}s, NCCL {'.'.join(map(str, torch.cuda.nccl.version()))}")
EOF
    )
    limited 60 nccl "$VPY" -m torch.distributed.run --standalone --nproc_per_node 1 "$probe"
    record "nccl all-reduce (torch, 1 process)" "$(tail -n 1 "$OUTF")"
}

# ---- 5. bench/train_throughput.py ----------------------------------------------------------------------
bench_figure() {  # bench_figure FILE: "a X img/s (ref Y, xR); b ..." from the bench's --json line
    "$PY" - "$1" <<'EOF'
import json, sys
line = [l for l in open(sys.argv[1]) if l.startswith("{")][-1]
print("; ".join(f"{r['config']} {r['gantool_img_s']:.0f} img/s (ref {r['reference_img_s']:.0f}, x{r['ratio']:.2f})"
                for r in json.loads(line)["results"]))
EOF
}

step_bench() {  # step_bench AMP(on|off) COMPILE(compile|eager) LIMIT
    local name="train_throughput amp $1, $2"
    if ((!HAVE_CUDA)); then row "$name" skipped "no CUDA device"; return; fi
    local extra=()
    [ "$2" = compile ] && extra=(--compile)
    # fewer steps than the bench's GPU defaults (x25 the CPU's: 2000 for b): the textbook loop's per-sample
    # PIL transforms make it slow, and 4 runs must fit the budget; 2 rounds, the better one counts
    limited "$3" "bench-amp-$1-$2" "$VPY" bench/train_throughput.py --device cuda --amp "$1" "${extra[@]}" \
        --steps 200 --warmup 20 --rounds 2 --json
    record "$name" "$( (bench_figure "$OUTF") 2>&1 | tail -n 1)"
}

# ---- the run --------------------------------------------------------------------------------------------
echo "gpu_check: checkout $ROOT, python $PY, budget ${BUDGET_S}s, logs in $LOGDIR"
step_device
step_venv
step_captum
step_test_tools
step_gantool
step_tests
step_torchrun
step_nccl
# the bench last: the least needed if time runs short. AMP on is gantool's CUDA default.
step_bench on eager 75
step_bench off eager 75
step_bench on compile 150
step_bench off compile 150

for entry in "${FAILED_LOGS[@]}"; do  # the end of each failed step's log, before the table
    echo
    echo "---- FAILED: ${entry%%|*} (${entry#*|}), its last lines:"
    tail -n 15 "${entry#*|}" | cut -c1-300
done

failed=0
for s in "${STATUSES[@]}"; do [ "$s" = FAILED ] && failed=$((failed + 1)); done
echo
echo "gpu_check: ${#NAMES[@]} checks, $failed FAILED, $((SECONDS - START))s; logs in $LOGDIR"
echo
print_table
((failed == 0))
