# Prints the name of every test a runner skipped, one per line, as "FILE: group > test", from the
# output of `deno test` (node:test skips and todos print "NAME ... ignored", nested ones indented
# two spaces per level) or `bun test` ("(skip) group > test", "(todo) …" under a "FILE:" header,
# listed again in its closing summary, which is not counted twice).
# Used by scripts/test-all.sh. Usage: awk -f scripts/skipped-tests.awk RUNNER-OUTPUT
{ gsub(/\033\[[0-9;]*m/, "") }
/^running [0-9]+ tests? from / { file = $NF; sub(/^\.\//, "", file); next }
/^[^ (].*\.test\.[jt]sx?:$/ { file = substr($0, 1, length($0) - 1); sub(/^\.\//, "", file); next }
# bun repeats skips (and failures) in a summary after the last file: "3 tests skipped:".
/^[0-9]+ tests? [a-z]+:$/ { summary = 1; next }
/^\((skip|todo)\) / && !summary {
  name = $0
  sub(/^\((skip|todo)\) /, "", name)
  sub(/ \[[0-9.]+m?s\]$/, "", name)
  print file ": " name
  next
}
/^ *[^ ].* \.\.\.( |$)/ {
  match($0, /^ */)
  level = RLENGTH / 2
  name = substr($0, RLENGTH + 1)
  sub(/ \.\.\.( .*)?$/, "", name)
  stack[level] = name
  if ($0 ~ / \.\.\. ignored( \(|$)/) {
    full = stack[0]
    for (i = 1; i <= level; i++) full = full " > " stack[i]
    print file ": " full
  }
}
