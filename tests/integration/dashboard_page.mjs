// dashboard_page.mjs - drives Debian's chromium (playwright-core from web/)
// through the dashboard page for tests/integration/97-dashboard.sh.
//
//   node dashboard_page.mjs URL OUTDIR
//
// Steps, each leaving files in OUTDIR for the shell test to check:
//   1. load the page; wait until every panel has been filled once; read what
//      the page shows (KPIs, each chart's series data) -> shown-all.json,
//      screenshots dashboard-full.png and dashboard-laptop.png (1366x768);
//   2. filter (PIX and TED, 08h-17h) -> shown-filtered.json, filtered.png;
//   3. touch OUTDIR/ready and wait until the live panel moves (a stream
//      produced by the test is being processed) -> live.json, live.png;
//   4. errors.json: console errors and page errors (must be none).
// Exits 0 when the steps ran (the shell judges the numbers), 1 otherwise.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import url from 'node:url';

const here = path.dirname(url.fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../web/package.json'));
const { chromium } = require('playwright-core');

const [target, out] = process.argv.slice(2);
if (!target || !out) {
  console.error('usage: node dashboard_page.mjs URL OUTDIR');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });
const errors = [];
const write = (name, obj) => fs.writeFileSync(path.join(out, name), JSON.stringify(obj, null, 1));

// a fresh profile directory of our own (playwright passes it as --user-data-dir)
const profile = fs.mkdtempSync(path.join(out, 'profile-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1366, height: 768 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
});
let rc = 1;
try {
  const page = browser.pages()[0] || await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  page.on('requestfailed', (r) => errors.push('requestfailed: ' + r.url() + ' ' + (r.failure() || {}).errorText));
  page.on('request', (r) => { if (!r.url().startsWith(target.replace(/\/$/, ''))) errors.push('external request: ' + r.url()); });

  const okCount = (name) => page.evaluate((n) => Number(document.body.dataset['ok' + n] || 0), name);
  const waitAll = async (since) => {
    for (const n of ['estado', 'vivo', 'analise', 'pipeline', 'topico', 'dead']) {
      await page.waitForFunction(([k, c]) => Number(document.body.dataset['ok' + k] || 0) > c, [n, since[n] || 0], { timeout: 90000 });
    }
  };
  // what the page shows: KPI texts and data attributes, and every chart's series
  const shown = () => page.evaluate(() => {
    const kpi = (id) => { const e = document.getElementById(id); return e ? { texto: e.textContent.trim(), valor: e.dataset.valor } : null; };
    const ch = {};
    for (const div of document.querySelectorAll('.grafico')) {
      const inst = echarts.getInstanceByDom(div);
      if (!inst) { ch[div.id] = null; continue; }
      const o = inst.getOption();
      ch[div.id] = {
        series: (o.series || []).map((s) => ({ name: s.name, type: s.type, data: s.data })),
        x: o.xAxis && o.xAxis[0] ? o.xAxis[0].data : null,
        xname: o.xAxis && o.xAxis[0] ? o.xAxis[0].name : null,
        y: o.yAxis && o.yAxis[0] ? o.yAxis[0].data : null,
        title: o.title && o.title[0] ? o.title[0].text : null,
        canvas: !!div.querySelector('canvas'),
      };
    }
    const rows = (id) => [...document.querySelectorAll('#' + id + ' tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent));
    return {
      kpis: { total: kpi('kpi-total'), taxa: kpi('kpi-taxa'), latencia: kpi('kpi-latencia'), negadas: kpi('kpi-negadas'), valor: kpi('kpi-valor'), msgs: kpi('kpi-msgs'), lag: kpi('kpi-lag') },
      charts: ch,
      vivo: rows('tabela-vivo'), topico: rows('tabela-topico'), dead: rows('tabela-dead'),
      notas: { pipeline: document.getElementById('pipeline-nota').textContent, topico: document.getElementById('topico-nota').textContent, dead: document.getElementById('dead-nota').textContent },
      assets_missing: !document.getElementById('aviso-assets').hidden,
    };
  });

  await page.goto(target, { waitUntil: 'load' });
  await waitAll({});
  // the pipeline panel needs two polls for rates
  await page.waitForTimeout(4500);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 300))));
  write('shown-all.json', await shown());
  await page.screenshot({ path: path.join(out, 'dashboard-laptop.png') });
  await page.screenshot({ path: path.join(out, 'dashboard-full.png'), fullPage: true });

  // 2. a filter: PIX and TED, 08h to 17h
  await page.uncheck('input[name=mod][value=DOC]');
  await page.uncheck('input[name=mod][value=Boleto]');
  await page.selectOption('#h0', '8');
  await page.selectOption('#h1', '17');
  await page.waitForFunction(() => document.body.dataset.analise === JSON.stringify({ mod: 'PIX,TED', h0: '8', h1: '17' }), null, { timeout: 30000 });
  await page.waitForTimeout(500);
  write('shown-filtered.json', await shown());
  await page.screenshot({ path: path.join(out, 'filtered.png'), fullPage: true });

  // 3. the live panel while a stream runs
  const before = await shown();
  fs.writeFileSync(path.join(out, 'ready'), '');
  const topBatch = () => page.evaluate(() => { const td = document.querySelector('#tabela-vivo tbody tr td'); return td ? td.textContent : ''; });
  const first = await topBatch();
  await page.waitForFunction((b) => { const td = document.querySelector('#tabela-vivo tbody tr td'); return td && td.textContent !== b; }, first, { timeout: 90000, polling: 500 });
  await page.waitForTimeout(2500); // one more refresh: deltas against a moved panel
  const after = await shown();
  write('live.json', { before: { kpis: before.kpis, vivo: before.vivo }, after: { kpis: after.kpis, vivo: after.vivo, deltas: await page.evaluate(() => [...document.querySelectorAll('.kpi .delta')].map((d) => d.textContent)) } });
  // sections as a person scrolls to them (the page keeps refreshing, so an
  // element screenshot would wait for a layout that never settles)
  for (const [sec, file] of [['#sec-vivo', 'live.png'], ['#sec-pipeline', 'pipeline.png'], ['#sec-topico', 'topico.png']]) {
    await page.evaluate((s) => document.querySelector(s).scrollIntoView(), sec);
    await page.waitForTimeout(400);
    await page.screenshot({ path: path.join(out, file) });
  }
  rc = 0;
} catch (e) {
  errors.push('driver: ' + e.message);
  console.error(e);
} finally {
  write('errors.json', errors);
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(rc);
