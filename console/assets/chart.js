// Inline SVG charts of a webhook's delivery statistics: attempts per bucket by outcome, and p50/p99 latency.
import { h, s, fmtMs } from './dom.js';

const H = 170;
const PAD = { l: 48, r: 12, t: 12, b: 24 };

function hhmm(iso) {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function frame(W, title, yMax, fmtY, buckets) {
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title },
    s('title', null, title));
  for (const f of [0, 0.5, 1]) {
    const y = PAD.t + ih * (1 - f);
    svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: 'grid' }));
    svg.append(s('text', { x: PAD.l - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, f === 0 ? '0' : fmtY(yMax * f)));
  }
  const n = buckets.length;
  for (const i of [0, Math.floor(n / 2), n - 1]) {
    if (!buckets[i]) continue;
    const x = PAD.l + (iw * (i + 0.5)) / n;
    const anchor = i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle';
    svg.append(s('text', { x, y: H - 6, class: 'axis', 'text-anchor': anchor }, hhmm(buckets[i].start)));
  }
  return { svg, iw, ih };
}

/**
 * The charts are drawn at the width they are shown at (in CSS pixels), so their text keeps its size on a phone.
 */

/** attemptsChart draws stacked bars of attempts per bucket: succeeded, failed, pending. */
export function attemptsChart(stats, width = 720) {
  const W = Math.max(300, Math.round(width));
  const b = stats.buckets || [];
  const per = stats.bucketSeconds >= 60 ? `${stats.bucketSeconds / 60} min` : `${stats.bucketSeconds} s`;
  const max = niceMax(Math.max(0, ...b.map((x) => x.success + x.failed + x.pending)));
  const { svg, iw, ih } = frame(W, `Attempts per ${per} by outcome`, max, (v) => String(Math.round(v)), b);
  const bw = iw / Math.max(1, b.length);
  b.forEach((x, i) => {
    let y = PAD.t + ih;
    for (const [key, cls] of [['success', 'ok'], ['failed', 'bad'], ['pending', 'wait']]) {
      if (!x[key]) continue;
      const bh = (ih * x[key]) / max;
      y -= bh;
      svg.append(s('rect', { x: PAD.l + i * bw + bw * 0.12, y, width: Math.max(1, bw * 0.76), height: bh, class: `bar ${cls}` },
        s('title', null, `${hhmm(x.start)}: ${x[key]} ${key}`)));
    }
  });
  return h('figure', { class: 'chart-box' },
    h('figcaption', null, h('span', { class: 'chart-title' }, `Attempts per ${per}`),
      h('span', { class: 'legend' },
        h('span', { class: 'key ok' }, 'Succeeded'), h('span', { class: 'key bad' }, 'Failed'), h('span', { class: 'key wait' }, 'Pending'))),
    svg);
}

/** latencyChart draws p50 and p99 latency per bucket; buckets without an ended attempt leave a gap. */
export function latencyChart(stats, width = 720) {
  const W = Math.max(300, Math.round(width));
  const b = stats.buckets || [];
  const max = niceMax(Math.max(0, ...b.map((x) => x.p99Ms || 0)));
  const { svg, iw, ih } = frame(W, 'Latency p50 and p99', max, (v) => fmtMs(v), b);
  const n = Math.max(1, b.length);
  for (const [key, cls] of [['p99Ms', 'p99'], ['p50Ms', 'p50']]) {
    let seg = [];
    const flush = () => {
      if (seg.length === 1) {
        const [x, y] = seg[0].split(',');
        svg.append(s('circle', { cx: x, cy: y, r: 2.5, class: `dot ${cls}` }));
      } else if (seg.length > 1) {
        svg.append(s('polyline', { points: seg.join(' '), class: `line ${cls}` }));
      }
      seg = [];
    };
    b.forEach((x, i) => {
      if (x[key] === null || x[key] === undefined) { flush(); return; }
      const px = PAD.l + (iw * (i + 0.5)) / n;
      const py = PAD.t + ih * (1 - x[key] / max);
      seg.push(`${px.toFixed(1)},${py.toFixed(1)}`);
    });
    flush();
  }
  return h('figure', { class: 'chart-box' },
    h('figcaption', null, h('span', { class: 'chart-title' }, 'Latency'),
      h('span', { class: 'legend' }, h('span', { class: 'key p50' }, 'p50'), h('span', { class: 'key p99' }, 'p99'))),
    svg);
}
