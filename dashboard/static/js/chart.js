// The market chart: candles + volume with SMA/EMA/Bollinger overlays, RSI and MACD panes
// (TradingView lightweight-charts, served from the installer's copy at /vendor).
import { INTERVAL_MS, cssVar } from './api.js';

const LC = window.LightweightCharts;
const OVERLAYS = {
  sma: [['sma_20', '#f5a623'], ['sma_50', '#7b61ff'], ['sma_200', '#00a3bf']],
  ema: [['ema_12', '#e91e63'], ['ema_26', '#8bc34a'], ['ema_50', '#795548']],
  bb: [['bb_upper', '#9e9e9e'], ['bb_middle', '#bdbdbd'], ['bb_lower', '#9e9e9e']],
};
const sec = (ms) => Math.floor(ms / 1000);

function themeOptions() {
  return {
    layout: { background: { type: LC.ColorType.Solid, color: cssVar('--panel') }, textColor: cssVar('--text'),
              attributionLogo: true, panes: { separatorColor: cssVar('--border') } },
    grid: { vertLines: { color: cssVar('--grid') }, horzLines: { color: cssVar('--grid') } },
  };
}

export class MarketChart {
  constructor(el) {
    this.chart = LC.createChart(el, { autoSize: true, ...themeOptions(),
      timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 4 },
      crosshair: { mode: LC.CrosshairMode.Normal } });
    const up = cssVar('--up'), down = cssVar('--down');
    this.candles = this.chart.addSeries(LC.CandlestickSeries, { upColor: up, downColor: down, borderVisible: false,
      wickUpColor: up, wickDownColor: down });
    this.volume = this.chart.addSeries(LC.HistogramSeries, { priceFormat: { type: 'volume' }, priceScaleId: 'vol',
      lastValueVisible: false, priceLineVisible: false });
    this.volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    this.lines = {};
    for (const [group, specs] of Object.entries(OVERLAYS)) {
      for (const [key, color] of specs) {
        this.lines[key] = { group, series: this.chart.addSeries(LC.LineSeries, { color, lineWidth: 1,
          lastValueVisible: false, priceLineVisible: false, crosshairMarkerVisible: false }) };
      }
    }
    this.rsi = this.chart.addSeries(LC.LineSeries, { color: '#7b61ff', lineWidth: 1, priceLineVisible: false }, 1);
    this.rsi.createPriceLine({ price: 70, color: down, lineStyle: LC.LineStyle.Dashed, axisLabelVisible: false });
    this.rsi.createPriceLine({ price: 30, color: up, lineStyle: LC.LineStyle.Dashed, axisLabelVisible: false });
    this.macdHist = this.chart.addSeries(LC.HistogramSeries, { priceLineVisible: false, lastValueVisible: false }, 2);
    this.macd = this.chart.addSeries(LC.LineSeries, { color: '#2962ff', lineWidth: 1, priceLineVisible: false }, 2);
    this.macdSignal = this.chart.addSeries(LC.LineSeries, { color: '#ff6d00', lineWidth: 1, priceLineVisible: false }, 2);
    this.candles.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.22 } });
    // main pane 4 : RSI 1 : MACD 1.2 of the height, whatever the window size
    const panes = this.chart.panes();
    panes[0].setStretchFactor(4);
    panes[1].setStretchFactor(1);
    panes[2].setStretchFactor(1.2);
    this.last = null;     // the bar the live ticker updates
    this.interval = '1h';
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.chart.applyOptions(themeOptions()));
  }

  setOverlays(enabled) {
    for (const { group, series } of Object.values(this.lines)) series.applyOptions({ visible: enabled.has(group) });
  }

  // rows: the API's candles (oldest first)
  setData(rows, interval) {
    this.interval = interval;
    const up = cssVar('--up'), down = cssVar('--down');
    const bars = rows.map((r) => ({ time: sec(r.open_time_ms), open: r.open, high: r.high, low: r.low, close: r.close }));
    this.candles.setData(bars);
    this.volume.setData(rows.map((r) => ({ time: sec(r.open_time_ms), value: r.volume,
      color: (r.close >= r.open ? up : down) + '66' })));
    const line = (key) => rows.filter((r) => r[key] !== null).map((r) => ({ time: sec(r.open_time_ms), value: r[key] }));
    for (const [key, { series }] of Object.entries(this.lines)) series.setData(line(key));
    this.rsi.setData(line('rsi_14'));
    this.macd.setData(line('macd'));
    this.macdSignal.setData(line('macd_signal'));
    this.macdHist.setData(rows.filter((r) => r.macd_hist !== null).map((r) => ({ time: sec(r.open_time_ms),
      value: r.macd_hist, color: (r.macd_hist >= 0 ? up : down) + 'aa' })));
    this.last = bars.length ? { ...bars[bars.length - 1] } : null;
    this.chart.timeScale().fitContent();
    return bars.length;
  }

  // a live trade/ticker price: extends the forming bar, or opens the next one
  tick(price, eventMs) {
    const open = sec(eventMs - (eventMs % INTERVAL_MS[this.interval]));
    if (this.last && open < this.last.time) return null;   // older than the bar shown: nothing to draw
    if (!this.last || open > this.last.time) {
      this.last = { time: open, open: price, high: price, low: price, close: price };
    } else {
      this.last = { ...this.last, high: Math.max(this.last.high, price), low: Math.min(this.last.low, price), close: price };
    }
    this.candles.update(this.last);
    return this.last;
  }
}

// the portfolio's value (area) and drawdown (pane below)
export class PortfolioChart {
  constructor(el) {
    this.chart = LC.createChart(el, { autoSize: true, ...themeOptions(), timeScale: { timeVisible: false } });
    this.value = this.chart.addSeries(LC.AreaSeries, { lineColor: cssVar('--accent'), topColor: cssVar('--accent') + '55',
      bottomColor: cssVar('--accent') + '05', lineWidth: 2 });
    this.drawdown = this.chart.addSeries(LC.AreaSeries, { lineColor: cssVar('--down'), topColor: cssVar('--down') + '05',
      bottomColor: cssVar('--down') + '55', lineWidth: 1, priceFormat: { type: 'percent' } }, 1);
    this.chart.panes()[0].setStretchFactor(3);
    this.chart.panes()[1].setStretchFactor(1);
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.chart.applyOptions(themeOptions()));
  }

  setData(series) {
    const pts = series.filter((p) => p.value !== null);
    this.value.setData(pts.map((p) => ({ time: sec(p.open_time_ms), value: p.value })));
    this.drawdown.setData(series.filter((p) => p.drawdown !== null).map((p) => ({ time: sec(p.open_time_ms), value: p.drawdown * 100 })));
    this.chart.timeScale().fitContent();
  }
}
