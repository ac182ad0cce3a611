// Fetch helpers and number formatting shared by the panels.
export async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' } });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
  return r.json();
}

export const INTERVAL_MS = { '1m': 60e3, '5m': 300e3, '15m': 900e3, '1h': 3600e3, '4h': 14400e3, '1d': 86400e3 };

const fmtCache = new Map();
export function num(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  let f = fmtCache.get(digits);
  if (!f) fmtCache.set(digits, f = new Intl.NumberFormat('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
  return f.format(v);
}
export function price(v) {
  if (v === null || v === undefined) return '–';
  const a = Math.abs(v);
  return num(v, a >= 1000 ? 2 : a >= 1 ? 4 : 6);
}
export const pct = (v, d = 2) => (v === null || v === undefined ? '–' : `${num(v * 100, d)}%`);
export function ago(ms) {
  if (ms === null || ms === undefined) return '–';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  return s < 90 ? `${s.toFixed(0)} s` : s < 5400 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`;
}
export const utc = (ms) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);

// a tiny element builder: el('td', {class: 'up'}, 'text', child...)
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k === 'style') e.style.cssText = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
