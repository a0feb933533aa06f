/**
 * The scaling plot of the sweep (`bench/run.sh --sweep …`): setup and teardown per container
 * against the number of containers in one process, one line per peer, as a self-contained SVG
 * (no library, no fonts beyond the viewer's sans-serif). A flat line means the per-container cost
 * does not grow with the number of containers.
 *
 * @module
 */

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

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

const esc = (t: string) =>
  t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`. */
function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/**
 * Draws the plot.
 *
 * @param series Points by peer name.
 * @param meta Run date and repetitions, printed under the title.
 * @returns The SVG document.
 */
export function scalingPlot(
  series: Map<string, SweepPoint[]>,
  meta: { date: string; reps: number },
): string {
  const W = 980, H = 420, top = 56, bottom = 70, left = 60, gap = 70;
  const pw = (W - left - gap - 30) / 2;
  const ph = H - top - bottom;
  const all = [...series.values()].flat();
  const ns = all.map((p) => p.n);
  const nMin = Math.min(10, ...ns), nMax = Math.max(1000, ...ns);
  const lx = (n: number) =>
    (Math.log10(n) - Math.log10(nMin)) / (Math.log10(nMax) - Math.log10(nMin));
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">` +
      `Per-container cost against containers per process (fast path, IPv6-only workload)</text>`,
    `<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">` +
      esc(
        `medians of ${meta.reps} interleaved runs per point; ${meta.date.slice(0, 16)}Z; ` +
          `flat = no growth with N`,
      ) + `</text>`,
  );
  const panels: {
    title: string;
    pick: (p: SweepPoint) => number;
    dashed?: (p: SweepPoint) => number;
  }[] = [
    { title: "setup, ms per container", pick: (p) => p.setup },
    {
      title: "teardown, ms per container (solid: kernel done; dashed: calls returned)",
      pick: (p) => p.done,
      dashed: (p) => p.calls,
    },
  ];
  panels.forEach((panel, k) => {
    const x0 = left + k * (pw + gap);
    const ymax = niceMax(
      Math.max(...all.map(panel.pick), ...(panel.dashed ? all.map(panel.dashed) : [])) * 1.05,
    );
    const px = (n: number) => x0 + lx(n) * pw;
    const py = (v: number) => top + ph - (v / ymax) * ph;
    out.push(
      `<text x="${x0 + pw / 2}" y="${top - 6}" text-anchor="middle">${esc(panel.title)}</text>`,
    );
    out.push(`<rect x="${x0}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
    for (let t = 0; t <= 5; t++) {
      const v = (ymax * t) / 5;
      const y = py(v);
      out.push(
        `<line x1="${x0}" x2="${x0 + pw}" y1="${y}" y2="${y}" stroke="#eee"/>`,
        `<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${+v.toFixed(2)}</text>`,
      );
    }
    for (const n of [10, 30, 100, 300, 1000].filter((n) => n >= nMin && n <= nMax)) {
      const x = px(n);
      out.push(
        `<line x1="${x}" x2="${x}" y1="${top}" y2="${top + ph}" stroke="#eee"/>`,
        `<text x="${x}" y="${top + ph + 16}" text-anchor="middle">${n}</text>`,
      );
    }
    out.push(
      `<text x="${x0 + pw / 2}" y="${
        top + ph + 34
      }" text-anchor="middle">containers per process (log scale)</text>`,
    );
    [...series.entries()].forEach(([peer, pts], i) => {
      const color = COLORS[i % COLORS.length];
      const sorted = [...pts].sort((a, b) => a.n - b.n);
      const line = (f: (p: SweepPoint) => number, dash: string) => {
        out.push(
          `<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${
            sorted.map((p) => `${px(p.n).toFixed(1)},${py(f(p)).toFixed(1)}`).join(" ")
          }"/>`,
        );
        for (const p of sorted) {
          out.push(
            `<circle cx="${px(p.n).toFixed(1)}" cy="${
              py(f(p)).toFixed(1)
            }" r="3" fill="${color}"><title>${
              esc(`${peer} N=${p.n}: ${f(p).toFixed(3)} ms`)
            }</title></circle>`,
          );
        }
      };
      line(panel.pick, "");
      if (panel.dashed) line(panel.dashed, ` stroke-dasharray="5,4"`);
    });
  });
  [...series.keys()].forEach((peer, i) => {
    const x = left + i * 220;
    const y = H - 14;
    out.push(
      `<line x1="${x}" x2="${x + 24}" y1="${y - 4}" y2="${y - 4}" stroke="${
        COLORS[i % COLORS.length]
      }" stroke-width="3"/>`,
      `<text x="${x + 30}" y="${y}">${esc(peer)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
