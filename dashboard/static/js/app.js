// The page: pickers, panels, and the live stream (one EventSource; the server pushes what PostgreSQL
// NOTIFYs: ticker rows, finished syncs). Nothing here polls a table; health is re-read every 30 s
// because two of its layers (ingest, bronze) come from services that raise no NOTIFY.
import { el, getJSON } from './api.js';
import { MarketChart, PortfolioChart } from './chart.js';
import { Board, loadPortfolio, renderCorrelation, renderFeed, renderHealth, renderRisk } from './panels.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = { symbol: params.get('symbol'), interval: params.get('interval') || '1h', candlesSimulated: false,
  healthSource: null, portfolio: null, portfolioIntervals: [], loads: 0 };
// read by the browser tests and the latency benchmark
const dash = window.dash = { state, bars: 0, firstTime: null, lastBar: null, drawn: [], errors: [] };

const chart = new MarketChart($('chart'));
const pfChart = new PortfolioChart($('pf-chart'));
const board = new Board($('board'), (s) => pick(s, state.interval));

function report(err) { dash.errors.push(String(err)); console.error(err); }

function updateBadge() {
  const sources = new Set([...board.tickers.values()].map((t) => t.source));
  if (state.candlesSimulated) sources.add('simulator');
  if (state.healthSource) sources.add(state.healthSource);
  const sim = [...sources].filter((s) => s !== 'binance');
  const badge = $('sim-badge');
  badge.hidden = sim.length === 0;
  badge.textContent = sim.length ? `SIMULATED DATA · source: ${sim.join(', ')}` : '';
}

async function loadCandles() {
  const { symbol, interval } = state;
  if (!symbol) { $('chart-info').textContent = 'no candles or tickers in the serving database yet'; return; }
  const page = await getJSON(`/api/candles?symbol=${symbol}&interval=${interval}&limit=1500`);
  if (symbol !== state.symbol || interval !== state.interval) return;   // a newer pick won
  dash.bars = chart.setData(page.candles, interval);
  dash.firstTime = page.candles.length ? page.candles[0].open_time_ms : null;
  dash.lastBar = chart.last;
  state.candlesSimulated = page.simulated;
  state.loads += 1;
  $('chart-title').textContent = `${symbol} · ${interval}`;
  $('chart-info').textContent = page.candles.length ? `${page.candles.length} candles, source ${page.candles.at(-1).source}`
    : 'no candles for this symbol and interval yet';
  updateBadge();
}

async function loadRiskAndCorrelation() {
  // gold figures of the chart's interval when there are any, else the daily ones
  for (const iv of [...new Set([state.interval, '1d'])]) {
    const [risk, corr] = await Promise.all([getJSON(`/api/risk?interval=${iv}`), getJSON(`/api/correlation?interval=${iv}`)]);
    if (risk.length || corr.symbols.length || iv === '1d') {
      renderRisk($('risk'), risk);
      renderCorrelation($('corr'), corr);
      $('risk-info').textContent = risk.length ? `${iv}, window ${risk[0].window_bars} bars` : '';
      $('corr-info').textContent = corr.symbols.length ? `${iv}, window ${corr.window_bars} bars` : '';
      return;
    }
  }
}

async function loadFeed() {
  const [s, a] = await Promise.all([getJSON('/api/signals?limit=50'), getJSON('/api/anomalies?limit=50')]);
  renderFeed($('feed'), s, a);
}

let health = null;
async function loadHealth() {
  health = await getJSON('/api/health');
  state.healthSource = health.source;
  renderHealth($('health'), health);
  updateBadge();
}

async function loadPortfolios() {
  const list = await getJSON('/api/portfolios');
  const sel = $('portfolio');
  sel.replaceChildren(...list.map((p) => el('option', { value: p.portfolio }, p.portfolio)));
  const current = list.find((p) => p.portfolio === state.portfolio) || list[0];
  if (!current) { $('pf-summary').textContent = 'no portfolio synced yet'; return; }
  state.portfolio = current.portfolio;
  state.portfolioIntervals = current.intervals;
  sel.value = current.portfolio;
  await loadPortfolio(state, pfChart);
}

async function loadBoard() {
  const [symbols, tickers] = await Promise.all([getJSON('/api/symbols'), getJSON('/api/tickers')]);
  board.setAll(tickers);
  const sel = $('symbol');
  sel.replaceChildren(...symbols.map((s) => el('option', { value: s }, s)));
  if (!state.symbol || !symbols.includes(state.symbol)) state.symbol = symbols.includes('BTCUSDT') ? 'BTCUSDT' : symbols[0];
  sel.value = state.symbol;
  $('interval').value = state.interval;
  board.select(state.symbol);
  updateBadge();
}

function pick(symbol, interval) {
  state.symbol = symbol;
  state.interval = interval;
  $('symbol').value = symbol;
  $('interval').value = interval;
  board.select(symbol);
  history.replaceState(null, '', `?symbol=${symbol}&interval=${interval}`);
  loadCandles().catch(report);
  loadRiskAndCorrelation().catch(report);
}

// ---- live ----------------------------------------------------------------------------------------
const pending = new Map();
function soon(key, fn, ms = 300) {          // coalesce a burst of sync events into one refetch
  clearTimeout(pending.get(key));
  pending.set(key, setTimeout(() => fn().catch(report), ms));
}

function onTicker(t) {
  const merged = board.upsert(t);
  updateBadge();
  if (t.symbol !== state.symbol || t.last_price === null || t.last_price === undefined) return;
  const bar = chart.tick(Number(t.last_price), Number(t.event_time_ms));
  if (!bar) return;
  dash.lastBar = bar;
  // drawn = the frame after the update (lightweight-charts paints on the next animation frame)
  requestAnimationFrame(() => requestAnimationFrame(() => {
    dash.drawn.push({ symbol: t.symbol, price: Number(merged.last_price), wall: Date.now() });
    if (dash.drawn.length > 500) dash.drawn.shift();
  }));
}

function onSync(msg) {
  const t = msg.table || '';
  // the payload names upserted symbols only (not deleted rows', and long lists are cut): any candles
  // sync refetches the chart; the server's page cache makes that one cheap request
  if (t === 'candles') soon('candles', loadCandles);
  if (t === 'candles') soon('symbols', loadBoard, 1000);
  if (t === 'gold_risk' || t === 'gold_correlation') soon('risk', loadRiskAndCorrelation);
  if (t === 'gold_signals' || t === 'gold_anomalies') soon('feed', loadFeed);
  if (t.startsWith('gold_portfolio')) soon('portfolio', loadPortfolios);
  soon('health', loadHealth, 1000);
}

function connect() {
  const es = new EventSource('/api/stream');
  es.addEventListener('hello', () => $('live').className = 'live on');
  es.addEventListener('ticker', (e) => onTicker(JSON.parse(e.data)));
  es.addEventListener('sync', (e) => onSync(JSON.parse(e.data)));
  es.addEventListener('resync', () => loadAll().catch(report));
  es.onerror = () => { $('live').className = 'live off'; };   // EventSource reconnects by itself
}

async function loadAll() {
  await loadBoard();
  await Promise.all([loadCandles(), loadRiskAndCorrelation(), loadFeed(), loadHealth(), loadPortfolios()]);
}

$('symbol').addEventListener('change', (e) => pick(e.target.value, state.interval));
$('interval').addEventListener('change', (e) => pick(state.symbol, e.target.value));
$('portfolio').addEventListener('change', (e) => { state.portfolio = e.target.value; loadPortfolios().catch(report); });
const overlays = () => new Set([...document.querySelectorAll('#overlays input:checked')].map((i) => i.value));
$('overlays').addEventListener('change', () => chart.setOverlays(overlays()));
chart.setOverlays(overlays());
connect();
loadAll().then(() => { document.body.dataset.ready = '1'; }).catch(report);
setInterval(() => loadHealth().catch(report), 30_000);
setInterval(() => health && renderHealth($('health'), health), 5_000);
