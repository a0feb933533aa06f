#!/usr/bin/env bash
# Verifies the three ways to install nslink from their artifacts, each in a fresh temporary
# directory with nothing from this checkout beside it (no root needed, no network used):
#   1. npm: `npm pack`, then `bun add ./nslink-X.tgz` in an empty project, where
#      `import { newNetwork } from "nslink"` works and `bunx nslink version` runs the command;
#      the tarball holds no tests, benchmarks, fixtures or scripts.
#   2. Deno: `deno install -g -A -n nslink PATH/cli/main.ts` from the unpacked files (the same
#      ones JSR gets: deno.json exports "." and "./cli"), then `nslink version`.
#   3. The single binary: `dist/nslink` (npm run build) copied alone and run, its SHA-256 checked.
# Every `nslink version` must print the one version of package.json and deno.json.
# Usage: bash scripts/test-packages.sh   (= npm run test:packages)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/node_modules/.bin
version=$(node -p 'require("./package.json").version')
[ "$version" = "$(node -p 'require("./deno.json").version')" ] ||
  { echo "package.json and deno.json disagree on the version" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "!! $*" >&2; exit 1; }
expect_version() { # expect_version WHAT OUTPUT
  case $2 in "nslink $version "*) echo "ok: $1: $2" ;; *) fail "$1 printed: $2" ;; esac
}

# 1. npm tarball, installed with bun into an empty project.
npm pack --silent --pack-destination "$tmp" >/dev/null
tgz=$tmp/nslink-$version.tgz
[ -f "$tgz" ] || fail "npm pack made no $tgz"
bad=$(tar -tzf "$tgz" | grep -E '^package/(tests|bench|scripts|examples|\.ci|dist|node_modules)/|fixtures' || true)
[ -z "$bad" ] || fail "the tarball holds files users do not need: $bad"
mkdir "$tmp/app"
cd "$tmp/app"
echo '{ "name": "app", "private": true, "type": "module" }' >package.json
# A private cache: nothing from this machine's bun cache; the tarball has no dependencies.
BUN_INSTALL_CACHE_DIR=$tmp/bun-cache "$bin/bun" add "$tgz" >/dev/null
cat >use.ts <<'EOF'
import { newNetwork, openNetwork } from "nslink";
if (typeof newNetwork !== "function" || typeof openNetwork !== "function") {
  throw new Error("nslink's exports are missing");
}
console.log("ok: import { newNetwork } from \"nslink\" (bun)");
EOF
"$bin/bun" use.ts
# bunx runs the package's bin with bun (the bin's #!/usr/bin/env bun finds it on PATH).
expect_version "bunx nslink version" "$(PATH="$bin:$PATH" "$bin/bunx" nslink version)"

# 2. deno install from the unpacked package (the files JSR publishes), in a temporary root.
mkdir "$tmp/unpacked"
tar -xzf "$tgz" -C "$tmp/unpacked"
DENO_INSTALL_ROOT=$tmp/deno-root "$bin/deno" install -g -A -q -n nslink \
  --config "$tmp/unpacked/package/deno.json" "$tmp/unpacked/package/cli/main.ts"
expect_version "deno install; nslink version" \
  "$(PATH="$bin:$PATH" "$tmp/deno-root/bin/nslink" version)"
cd "$root"
"$bin/deno" publish --dry-run --allow-dirty --quiet

# 3. The single binary and its SHA-256, copied alone into an empty directory.
if [ "${SKIP_BUILD:-}" != 1 ]; then bash scripts/build.sh; fi
mkdir "$tmp/bin"
cp dist/nslink dist/nslink.sha256 "$tmp/bin/"
(cd "$tmp/bin" && sha256sum -c --quiet nslink.sha256) || fail "dist/nslink.sha256 does not match"
expect_version "dist/nslink version" "$(env -i "$tmp/bin/nslink" version)"
echo "packages: all three installs work (version $version)"
