#!/usr/bin/env bash
# Runs everything CI runs: static checks, then unit and privileged tests on Deno and on Bun, then
# the demo, and checks that the machine's namespace is left exactly as it was.
# Privileged parts run inside scripts/in-netns.sh (a throw-away network + mount namespace).
# Usage: bash scripts/test-all.sh   (root for the privileged parts; without root they are skipped)
# Every skipped test and suite is listed by name at the end, with what it needs. With CI=true,
# a skip fails the run unless .ci/allowed-skips lists it under a kernel feature that this
# kernel's configuration confirms it lacks.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
export NO_COLOR=1
passed=0
failed=0
skips=() # "NAME<TAB>WHY": every test or suite that did not run
log=$(mktemp)
trap 'rm -f "$log"' EXIT

step() { # step NAME CMD...: runs CMD, counts it as one check
  local name=$1
  shift
  echo "== $name: $*"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "!! $name FAILED"; fi
}

suite() { # suite NAME CMD...: runs a test runner, adds up its own pass/fail counts
  local name=$1
  shift
  echo "== $name: $*"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local p f
  # deno: "ok | 12 passed (40 steps) | 0 failed"; bun: " 40 pass" / " 0 fail"
  p=$(grep -aoE '^(ok|FAILED) \| [0-9]+ passed( \(([0-9]+) steps\))?' "$log" | tail -1 |
    sed -E 's/.*\| ([0-9]+) passed( \(([0-9]+) steps\))?/\1 \3/' | awk '{print ($2 != "" ? $2 : $1)}')
  f=$(grep -aoE '\| [0-9]+ failed( \(([0-9]+) steps\))?' "$log" | tail -1 |
    sed -E 's/\| ([0-9]+) failed( \(([0-9]+) steps\))?/\1 \3/' | awk '{print ($2 != "" ? $2 : $1)}')
  if [ -z "$p" ]; then
    p=$(grep -aoE '^ *[0-9]+ pass$' "$log" | tail -1 | tr -dc 0-9)
    f=$(grep -aoE '^ *[0-9]+ fail$' "$log" | tail -1 | tr -dc 0-9)
  fi
  p=${p:-0}
  f=${f:-0}
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  # Skipped tests by name (deno: "NAME ... ignored"; bun: "(skip) NAME").
  local s=0 t
  while IFS= read -r t; do
    skips+=("$t"$'\t'"skipped in $name")
    s=$((s + 1))
  done < <(awk -f scripts/skipped-tests.awk "$log")
  echo "-- $name: $p passed, $f failed, $s skipped"
  passed=$((passed + p))
  failed=$((failed + f))
}

skip_suite() { # skip_suite NAME WHY: a whole suite that cannot run here
  echo "== $1: skipped ($2)"
  skips+=("$1"$'\t'"$2")
}

# Tools the tests call (the list scripts/setup.sh installs): a missing one is a skip, naming the
# command that installs it.
tools=(ip:iproute2 ping:iputils-ping unshare:util-linux nsenter:util-linux nft:nftables
  conntrack:conntrack podman:podman /bin/busybox:busybox-static
  /usr/lib/cni/tuning:containernetworking-plugins tc:iproute2 etcd:etcd-server)
for t in "${tools[@]}"; do
  cmd=${t%%:*}
  if [ "${cmd#/}" != "$cmd" ]; then [ -x "$cmd" ] && continue; else command -v "$cmd" >/dev/null && continue; fi
  skip_suite "tests that need $cmd" "not installed (${t#*:}): run sudo npm run setup"
done

# What the run could leave on the machine itself (scripts/machine-snapshot.sh: named namespaces,
# links, nsfs mounts, /etc/netns, /var/lib/nslink, /run/nslink*, /run/netns, and processes of ours
# that escaped into the machine's namespaces), compared after the run ("no leftovers").
# (podman's processes are checked by tests/priv/podman.test.ts itself, by its work directory:
# a machine-wide count would see other runs' containers)
before=$(mktemp)
trap 'rm -f "$log" "$before"' EXIT
bash scripts/machine-snapshot.sh >"$before"

step fmt deno fmt --check
step lint deno lint
step check deno check mod.ts cli/ cni/ tests/ examples/ bench/
step doc-lint deno doc --lint mod.ts
# Every example that is safe to run is type-checked (never run: the others change the kernel).
step doc-examples deno check --doc-only mod.ts ffi/ netlink/ rtnl/ netns/ model/ drivers/ network/ net/
step publish-dry-run deno publish --dry-run --allow-dirty --quiet
# docs/benchmarks.md's tables are what bench/render.ts makes of the committed result files
# (bench/results/): a hand edit, or a result file that is not committed, fails here.
step bench-tables deno run -A bench/render.ts --check
step readme-bench-tables deno run -A bench/render.ts --check --readme README.md
# The npm tarball (bun add), deno install and dist/nslink, each from its artifact in a fresh
# directory (no root needed).
step packages bash scripts/test-packages.sh

suite "unit (deno)" deno test -A tests/unit/
suite "unit (bun)" bun test tests/unit/
if [ "$(id -u)" = 0 ]; then
  suite "privileged (deno)" scripts/in-netns.sh deno test -A tests/priv/
  suite "privileged (bun)" scripts/in-netns.sh bun test ./tests/priv/
  # The compiled executable (npm run build) through the command-line, CNI and podman tests.
  if step build bash scripts/build.sh; then
    suite "privileged (compiled dist/nslink)" env NSLINK_BIN="$PWD/dist/nslink" \
      scripts/in-netns.sh bun test ./tests/priv/cli.test.ts ./tests/priv/cli-docker.test.ts \
      ./tests/priv/cni.test.ts ./tests/priv/cni-bridge.test.ts ./tests/priv/podman.test.ts \
      ./tests/priv/cni-handoff.test.ts ./tests/priv/cni-compiled-start.test.ts \
      ./tests/priv/docs.test.ts ./tests/priv/doc-snippets.test.ts ./tests/priv/cli-firewall.test.ts \
      ./tests/priv/dns-cli.test.ts ./tests/priv/lan-cli-cni.test.ts ./tests/priv/podman-dns.test.ts \
      ./tests/priv/reboot.test.ts
  fi
  step "demo (deno)" scripts/in-netns.sh deno run -A examples/demo.ts
  step "demo (bun)" scripts/in-netns.sh bun examples/demo.ts
else
  for n in "privileged (deno)" "privileged (bun)" build "privileged (compiled dist/nslink)" \
    "demo (deno)" "demo (bun)"; do
    skip_suite "$n" "needs root: sudo npm run setup && sudo npm test"
  done
fi

step "no leftovers" bash scripts/machine-snapshot.sh --since "$before"

# Whether the kernel lacks (or has) what .ci/allowed-skips names: "no CONFIG_X", "has CONFIG_X",
# "kernel < X.Y". Without /proc/config.gz a config condition cannot be checked: then it holds.
kernel_config=$( (zcat /proc/config.gz || cat "/boot/config-$(uname -r)") 2>/dev/null)
condition_holds() {
  local c=$1
  case $c in
  "no CONFIG_"*) [ -z "$kernel_config" ] || ! grep -qE "^${c#no }=[ym]$" <<<"$kernel_config" ;;
  "has CONFIG_"*) [ -z "$kernel_config" ] || grep -qE "^${c#has }=[ym]$" <<<"$kernel_config" ;;
  "kernel < "*)
    local want=${c#kernel < } have
    have=$(uname -r | grep -oE '^[0-9]+\.[0-9]+')
    [ "$(printf '%s\n%s\n' "$have" "$want" | sort -V | head -1)" = "$have" ] && [ "$have" != "$want" ]
    ;;
  *) false ;;
  esac
}

echo
if [ ${#skips[@]} -gt 0 ]; then
  echo "Skipped (${#skips[@]}):"
  for entry in "${skips[@]}"; do
    name=${entry%%$'\t'*}
    why=${entry#*$'\t'}
    cond=$(awk -F'\t' -v n="$name" '!/^#/ && $2 == n { print $1; exit }' .ci/allowed-skips)
    if [ -n "$cond" ] && condition_holds "$cond"; then
      echo "   $name ($why; allowed: $cond)"
    elif [ "${CI:-}" = true ]; then
      echo "!! $name ($why): a skip CI does not allow (see .ci/allowed-skips)"
      failed=$((failed + 1))
    else
      echo "   $name ($why)"
    fi
  done
fi
if [ ${#skips[@]} -gt 0 ]; then
  echo "   (sudo npm run setup installs every tool the tests use; the privileged suites need root)"
fi
echo "all: $passed passed, $failed failed${skips[0]:+, ${#skips[@]} skipped}"
[ "$failed" = 0 ]
