/**
 * The scaling plot of the sweep (`bench/run.sh --sweep …`): setup and teardown (both definitions)
 * per container against the number of containers in one process, one line per peer, as a
 * self-contained SVG (no library, no fonts beyond the viewer's sans-serif). A flat line means the
 * per-container cost does not grow with the number of containers.
 *
 * This module is the one place that draws it; `bench/main.ts` only collects the points.
 *
 * @module
 */

/** What the sweep's verifier saw of one run (`bench/main.ts`'s `VerifyReport`), for its note. */
export interface SweepVerification {
  /** Packets the kernel's per-CPU input backlogs dropped from setup to verification. */
  setupBacklogDrops: number;
  /** Packets they dropped during verification. */
  backlogDrops: number;
  /** Echo requests sent until each gateway ping was answered. */
  pingTransmits: number[];
  /** How long each gateway ping took, ms. */
  pingMs: number[];
}

/**
 * The note under the plot for `n` containers when the kernel dropped packets or a gateway ping
 * needed more than one echo request, else `undefined`.
 *
 * @example
 * ```ts
 * const note = backlogNote(1000, runs.flatMap((p) => p.verification));
 * if (note) notes.push(note);
 * ```
 */
export function backlogNote(n: number, v: SweepVerification[]): string | undefined {
  const drops = v.map((x) => x.setupBacklogDrops + x.backlogDrops);
  const echoes = v.flatMap((x) => x.pingTransmits);
  if (!v.length || (Math.max(...drops) <= 0 && echoes.every((k) => k === 1))) return undefined;
  const fmt = (x: number) => x.toLocaleString("en");
  return `${fmt(n)} containers: the kernel dropped ${fmt(Math.min(...drops))} to ` +
    `${fmt(Math.max(...drops))} packets per run from setup to the pings (per-CPU input ` +
    `backlogs full: the bridge floods each container's multicast to all its ports); the ` +
    `gateway pings were answered after at most ${Math.max(...echoes)} echo request(s), ` +
    `${(Math.max(...v.flatMap((x) => x.pingMs)) / 1000).toFixed(1)} s.`;
}

/** One measured point of one peer. */
export interface SweepPoint {
  /** Containers in the process. */
  n: number;
  /** Setup, ms per container. */
  setup: number;
  /** Teardown until the last delete call returned, ms per container. */
  calls: number;
  /** Teardown until the kernel had removed every host veth, ms per container. */
  done: number;
}

/** A point that was measured but is not drawn (its run failed), shown as a cross on the axis. */
export interface OmittedPoint {
  peer: string;
  n: number;
  reason: string;
}

/** What the plot says about the run, under the title and in the footnotes. */
export interface PlotMeta {
  /** ISO date of the run. */
  date: string;
  /** Runs per point (the point is their median). */
  reps: number;
  /** Kernel release. */
  kernel?: string;
  /** CPUs of the machine. */
  cpus?: number;
  /** Extra footnote lines (plain text). */
  notes?: string[];
}

/** Display names and fixed styles of the peers the sweep runs; others get a fallback style. */
const KNOWN: Record<string, { label: string; color: string; marker: Marker }> = {
  "nslink-fast-deno": { label: "nslink on Deno", color: "#1f77b4", marker: "circle" },
  "nslink-fast-bun": { label: "nslink on Bun", color: "#d62728", marker: "square" },
  "go-netlink-fast": { label: "Go (vishvananda/netlink)", color: "#2ca02c", marker: "triangle" },
};
const FALLBACK_COLORS = ["#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
type Marker = "circle" | "square" | "triangle" | "diamond";

const esc = (t: string) =>
  t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const f1 = (x: number) => x.toFixed(1);

/** A "nice" upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten, at least `max`. */
function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** An SVG marker centred on (x, y). */
function marker(kind: Marker, x: number, y: number, color: string, title: string): string {
  const t = `<title>${esc(title)}</title>`;
  const s = 3.5;
  switch (kind) {
    case "square":
      return `<rect x="${f1(x - s)}" y="${f1(y - s)}" width="${2 * s}" height="${
        2 * s
      }" fill="${color}">${t}</rect>`;
    case "triangle":
      return `<polygon points="${f1(x)},${f1(y - s - 1)} ${f1(x - s - 0.5)},${f1(y + s)} ${
        f1(x + s + 0.5)
      },${f1(y + s)}" fill="${color}">${t}</polygon>`;
    case "diamond":
      return `<polygon points="${f1(x)},${f1(y - s - 1)} ${f1(x + s + 1)},${f1(y)} ${f1(x)},${
        f1(y + s + 1)
      } ${f1(x - s - 1)},${f1(y)}" fill="${color}">${t}</polygon>`;
    default:
      return `<circle cx="${f1(x)}" cy="${f1(y)}" r="${s}" fill="${color}">${t}</circle>`;
  }
}

/**
 * Draws the plot: three panels side by side (setup; teardown until the delete calls returned;
 * teardown until the kernel had removed every host veth), ms per container on a linear y axis from
 * 0 (the two teardown panels share their scale), containers per process on a log x axis from 10
 * to 1,000 (wider if a point lies outside). Points whose run failed are listed in `omitted` and
 * drawn as crosses on the x axis, with the reason in the footnotes.
 *
 * @param series Points by peer name.
 * @param meta Run facts printed under the title and as footnotes.
 * @param omitted Points that were measured but failed (not drawn as values).
 * @returns The SVG document.
 */
export function scalingPlot(
  series: Map<string, SweepPoint[]>,
  meta: PlotMeta,
  omitted: OmittedPoint[] = [],
): string {
  // Legend order: the known peers in their order (nslink on Deno, on Bun, Go), then the others.
  const order = Object.keys(KNOWN);
  const rank = (p: string) => (order.includes(p) ? order.indexOf(p) : order.length);
  const peers = [...new Set([...series.keys(), ...omitted.map((o) => o.peer)])]
    .sort((a, b) => rank(a) - rank(b));
  const style = (peer: string) => {
    const known = KNOWN[peer];
    if (known) return known;
    const k = peers.filter((p) => !KNOWN[p]).indexOf(peer);
    const markers: Marker[] = ["diamond", "circle", "square", "triangle"];
    return {
      label: peer,
      color: FALLBACK_COLORS[k % FALLBACK_COLORS.length],
      marker: markers[k % markers.length],
    };
  };

  const W = 1120, top = 96, ph = 300, left = 70, gap = 62, right = 20;
  const pw = (W - left - right - 2 * gap) / 3;
  const all = [...series.values()].flat();
  const ns = [...all.map((p) => p.n), ...omitted.map((o) => o.n)];
  const nMin = Math.min(10, ...ns), nMax = Math.max(1000, ...ns);
  const lx = (n: number) =>
    (Math.log10(n) - Math.log10(nMin)) / (Math.log10(nMax) - Math.log10(nMin));
  const teardownMax = niceMax(Math.max(...all.map((p) => Math.max(p.calls, p.done))) * 1.05);
  const panels: { title: string; pick: (p: SweepPoint) => number; ymax: number }[] = [
    {
      title: "setup",
      pick: (p) => p.setup,
      ymax: niceMax(Math.max(...all.map((p) => p.setup)) * 1.05),
    },
    { title: "teardown: until the delete calls returned", pick: (p) => p.calls, ymax: teardownMax },
    {
      title: "teardown: until the kernel removed every veth",
      pick: (p) => p.done,
      ymax: teardownMax,
    },
  ];

  // Footnotes: omitted points, then the caller's notes; wrapped at ~170 characters.
  const foot: string[] = [];
  const wrap = (text: string, indent = "") => {
    const words = text.split(" ");
    let line = "";
    for (const w of words) {
      if (line && (line + " " + w).length > 170) {
        foot.push(line);
        line = indent + w;
      } else line = line ? `${line} ${w}` : w;
    }
    if (line) foot.push(line);
  };
  for (const o of omitted) {
    wrap(
      `× ${style(o.peer).label}, ${
        o.n.toLocaleString("en")
      } containers: not drawn, the run failed: ${o.reason}`,
      "   ",
    );
  }
  for (const note of meta.notes ?? []) wrap(note, "   ");
  const legendY = top + ph + 62;
  const H = legendY + 26 + foot.length * 15 + 10;

  const out: string[] = [];
  const sub = [
    `median of ${meta.reps} run${meta.reps === 1 ? "" : "s"} per point`,
    "IPv6-only workload, fast path",
    meta.kernel ? `Linux ${meta.kernel}` : "",
    meta.cpus ? `${meta.cpus} CPUs` : "",
    meta.date.slice(0, 10),
  ].filter(Boolean).join("; ");
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">` +
      `Container network setup and teardown: time per container against containers per process</text>`,
    `<text x="${W / 2}" y="42" text-anchor="middle" fill="#444">${esc(sub)}</text>`,
    `<text x="${W / 2}" y="58" text-anchor="middle" fill="#444">` +
      `One process per run sets up N containers one after the other, then tears them all down. ` +
      `A flat line means the cost per container does not grow with N.</text>`,
  );
  panels.forEach((panel, k) => {
    const x0 = left + k * (pw + gap);
    const px = (n: number) => x0 + lx(n) * pw;
    const py = (v: number) => top + ph - (v / panel.ymax) * ph;
    out.push(
      `<text x="${x0 + pw / 2}" y="${top - 8}" text-anchor="middle" font-weight="bold">${
        esc(panel.title)
      }</text>`,
      `<rect x="${x0}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
    );
    for (let t = 0; t <= 5; t++) {
      const v = (panel.ymax * t) / 5;
      const y = py(v);
      out.push(
        `<line x1="${x0}" x2="${x0 + pw}" y1="${f1(y)}" y2="${f1(y)}" stroke="#eee"/>`,
        `<text x="${x0 - 6}" y="${f1(y + 4)}" text-anchor="end">${+v.toFixed(3)}</text>`,
      );
    }
    const ly = top + ph / 2;
    out.push(
      `<text x="${x0 - 44}" y="${ly}" text-anchor="middle" transform="rotate(-90 ${
        x0 - 44
      } ${ly})">ms per container</text>`,
    );
    for (let d = 10 ** Math.floor(Math.log10(nMin)); d <= nMax; d *= 10) {
      for (let m = 1; m <= 9; m++) {
        const n = m * d;
        if (n < nMin || n > nMax) continue;
        const x = f1(px(n));
        const major = m === 1 || m === 3;
        out.push(
          `<line x1="${x}" x2="${x}" y1="${top}" y2="${top + ph}" stroke="${
            major ? "#e4e4e4" : "#f4f4f4"
          }"/>`,
          `<line x1="${x}" x2="${x}" y1="${top + ph}" y2="${
            top + ph + (major ? 5 : 3)
          }" stroke="#888"/>`,
        );
        if (major) {
          out.push(
            `<text x="${x}" y="${top + ph + 18}" text-anchor="middle">${
              n.toLocaleString("en")
            }</text>`,
          );
        }
      }
    }
    out.push(
      `<text x="${x0 + pw / 2}" y="${
        top + ph + 38
      }" text-anchor="middle">containers per process (log scale)</text>`,
    );
    for (const peer of peers) {
      const { color, marker: mk, label } = style(peer);
      const pts = [...(series.get(peer) ?? [])].sort((a, b) => a.n - b.n);
      if (pts.length > 1) {
        out.push(
          `<polyline fill="none" stroke="${color}" stroke-width="2" stroke-opacity="0.85" points="${
            pts.map((p) => `${f1(px(p.n))},${f1(py(panel.pick(p)))}`).join(" ")
          }"/>`,
        );
      }
      for (const p of pts) {
        const v = panel.pick(p);
        out.push(
          marker(
            mk,
            px(p.n),
            py(v),
            color,
            `${label}, ${p.n.toLocaleString("en")} containers: ${v.toFixed(3)} ms`,
          ),
        );
      }
      for (const o of omitted.filter((o) => o.peer === peer)) {
        const x = px(o.n), y = top + ph - 6;
        out.push(
          `<text x="${f1(x)}" y="${
            f1(y + 4)
          }" text-anchor="middle" font-size="14" fill="${color}">×<title>${
            esc(`${label}, ${o.n.toLocaleString("en")} containers: run failed: ${o.reason}`)
          }</title></text>`,
        );
      }
    }
  });
  let x = left;
  for (const peer of peers) {
    const { color, marker: mk, label } = style(peer);
    out.push(
      `<line x1="${x}" x2="${x + 28}" y1="${legendY - 4}" y2="${
        legendY - 4
      }" stroke="${color}" stroke-width="2"/>`,
      marker(mk, x + 14, legendY - 4, color, label),
      `<text x="${x + 36}" y="${legendY}">${esc(label)}</text>`,
    );
    x += 52 + label.length * 7;
  }
  if (omitted.length) {
    out.push(
      `<text x="${x}" y="${legendY}">× on the axis: run failed, no value (see below)</text>`,
    );
  }
  foot.forEach((line, i) => {
    out.push(
      `<text x="${left}" y="${legendY + 26 + i * 15}" font-size="11" fill="#444">${
        esc(line)
      }</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
