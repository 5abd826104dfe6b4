// Draws a Grafana dashboard JSON's panels from a real Prometheus HTTP API, with uPlot (the library
// Grafana's time-series panel draws with), for screenshots where no Grafana can be run. What is
// Grafana's: each target's PromQL, sent unchanged except for $__rate_interval (Grafana's definition:
// max(interval + scrape, 4 × scrape)) and $__interval; the query step (range / panel width, at least
// the scrape interval); legendFormat; the 24-column grid; units, min/max and absolute thresholds.
// What is not: Grafana's styling, fonts and its other panel options. Sets window.renderDone when done.
(async () => {
  const params = new URLSearchParams(location.search);
  const dashboard = await (await fetch('/dashboard.json')).json();
  const width = 1600;
  const column = width / 24;
  const row = 30;
  const gap = 8;
  const to = Number(params.get('to'));
  const from = Number(params.get('from'));
  const scrape = Number(params.get('scrape'));
  document.getElementById('title').textContent = dashboard.title;
  document.getElementById('note').textContent =
    `Rendered from monitoring/grafana/dashboards/${params.get('file')}: every panel's query run against a real Prometheus scraping the running service, drawn with uPlot — not by Grafana. ${new Date(from * 1000).toISOString().slice(11, 19)}–${new Date(to * 1000).toISOString().slice(11, 19)} UTC.`;

  const duration = (seconds) => (seconds % 60 === 0 ? `${seconds / 60}m` : `${Math.max(1, Math.round(seconds))}s`);
  const units = {
    short: (v) => (Math.abs(v) >= 1e6 ? `${(v / 1e6).toFixed(1)} M` : Math.abs(v) >= 1e3 ? `${(v / 1e3).toFixed(1)} K` : `${+v.toFixed(2)}`),
    percent: (v) => `${v.toFixed(1)}%`,
    percentunit: (v) => `${(v * 100).toFixed(1)}%`,
    s: (v) => (v === 0 ? '0' : v < 0.001 ? `${(v * 1e6).toFixed(0)} µs` : v < 1 ? `${(v * 1000).toFixed(1)} ms` : v < 120 ? `${v.toFixed(1)} s` : `${(v / 60).toFixed(1)} min`),
    bytes: (v) => {
      const names = ['B', 'KiB', 'MiB', 'GiB'];
      let index = 0;
      while (Math.abs(v) >= 1024 && index < names.length - 1) { v /= 1024; index += 1; }
      return `${v.toFixed(1)} ${names[index]}`;
    },
  };
  const palette = ['#73bf69', '#f2cc0c', '#8ab8ff', '#ff780a', '#f2495c', '#5794f2', '#b877d9', '#705da0', '#37872d', '#fade2a'];
  const colours = { green: '#73bf69', red: '#f2495c', yellow: '#fade2a', orange: '#ff9830', blue: '#5794f2' };
  const thresholdColour = (steps, value) => {
    let colour = steps?.[0]?.color ?? 'green';
    for (const step of steps ?? []) if (step.value !== null && step.value !== undefined && value >= step.value) colour = step.color;
    return colours[colour] ?? colour;
  };
  const legend = (format, metric) => (format ? format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, label) => metric[label] ?? '') : Object.entries(metric).map(([k, v]) => `${k}=${v}`).join(' ') || 'value');

  const root = document.getElementById('dashboard');
  let bottom = 0;
  const work = dashboard.panels.map(async (panel) => {
    const grid = panel.gridPos;
    const element = document.createElement('div');
    element.className = 'panel';
    Object.assign(element.style, { left: `${grid.x * column}px`, top: `${grid.y * row}px`, width: `${grid.w * column - gap}px`, height: `${grid.h * row - gap}px` });
    element.innerHTML = '<div class="title"></div><div class="body"></div>';
    element.querySelector('.title').textContent = panel.title;
    root.appendChild(element);
    bottom = Math.max(bottom, (grid.y + grid.h) * row);
    const body = element.querySelector('.body');
    const bodyWidth = grid.w * column - gap - 16;
    const bodyHeight = grid.h * row - gap - 34;
    const defaults = panel.fieldConfig?.defaults ?? {};
    const format = units[defaults.unit] ?? units.short;
    const interval = Math.max(scrape, Math.ceil((to - from) / bodyWidth));
    const rateInterval = Math.max(interval + scrape, 4 * scrape);
    const expand = (expr) => expr.replaceAll('$__rate_interval', duration(rateInterval)).replaceAll('$__interval', duration(interval));
    try {
      const series = [];
      for (const target of panel.targets ?? []) {
        const query = new URLSearchParams({ query: expand(target.expr), start: from, end: to, step: interval });
        const answer = await (await fetch(`/api/v1/query_range?${query}`)).json();
        if (answer.status !== 'success') throw new Error(answer.error ?? 'query failed');
        for (const result of answer.data.result) series.push({ name: legend(target.legendFormat, result.metric), values: result.values });
      }
      if (!series.length) {
        body.innerHTML = '<div class="nodata">No data</div>';
        return;
      }
      if (panel.type === 'stat') {
        const values = series[0].values.map(([, v]) => Number(v)).filter((v) => !Number.isNaN(v));
        const value = values.at(-1);
        const stat = document.createElement('div');
        stat.className = 'stat';
        stat.style.color = thresholdColour(defaults.thresholds?.steps, value);
        stat.textContent = value === undefined ? 'No data' : format(value);
        body.appendChild(stat);
        return;
      }
      const times = [...new Set(series.flatMap((s) => s.values.map(([t]) => Number(t))))].sort((a, b) => a - b);
      const position = new Map(times.map((t, index) => [t, index]));
      const data = [times, ...series.map((s) => {
        const line = new Array(times.length).fill(null);
        for (const [t, v] of s.values) line[position.get(Number(t))] = Number.isNaN(Number(v)) ? null : Number(v);
        return line;
      })];
      new uPlot({
        width: bodyWidth,
        // The legend goes below the plot, one line for up to three series (more wrap and are cut).
        height: bodyHeight - (series.length > 3 ? 44 : 26),
        legend: { show: true },
        cursor: { show: false },
        scales: { y: { range: (_, min, max) => [defaults.min ?? Math.min(0, min), defaults.max ?? (max > 0 ? max * 1.1 : 1)] } },
        axes: [
          { stroke: '#8e8e9e', grid: { stroke: '#2c3235' }, ticks: { stroke: '#2c3235' } },
          { stroke: '#8e8e9e', grid: { stroke: '#2c3235' }, ticks: { stroke: '#2c3235' }, values: (_, ticks) => ticks.map(format), size: 84 },
        ],
        series: [{}, ...series.map((s, index) => ({ label: s.name, stroke: palette[index % palette.length], width: 1.5, fill: `${palette[index % palette.length]}1a` }))],
      }, data, body);
    } catch (error) {
      body.innerHTML = '<div class="error"></div>';
      body.firstChild.textContent = error.message;
      element.dataset.error = error.message;
    }
  });
  await Promise.all(work);
  root.style.height = `${bottom}px`;
  window.renderDone = true;
})().catch((error) => {
  document.body.textContent = `renderer error: ${error.message}`;
  window.renderDone = true;
});
