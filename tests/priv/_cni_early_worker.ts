/**
 * Helper process for cni-del-early.test.ts (not a test itself). Usage, with the CNI environment
 * (`NSLINK_STATE_DIR` included) and the network configuration on stdin as for the plugin:
 *   _cni_early_worker.ts DIR BRIDGE
 * Serves the request as the host agent does (`cniHandler(stateDir).run`, cni/serve.ts), writing
 * the answer to DIR/answer once the handler gives it (early or at the end), and the handler's
 * final return to DIR/final. The delete of the link BRIDGE (LinkOps `del`) stops first: the
 * worker writes DIR/paused and waits (the thread blocked) until DIR/go exists, or until the test
 * kills it; so the test provably acts between the answer and the bridge's removal. Exits with
 * code 3 when not released within 30 s.
 */
import process from "node:process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { LinkOps } from "../../mod.ts";
import { cniHandler } from "../../cni/serve.ts";

const [dir, bridge] = process.argv.slice(2);
const stateDir = process.env.NSLINK_STATE_DIR ?? "";

/** Writes a file whole (the test reads it once it exists). */
function put(name: string, text: string): void {
  writeFileSync(`${dir}/${name}.tmp`, text);
  renameSync(`${dir}/${name}.tmp`, `${dir}/${name}`);
}

const proto = LinkOps.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
const del = proto.del;
proto.del = function (this: unknown, ...args: unknown[]) {
  if (args[0] === bridge) {
    put("paused", bridge);
    const cell = new Int32Array(new SharedArrayBuffer(4));
    for (let waited = 0; !existsSync(`${dir}/go`); waited += 10) {
      if (waited > 30_000) {
        console.error("_cni_early_worker: not released within 30 s");
        process.exit(3);
      }
      Atomics.wait(cell, 0, 0, 10);
    }
  }
  return del.apply(this, args);
};

const env: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
const request = { op: "cni", stateDir, env, stdin: readFileSync(0, "utf8") };
const handler = cniHandler(stateDir);
const why = handler.refuse(request);
if (why !== undefined) {
  console.error(`_cni_early_worker: refused: ${why}`);
  process.exit(2);
}
let answered = false;
const final = await handler.run(request, (v) => {
  if (answered) return;
  answered = true;
  put("answer", JSON.stringify(v));
});
if (!answered) put("answer", JSON.stringify(final));
put("final", JSON.stringify(final));
process.exit(0);
