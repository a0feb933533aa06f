/**
 * TCP helpers for the port-publishing benchmark, run inside namespaces with `ip netns exec`:
 *
 * - `serve PORT`: accepts connections and answers one byte; prints `ready`.
 * - `connect HOST PORT COUNT`: opens COUNT connections one after another (connect, read the
 *   byte, close) and prints the mean and median time per connection in ms, as JSON.
 *
 * @module
 */
import net from "node:net";
import process from "node:process";

const [mode, ...args] = process.argv.slice(2);

if (mode === "serve") {
  net.createServer((s) => {
    s.end("x");
    s.on("error", () => {});
  }).listen({ host: "0.0.0.0", port: Number(args[0]) }, () => console.log("ready"));
} else if (mode === "connect") {
  const [host, port, count] = args;
  const one = () =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      const s = net.connect({ host, port: Number(port) });
      s.once("data", () => {
        const t = performance.now() - t0;
        s.destroy();
        resolve(t);
      });
      s.once("error", reject);
    });
  const times: number[] = [];
  for (let i = 0; i < 20; i++) await one(); // warm-up
  for (let i = 0; i < Number(count); i++) times.push(await one());
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(JSON.stringify({ meanMs: mean, medianMs: times[times.length >> 1] }));
  process.exit(0);
}
