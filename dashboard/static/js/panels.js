// The panels around the chart: price board, health, signal/anomaly feed, risk, correlation, portfolio.
import { ago, el, getJSON, num, pct, price, utc } from './api.js';

const isSim = (source) => source !== 'binance';

// ---- price board -------------------------------------------------------------------------------
export class Board {
  constructor(root, onPick) { this.root = root; this.onPick = onPick; this.cells = new Map(); this.tickers = new Map(); }

  setAll(rows) { for (const r of rows) this.upsert(r, false); }

  upsert(t, flash = true) {
    const prev = this.tickers.get(t.symbol) || {};
    const merged = { ...prev, ...Object.fromEntries(Object.entries(t).filter(([, v]) => v !== null && v !== undefined)) };
    this.tickers.set(t.symbol, merged);
    let cell = this.cells.get(t.symbol);
    if (!cell) {
      cell = el('div', { class: 'tick', 'data-symbol': t.symbol, role: 'button', tabindex: '0' });
      cell.addEventListener('click', () => this.onPick(t.symbol));
      this.cells.set(t.symbol, cell);
      this.root.append(cell);
    }
    const chg = Number(merged.price_change_pct);
    cell.replaceChildren(
      el('div', {}, el('span', { class: 'sym' }, merged.symbol),
        isSim(merged.source) ? el('span', { class: 'sim', title: `source: ${merged.source}` }, 'SIMULATED') : ''),
      el('div', { class: 'px', 'data-testid': `px-${merged.symbol}` }, price(Number(merged.last_price))),
      el('div', { class: chg >= 0 ? 'up' : 'down' }, `${num(chg, 2)}% 24h`,
        el('span', { class: 'muted' }, `  bid ${price(Number(merged.best_bid))} · ask ${price(Number(merged.best_ask))}`)),
    );
    if (flash) { cell.classList.remove('flash'); void cell.offsetWidth; cell.classList.add('flash'); }
    return merged;
  }

  select(symbol) { for (const [s, c] of this.cells) c.classList.toggle('selected', s === symbol); }
  anySimulated() { return [...this.tickers.values()].some((t) => isSim(t.source)); }
}

// ---- pipeline health ---------------------------------------------------------------------------
export function renderHealth(root, h) {
  const rows = h.layers.map((l) => el('div', { class: 'health-row', 'data-layer': l.layer },
    el('b', {}, l.layer), el('span', { class: `st-${l.status}` }, l.status),
    el('span', { class: 'muted', title: l.detail }, l.last_ms ? `${ago(l.last_ms)} ago · ${l.detail}` : l.detail)));
  const gaps = Object.entries(h.gaps_by_symbol).filter(([, n]) => n > 0).map(([s, n]) => `${s} ${n}`).join(', ');
  root.replaceChildren(
    el('div', { class: 'health-row' }, el('b', {}, 'source'), el('span', { class: h.simulated ? 'st-stale' : 'st-ok' },
      h.source || 'unknown'), el('span', { class: 'muted' }, h.simulated ? 'simulated data' : 'live exchange data')),
    ...rows,
    el('div', { class: 'health-row' }, el('b', {}, 'DLQ'), el('span', {}, h.dlq_messages ?? '–'),
      el('span', { class: 'muted' }, 'messages the ingest service dead-lettered')),
    el('div', { class: 'health-row' }, el('b', {}, 'gaps'), el('span', { class: h.unfilled_gaps ? 'st-stale' : 'st-ok' },
      h.unfilled_gaps ?? '–'), el('span', { class: 'muted' }, gaps ? `missing 1m candles (24 h): ${gaps}` : 'no missing 1m candles in 24 h')),
  );
}

// ---- signals and anomalies ---------------------------------------------------------------------
export function renderFeed(root, signals, anomalies) {
  const items = [
    ...signals.map((s) => ({ t: s.open_time_ms, node: el('li', { 'data-kind': 'signal' },
      el('span', { class: 'tag' }, s.interval), el('b', {}, s.symbol), ' ', s.signal.replace('_', ' '), ' ',
      el('span', { class: s.direction > 0 ? 'up' : 'down' }, s.direction > 0 ? '▲ bullish' : '▼ bearish'),
      el('span', { class: 'muted' }, ` ${utc(s.open_time_ms)} @ ${price(s.close)}`)) })),
    ...anomalies.map((a) => ({ t: a.open_time_ms, node: el('li', { 'data-kind': 'anomaly' },
      el('span', { class: 'tag' }, a.interval), el('b', {}, a.symbol), ' anomaly ', a.metric, ' ',
      el('span', { class: 'st-stale' }, `z=${num(a.zscore, 1)}`),
      el('span', { class: 'muted' }, ` ${utc(a.open_time_ms)} value ${num(a.value, 4)} (mean ${num(a.mean, 4)})`)) })),
  ].sort((a, b) => b.t - a.t);
  root.replaceChildren(...(items.length ? items.map((i) => i.node) : [el('li', { class: 'muted' }, 'no signals yet')]));
}

// ---- risk table --------------------------------------------------------------------------------
export function renderRisk(root, rows) {
  const head = el('tr', {}, ...['symbol', 'vol (ann.)', 'VaR 95', 'CVaR 95', 'VaR 99', 'max DD', 'Sharpe', 'Sortino', 'β BTC']
    .map((h) => el('th', {}, h)));
  root.replaceChildren(head, ...rows.map((r) => el('tr', {}, el('td', {}, r.symbol), el('td', {}, pct(r.volatility_ann, 1)),
    el('td', {}, pct(r.var_95)), el('td', {}, pct(r.cvar_95)), el('td', {}, pct(r.var_99)), el('td', { class: 'down' }, pct(r.max_drawdown, 1)),
    el('td', {}, num(r.sharpe)), el('td', {}, num(r.sortino)), el('td', {}, num(r.beta_btc)))));
  if (!rows.length) root.append(el('tr', {}, el('td', { class: 'muted' }, 'no risk figures for this interval yet')));
}

// ---- correlation heatmap -----------------------------------------------------------------------
function heat(c) {
  if (c === null) return 'transparent';
  const a = Math.min(1, Math.abs(c));
  return c >= 0 ? `rgba(217, 48, 37, ${0.15 + 0.75 * a})` : `rgba(41, 98, 255, ${0.15 + 0.75 * a})`;
}
export function renderCorrelation(root, m) {
  const head = el('tr', {}, el('th', {}, ''), ...m.symbols.map((s) => el('th', {}, s.replace('USDT', ''))));
  root.replaceChildren(head, ...m.symbols.map((s, i) => el('tr', {}, el('th', {}, s.replace('USDT', '')),
    ...m.matrix[i].map((c) => el('td', { style: `background:${heat(c)}`, title: c === null ? '' : c.toFixed(4) },
      c === null ? '–' : c.toFixed(2))))));
  if (!m.symbols.length) root.append(el('tr', {}, el('td', { class: 'muted' }, 'no correlation matrix for this interval yet')));
}

// ---- portfolio ---------------------------------------------------------------------------------
export async function loadPortfolio(state, chart) {
  const name = state.portfolio;
  if (!name) return;
  const iv = state.portfolioIntervals.includes('1d') ? '1d' : state.portfolioIntervals[0];
  const p = await getJSON(`/api/portfolios/${encodeURIComponent(name)}?interval=${iv}`);
  chart.setData(p.series);
  const l = p.latest;
  document.getElementById('pf-summary').textContent = l ? `value ${num(l.value)} · PnL ${num(l.cumulative_pnl)} ` +
    `(period ${num(l.period_pnl)}) · drawdown ${pct(l.drawdown)} · VaR95 ${num(l.var_95)} · CVaR95 ${num(l.cvar_95)} · ${iv}` : '';
  const head = el('tr', {}, ...['position', 'qty', 'price', 'value', 'weight', 'avg cost', 'unreal. PnL'].map((h) => el('th', {}, h)));
  document.getElementById('positions').replaceChildren(head, ...p.positions.map((q) => el('tr', {}, el('td', {}, q.symbol),
    el('td', {}, num(q.quantity, 4)), el('td', {}, price(q.price)), el('td', {}, num(q.value)), el('td', {}, pct(q.weight, 1)),
    el('td', {}, price(q.avg_cost)), el('td', { class: q.unrealised_pnl >= 0 ? 'up' : 'down' }, num(q.unrealised_pnl)))));
}
