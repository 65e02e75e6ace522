/* app.js - the dashboard page: reads /api/* (numbers computed by PostgreSQL
 * or by the dashboard's pollers) and draws them with Apache ECharts.
 *
 * The page computes nothing but presentation: formats, the change of the
 * live figures since the previous refresh (per viewer, as Streamlit's
 * st.metric delta did), and rates from the processor's counters.
 * Refresh: live panel, state and pipeline every 2 s; topic every 5 s;
 * analyses every 10 s and at once when a filter changes; nothing while the
 * tab is hidden. Each chart instance is kept in `charts` (the tests read
 * their options through echarts.getInstanceByDom). */
'use strict';

const COR_APROVADA = '#2e9e4f';
const COR_REJEITADA = '#d64541';
const RDYLGN = ['#a50026', '#d73027', '#f46d43', '#fdae61', '#fee08b', '#ffffbf',
  '#d9ef8b', '#a6d96a', '#66bd63', '#1a9850', '#006837'];
const FAIXAS_VALOR = ['0–500', '500–1.000', '1.000–2.500', '2.500–5.000', '5.000–10.000', '> 10.000'];
const FAIXAS_DIST = ['< 50 km', '50–300 km', '300–1.000 km', '> 1.000 km'];
const MOTIVOS = {
  saldo_insuficiente: 'Saldo insuficiente',
  limite_excedido: 'Limite excedido',
  risco: 'Risco (score)',
  pagador_desconhecido: 'Pagador desconhecido',
  recebedor_desconhecido: 'Recebedor desconhecido',
  atrasada: 'Atrasada (não processada)',
  anterior_a_ultima: 'Anterior à última aprovada (não processada)',
  data_futura: 'Data futura (não processada)',
  '': 'Sem motivo gravado',
};
const UFS = {
  AC: 'Acre', AL: 'Alagoas', AP: 'Amapá', AM: 'Amazonas', BA: 'Bahia', CE: 'Ceará',
  DF: 'Distrito Federal', ES: 'Espírito Santo', GO: 'Goiás', MA: 'Maranhão', MT: 'Mato Grosso',
  MS: 'Mato Grosso do Sul', MG: 'Minas Gerais', PA: 'Pará', PB: 'Paraíba', PR: 'Paraná',
  PE: 'Pernambuco', PI: 'Piauí', RJ: 'Rio de Janeiro', RN: 'Rio Grande do Norte',
  RS: 'Rio Grande do Sul', RO: 'Rondônia', RR: 'Roraima', SC: 'Santa Catarina',
  SP: 'São Paulo', SE: 'Sergipe', TO: 'Tocantins',
};

const fmtInt = new Intl.NumberFormat('pt-BR', { maximumFractionDigits: 0 });
const fmt1 = new Intl.NumberFormat('pt-BR', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const fmt2 = new Intl.NumberFormat('pt-BR', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const fmt3 = new Intl.NumberFormat('pt-BR', { minimumFractionDigits: 3, maximumFractionDigits: 3 });
const fmtReais = (v) => 'R$ ' + fmt2.format(v);
const fmtPct = (v) => fmt1.format(100 * v) + '%';
const $ = (sel) => document.querySelector(sel);

const charts = {};
let mapaPronto = false;

/* ------------------------------------------------------------ utilities */

function grafico(id) {
  if (!charts[id]) {
    const el = document.getElementById(id);
    charts[id] = echarts.init(el, null, { renderer: 'canvas' });
  }
  return charts[id];
}

function vazio(id, texto) {
  const c = grafico(id);
  c.clear();
  c.setOption({
    title: { text: texto, left: 'center', top: 'middle', textStyle: { color: '#667085', fontSize: 13, fontWeight: 'normal' } },
  });
}

async function api(nome, params) {
  const qs = params ? '?' + new URLSearchParams(params).toString() : '';
  const r = await fetch('/api/' + nome + qs, { cache: 'no-store' });
  const corpo = await r.json();
  if (!r.ok) throw new Error(corpo && corpo.erro ? corpo.erro : 'HTTP ' + r.status);
  return corpo;
}

function el(tag, attrs, texto) {
  const e = document.createElement(tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (texto !== undefined && texto !== null) e.textContent = texto;
  return e;
}

function linhas(tbody, rows, vazioTexto, colunas) {
  tbody.replaceChildren();
  if (rows.length === 0) {
    const tr = el('tr');
    tr.appendChild(el('td', { colspan: String(colunas) }, vazioTexto));
    tbody.appendChild(tr);
    return;
  }
  for (const r of rows) tbody.appendChild(r);
}

const eixoValor = (nome, extra) => Object.assign({
  type: 'value', name: nome, nameLocation: 'middle', nameGap: 48, minInterval: 1,
  axisLabel: { formatter: (v) => fmtInt.format(v) },
}, extra || {});

/* -------------------------------------------------------------- filters */

function filtros() {
  const mods = [...document.querySelectorAll('input[name=mod]:checked')].map((i) => i.value);
  return { mod: mods.join(','), h0: $('#h0').value, h1: $('#h1').value };
}

function iniciarFiltros() {
  for (const id of ['h0', 'h1']) {
    const s = document.getElementById(id);
    for (let h = 0; h < 24; h++) s.appendChild(el('option', { value: String(h) }, String(h).padStart(2, '0')));
  }
  $('#h0').value = '0';
  $('#h1').value = '23';
  const mudou = () => {
    let h0 = Number($('#h0').value), h1 = Number($('#h1').value);
    if (h0 > h1) { // keep the range valid: move the other end
      if (document.activeElement === $('#h0')) $('#h1').value = String(h0);
      else $('#h0').value = String(h1);
    }
    agendar('analise', 0);
  };
  for (const i of document.querySelectorAll('input[name=mod]')) i.addEventListener('change', mudou);
  $('#h0').addEventListener('change', mudou);
  $('#h1').addEventListener('change', mudou);
  $('#n').addEventListener('input', () => { $('#n-valor').textContent = $('#n').value; });
  $('#n').addEventListener('change', () => { anterior = null; agendar('vivo', 0); });
}

/* ------------------------------------------------------------ live panel */

let anterior = null;

function delta(elDelta, atual, antes, menorMelhor, formato) {
  elDelta.className = 'delta';
  if (antes === null || antes === undefined || atual === null) {
    elDelta.textContent = '';
    return;
  }
  const d = atual - antes;
  if (Math.abs(d) < 1e-9) {
    elDelta.textContent = '= sem variação';
    elDelta.classList.add('neutro');
    return;
  }
  elDelta.textContent = (d > 0 ? '▲ +' : '▼ ') + formato(d);
  elDelta.classList.add((d < 0) === menorMelhor ? 'melhor' : 'pior');
}

async function atualizarVivo() {
  const n = $('#n').value;
  const v = await api('ao_vivo', { n });
  const lat = v.latencia_media_ms === null ? null : Number(v.latencia_media_ms);
  const valor = v.valor_medio === null ? null : Number(v.valor_medio);
  const kl = $('#kpi-latencia'), kn = $('#kpi-negadas'), kv = $('#kpi-valor');
  kl.querySelector('.valor').textContent = lat === null ? '–' : fmtInt.format(lat) + ' ms';
  kn.querySelector('.valor').textContent = fmtInt.format(v.negadas) + ' de ' + fmtInt.format(v.n);
  kv.querySelector('.valor').textContent = valor === null ? '–' : fmtReais(valor);
  kl.dataset.valor = lat === null ? '' : String(lat);
  kn.dataset.valor = String(v.negadas);
  kv.dataset.valor = valor === null ? '' : String(valor);
  const a = anterior;
  delta(kl.querySelector('.delta'), lat, a && a.lat, true, (d) => fmtInt.format(Math.abs(d)) + ' ms');
  delta(kn.querySelector('.delta'), v.negadas, a && a.negadas, true, (d) => fmtInt.format(Math.abs(d)));
  delta(kv.querySelector('.delta'), valor, a && a.valor, false, (d) => fmtReais(Math.abs(d)));
  anterior = { lat, negadas: v.negadas, valor };
  const rows = v.linhas.map((r) => {
    const tr = el('tr');
    tr.appendChild(el('td', { class: 'num' }, String(r.batch_id)));
    tr.appendChild(el('td', { title: r.id_transacao }, r.id_transacao.slice(0, 8) + '…'));
    tr.appendChild(el('td', null, (r.data_horario || '').replace('T', ' ').slice(0, 19)));
    tr.appendChild(el('td', { title: UFS[r.id_regiao] || '' }, r.id_regiao));
    tr.appendChild(el('td', null, r.modalidade_pagamento));
    tr.appendChild(el('td', { class: 'num' }, fmt2.format(r.valor_transacao)));
    const td = el('td');
    td.appendChild(el('span', { class: 'tag ' + r.status }, r.transacao_aprovada ? 'Aprovada' : r.status === 'rejeitada' ? 'Rejeitada' : r.status.replace('_', ' ')));
    tr.appendChild(td);
    tr.appendChild(el('td', null, r.motivo ? (MOTIVOS[r.motivo] || r.motivo) : ''));
    tr.appendChild(el('td', { class: 'num' }, r.latencia_ms === null ? '' : fmtInt.format(r.latencia_ms)));
    return tr;
  });
  linhas($('#tabela-vivo tbody'), rows, 'Nenhuma transação processada ainda.', 9);
}

/* ----------------------------------------------------------------- state */

async function atualizarEstado() {
  const b = $('#estado-banco');
  try {
    const e = await api('estado');
    b.textContent = 'banco ' + e.banco + ' (' + e.usuario + ')';
    b.className = 'pilula ok';
    $('#estado-total').textContent = fmtInt.format(e.transacoes) + ' transações';
    $('#estado-batch').textContent = e.ultimo_batch
      ? 'batch ' + e.ultimo_batch.batch_id + ' · ' + new Date(e.ultimo_batch.committed_at).toLocaleTimeString('pt-BR')
      : 'nenhum batch';
    const ag = e.agregados;
    const pa = $('#estado-agregados');
    if (ag) {
      const atraso = ag.lotes_pendentes > 0
        ? ' · faltam ' + fmtInt.format(ag.lotes_pendentes) + ' batch(es), ' + fmtInt.format(ag.linhas_pendentes) + ' linhas (' + fmtInt.format(Math.ceil(ag.atraso_s)) + ' s)'
        : ' · em dia';
      pa.textContent = 'análises até o batch ' + ag.ate_batch + atraso;
      pa.className = 'pilula ' + (ag.lotes_pendentes > 0 && ag.atraso_s > 5 ? 'atrasado' : 'ok');
      pa.dataset.ateBatch = String(ag.ate_batch);
    } else {
      pa.textContent = 'análises: sem marca d\'água';
      pa.className = 'pilula erro';
    }
    $('#estado-hora').textContent = 'atualizado ' + new Date().toLocaleTimeString('pt-BR');
  } catch (err) {
    b.textContent = 'banco: ' + err.message;
    b.className = 'pilula erro';
  }
}

/* -------------------------------------------------------------- analyses */

function desenharResumo(r) {
  $('#kpi-total').textContent = fmtInt.format(r.total);
  $('#kpi-taxa').textContent = r.total > 0 ? fmtPct(r.aprovadas / r.total) : '–';
  $('#kpi-valor-medio').textContent = r.valor_medio === null ? '–' : fmtReais(Number(r.valor_medio));
  $('#kpi-total').dataset.valor = String(r.total);

  // 1. one 100 % stacked bar
  const g1 = grafico('g1');
  const tot = r.total || 1;
  g1.setOption({
    tooltip: { trigger: 'item', formatter: (p) => p.seriesName + ': ' + fmtInt.format(p.data.n) + ' (' + fmtPct(p.value / 100) + ')' },
    legend: { top: 0 },
    grid: { left: 20, right: 20, top: 30, bottom: 30, containLabel: true },
    xAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' }, name: '% das transações', nameLocation: 'middle', nameGap: 25 },
    yAxis: { type: 'category', data: ['Transações'] },
    series: [
      { name: 'Aprovadas', type: 'bar', stack: 's', color: COR_APROVADA, data: [{ value: 100 * r.aprovadas / tot, n: r.aprovadas }], label: { show: r.total > 0, formatter: (p) => fmtPct(p.value / 100) + ' aprovadas', color: '#fff' } },
      { name: 'Rejeitadas', type: 'bar', stack: 's', color: COR_REJEITADA, data: [{ value: 100 * r.negadas / tot, n: r.negadas }], label: { show: r.negadas > 0, formatter: (p) => fmtPct(p.value / 100), color: '#fff' } },
    ],
  }, true);

  // 2b. hour histogram, approved vs denied overlaid
  const horas = r.por_hora.map((h) => String(h.hora).padStart(2, '0') + 'h');
  grafico('g2b').setOption({
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 60, right: 20, top: 30, bottom: 45 },
    xAxis: { type: 'category', data: horas, name: 'Hora do dia (São Paulo)', nameLocation: 'middle', nameGap: 28 },
    yAxis: eixoValor('Transações'),
    series: [
      { name: 'Aprovadas', type: 'bar', barGap: '-100%', barCategoryGap: '2%', color: COR_APROVADA, itemStyle: { opacity: 0.6 }, data: r.por_hora.map((h) => h.aprovadas) },
      { name: 'Rejeitadas', type: 'bar', color: COR_REJEITADA, itemStyle: { opacity: 0.6 }, data: r.por_hora.map((h) => h.negadas) },
    ],
  }, true);

  // 5. time score bars + approval-rate line
  grafico('g5').setOption({
    tooltip: { trigger: 'axis', valueFormatter: (v) => (v === null || v === undefined ? '–' : fmt3.format(v)) },
    legend: { top: 0 },
    grid: { left: 60, right: 70, top: 35, bottom: 45 },
    xAxis: { type: 'category', data: horas, name: 'Hora do dia (São Paulo)', nameLocation: 'middle', nameGap: 28 },
    yAxis: [
      { type: 'value', name: 'Score de tempo t7', min: 0, max: 1, nameLocation: 'middle', nameGap: 40 },
      { type: 'value', name: 'Taxa de aprovação (%)', min: 0, max: 100, nameLocation: 'middle', nameGap: 45, axisLabel: { formatter: '{value}%' } },
    ],
    series: [
      { name: 'Score de tempo médio |h − 12| / 12', type: 'bar', color: '#5b8def', data: r.por_hora.map((h) => (h.score_tempo === null ? null : Number(h.score_tempo))) },
      { name: 'Taxa de aprovação', type: 'line', yAxisIndex: 1, color: COR_APROVADA, symbolSize: 6, data: r.por_hora.map((h) => (h.taxa_aprovacao === null ? null : 100 * h.taxa_aprovacao)) },
    ],
  }, true);

  // 6a. approval rate by state (bars) and 6b. the map
  const estados = r.por_estado.filter((e) => e.total > 0).sort((a, b) => b.taxa_aprovacao - a.taxa_aprovacao);
  const taxas = estados.map((e) => 100 * e.taxa_aprovacao);
  const minT = taxas.length ? Math.floor(Math.min(...taxas)) : 0;
  const maxT = taxas.length ? Math.ceil(Math.max(...taxas)) : 100;
  grafico('g6a').setOption({
    tooltip: { trigger: 'axis', formatter: (ps) => { const e = estados[ps[0].dataIndex]; return UFS[e.id_regiao] + ' (' + e.id_regiao + ')<br>' + fmtPct(e.taxa_aprovacao) + ' de ' + fmtInt.format(e.total); } },
    grid: { left: 40, right: 30, top: 10, bottom: 40 },
    xAxis: { type: 'value', name: 'Taxa de aprovação (%)', nameLocation: 'middle', nameGap: 25, min: Math.max(0, minT - 2), max: Math.min(100, maxT + 1), axisLabel: { formatter: '{value}%' } },
    yAxis: { type: 'category', inverse: true, data: estados.map((e) => e.id_regiao), axisLabel: { fontSize: 11 } },
    visualMap: { show: false, min: minT, max: maxT, dimension: 0, inRange: { color: RDYLGN } },
    series: [{ type: 'bar', data: taxas, label: { show: true, position: 'right', fontSize: 10, formatter: (p) => fmt1.format(p.value) } }],
  }, true);
  if (mapaPronto) {
    grafico('g6b').setOption({
      tooltip: { trigger: 'item', formatter: (p) => { const e = r.por_estado.find((x) => x.id_regiao === p.name); return (UFS[p.name] || p.name) + '<br>' + (e && e.total ? fmtPct(e.taxa_aprovacao) + ' de ' + fmtInt.format(e.total) : 'sem transações'); } },
      visualMap: { min: minT, max: maxT, left: 10, bottom: 10, text: [maxT + '%', minT + '%'], calculable: true, inRange: { color: RDYLGN }, formatter: (v) => fmt1.format(v) + '%' },
      series: [{ type: 'map', map: 'brasil', roam: false, selectedMode: false, label: { show: true, fontSize: 9, color: '#222' }, emphasis: { label: { show: true } }, data: r.por_estado.filter((e) => e.total > 0).map((e) => ({ name: e.id_regiao, value: 100 * e.taxa_aprovacao })) }],
    }, true);
  }

  // 7. denials by recorded reason
  const motivos = r.motivos;
  grafico('g7').setOption({
    tooltip: { trigger: 'axis' },
    grid: { left: 10, right: 50, top: 10, bottom: 40, containLabel: true },
    xAxis: eixoValor('Transações negadas', { nameGap: 25 }),
    yAxis: { type: 'category', inverse: true, data: motivos.map((m) => MOTIVOS[m.motivo] || m.motivo) },
    series: [{ type: 'bar', data: motivos.map((m) => ({ value: m.n, itemStyle: { color: m.motivo === 'limite_excedido' ? '#e67e22' : m.motivo === 'saldo_insuficiente' ? '#8e44ad' : '#98a2b3' } })), label: { show: true, position: 'right', formatter: (p) => fmtInt.format(p.value) } }],
  }, true);

  // 8. denied by payment type
  grafico('g8').setOption({
    tooltip: { trigger: 'axis' },
    grid: { left: 60, right: 20, top: 20, bottom: 45 },
    xAxis: { type: 'category', data: r.negadas_por_modalidade.map((m) => m.modalidade), name: 'Modalidade', nameLocation: 'middle', nameGap: 28 },
    yAxis: eixoValor('Transações negadas'),
    series: [{ type: 'bar', color: COR_REJEITADA, data: r.negadas_por_modalidade.map((m) => m.negadas), label: { show: true, position: 'top', formatter: (p) => fmtInt.format(p.value) } }],
  }, true);

  // 10. distance bands, stacked
  grafico('g10').setOption({
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 60, right: 20, top: 30, bottom: 45 },
    xAxis: { type: 'category', data: FAIXAS_DIST, name: 'Distância entre as capitais (transação × pagador)', nameLocation: 'middle', nameGap: 28 },
    yAxis: eixoValor('Transações'),
    series: [
      { name: 'Aprovadas', type: 'bar', stack: 'd', color: COR_APROVADA, data: r.distancia.map((d) => d.aprovadas) },
      { name: 'Rejeitadas', type: 'bar', stack: 'd', color: COR_REJEITADA, data: r.distancia.map((d) => d.negadas) },
    ],
  }, true);
}

function desenharValores(v) {
  if (!v.bins.length) { vazio('g2a', 'Sem transações no filtro'); return; }
  grafico('g2a').setOption({
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 60, right: 20, top: 30, bottom: 50 },
    xAxis: { type: 'category', data: v.bins.map((b) => fmtInt.format(b.de) + '–' + fmtInt.format(b.ate)), name: 'Valor da transação (R$), até o p99 = ' + fmtInt.format(v.corte), nameLocation: 'middle', nameGap: 32, axisLabel: { interval: 'auto', fontSize: 10 } },
    yAxis: eixoValor('Transações'),
    series: [
      { name: 'Aprovadas', type: 'bar', barGap: '-100%', barCategoryGap: '1%', color: COR_APROVADA, itemStyle: { opacity: 0.6 }, data: v.bins.map((b) => b.aprovadas) },
      { name: 'Rejeitadas', type: 'bar', color: COR_REJEITADA, itemStyle: { opacity: 0.6 }, data: v.bins.map((b) => b.negadas) },
    ],
  }, true);
}

function desenharBoxplot(bx) {
  if (!bx.length) { vazio('g3', 'Sem transações com score no filtro'); return; }
  const serie = (aprovada) => FAIXAS_VALOR.map((_, g) => {
    const b = bx.find((x) => x.faixa === g && x.aprovada === aprovada);
    return b ? { value: [b.bigode_inf, b.q1, b.mediana, b.q3, b.bigode_sup], caixa: b } : [];
  });
  const dica = (p) => {
    const b = p.data && p.data.caixa;
    if (!b) return '';
    return p.seriesName + ' · R$ ' + FAIXAS_VALOR[b.faixa] + '<br>n = ' + fmtInt.format(b.n) +
      '<br>bigodes: ' + fmt2.format(b.bigode_inf) + ' – ' + fmt2.format(b.bigode_sup) +
      '<br>Q1 ' + fmt2.format(b.q1) + ' · mediana ' + fmt2.format(b.mediana) + ' · Q3 ' + fmt2.format(b.q3) +
      '<br>média ' + fmt2.format(b.media) + ' · mín ' + fmt2.format(b.min) + ' · máx ' + fmt2.format(b.max);
  };
  grafico('g3').setOption({
    tooltip: { trigger: 'item', formatter: dica },
    legend: { top: 0 },
    grid: { left: 60, right: 20, top: 30, bottom: 45 },
    xAxis: { type: 'category', data: FAIXAS_VALOR, name: 'Faixa de valor (R$)', nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', name: 't5 (graus)', nameLocation: 'middle', nameGap: 40 },
    series: [
      { name: 'Aprovadas', type: 'boxplot', color: COR_APROVADA, itemStyle: { color: 'rgba(46,158,79,.25)', borderColor: COR_APROVADA }, data: serie(true) },
      { name: 'Rejeitadas', type: 'boxplot', color: COR_REJEITADA, itemStyle: { color: 'rgba(214,69,65,.25)', borderColor: COR_REJEITADA }, data: serie(false) },
    ],
  }, true);
}

function desenharCalor(c) {
  const xs = [...Array(c.bins).keys()].map((i) => (i === c.bins - 1 ? '≥ ' + fmtInt.format(i * c.largura_valor) : fmtInt.format(i * c.largura_valor)));
  const ys = [...Array(c.bins).keys()].map((i) => (i === c.bins - 1 ? '≥ ' + fmt1.format(i * c.largura_t5) : fmt1.format(i * c.largura_t5)));
  for (const [id, dados, cor] of [['g4a', c.aprovadas, ['#f2fbf4', '#a6d96a', '#1a9850', '#00441b']], ['g4b', c.negadas, ['#fff5f0', '#fc9272', '#de2d26', '#67000d']]]) {
    if (!dados.length) { vazio(id, 'Sem transações no filtro'); continue; }
    const max = Math.max(...dados.map((d) => d[2]));
    grafico(id).setOption({
      tooltip: { formatter: (p) => 'valor R$ ' + xs[p.data[0]] + ' a ' + (p.data[0] === c.bins - 1 ? '…' : fmtInt.format((p.data[0] + 1) * c.largura_valor)) + '<br>t5 ' + ys[p.data[1]] + '°<br>' + fmtInt.format(p.data[2]) + ' transações' },
      grid: { left: 55, right: 70, top: 10, bottom: 50 },
      xAxis: { type: 'category', data: xs, name: 'Valor (R$)', nameLocation: 'middle', nameGap: 32, axisLabel: { fontSize: 10, interval: 3 } },
      yAxis: { type: 'category', data: ys, name: 't5 (graus)', nameLocation: 'middle', nameGap: 38, axisLabel: { fontSize: 10, interval: 4 } },
      visualMap: { min: 0, max, calculable: true, orient: 'vertical', right: 0, top: 'middle', itemHeight: 140, inRange: { color: cor }, text: ['n', ''] },
      series: [{ type: 'heatmap', data: dados, progressive: 0 }],
    }, true);
  }
}

function desenharTemporal(t) {
  if (!t.length) { vazio('g9', 'Sem transações processadas'); return; }
  grafico('g9').setOption({
    tooltip: { trigger: 'axis' },
    grid: { left: 70, right: 20, top: 20, bottom: 45 },
    xAxis: { type: 'time', name: 'Hora do resultado (UTC)', nameLocation: 'middle', nameGap: 28 },
    yAxis: eixoValor('Transações por hora', { nameGap: 55 }),
    series: [{ name: 'Transações', type: 'line', color: '#1f5fbf', symbolSize: 7, areaStyle: { opacity: 0.1 }, data: t.map((h) => [h.hora + 'Z', h.transacoes]) }],
  }, true);
}

async function atualizarAnalise() {
  const f = filtros();
  if (!f.mod) {
    $('#analise-nota').textContent = 'selecione ao menos uma modalidade';
    for (const id of ['g1', 'g2a', 'g2b', 'g3', 'g4a', 'g4b', 'g5', 'g6a', 'g7', 'g8', 'g10']) vazio(id, 'Nenhuma modalidade selecionada');
    return;
  }
  $('#filtro-resumo').textContent = f.mod.replaceAll(',', ', ') + ' · ' + f.h0.padStart(2, '0') + 'h–' + f.h1.padStart(2, '0') + 'h';
  const [r, v, b, c, t] = await Promise.all([api('resumo', f), api('valores', f), api('boxplot', f), api('calor', f), api('temporal')]);
  desenharResumo(r);
  desenharValores(v);
  desenharBoxplot(b);
  desenharCalor(c);
  desenharTemporal(t);
  $('#analise-nota').textContent = 'filtro: ' + $('#filtro-resumo').textContent + ' · atualiza a cada 10 s';
  document.body.dataset.analise = JSON.stringify(f);
}

/* -------------------------------------------------------------- pipeline */

function taxa(t, s) { // per-second rate of a counter; a reset (restart) gives null
  const out = [];
  for (let i = 1; i < t.length; i++) {
    const a = s[i - 1], b = s[i];
    const dt = (t[i] - t[i - 1]) / 1000;
    out.push([t[i], a === null || b === null || b < a || dt <= 0 ? null : (b - a) / dt]);
  }
  return out;
}

function mediaJanela(t, soma, cont) { // mean of a histogram over each poll interval
  const out = [];
  for (let i = 1; i < t.length; i++) {
    const ds = soma[i] - soma[i - 1], dc = cont[i] - cont[i - 1];
    out.push([t[i], soma[i] === null || soma[i - 1] === null || dc <= 0 ? null : ds / dc]);
  }
  return out;
}

async function atualizarPipeline() {
  const p = await api('pipeline');
  const nota = $('#pipeline-nota');
  if (!p.url) {
    nota.textContent = 'sem --metrics: inicie o processador com [metrics] port = P no job e o dashboard com --metrics http://127.0.0.1:P/metrics';
    for (const id of ['p-vazao', 'p-hist', 'p-duracao', 'p-motivos']) vazio(id, 'Métricas do processador não configuradas');
    return;
  }
  nota.textContent = (p.ok ? '● ' : '○ ') + p.url + (p.ok ? '' : ' — ' + p.erro) + ' · leitura a cada ' + p.intervalo_ms / 1000 + ' s, últimos ' + Math.round(p.t.length * p.intervalo_ms / 60000) + ' min';
  const s = (k) => p.series[k] || p.t.map(() => null);
  const t = p.t;
  if (t.length < 2) { for (const id of ['p-vazao', 'p-duracao', 'p-motivos']) vazio(id, 'Aguardando leituras…'); }
  const eixoT = { type: 'time', name: 'Hora (local do navegador)', nameLocation: 'middle', nameGap: 28, splitNumber: 5, axisLabel: { hideOverlap: true } };
  if (t.length >= 2) {
    grafico('p-vazao').setOption({
      tooltip: { trigger: 'axis', valueFormatter: (v) => (v === null ? '–' : fmtInt.format(v)) },
      legend: { top: 0 },
      grid: { left: 70, right: 20, top: 30, bottom: 45 },
      xAxis: eixoT,
      yAxis: eixoValor('por segundo', { nameGap: 55 }),
      series: [
        { name: 'Mensagens/s', type: 'line', showSymbol: false, data: taxa(t, s('bankstream_messages_total')) },
        { name: 'Aprovadas/s', type: 'line', showSymbol: false, color: COR_APROVADA, data: taxa(t, s('bankstream_transactions_total{status="aprovada"}')) },
        { name: 'Lag total', type: 'line', showSymbol: false, color: '#999', lineStyle: { type: 'dashed' }, data: t.map((x, i) => [x, Object.keys(p.series).filter((k) => k.startsWith('bankstream_kafka_lag')).reduce((acc, k) => (p.series[k][i] === null ? acc : (acc || 0) + p.series[k][i]), null)]) },
      ],
    }, true);
    grafico('p-duracao').setOption({
      tooltip: { trigger: 'axis', valueFormatter: (v) => (v === null ? '–' : fmt3.format(v) + ' s') },
      legend: { top: 0 },
      grid: { left: 70, right: 20, top: 30, bottom: 45 },
      xAxis: eixoT,
      yAxis: { type: 'value', name: 'segundos', nameLocation: 'middle', nameGap: 50 },
      series: [
        { name: 'Batch (cortar + decidir + commit)', type: 'line', showSymbol: false, connectNulls: false, data: mediaJanela(t, s('bankstream_batch_seconds_sum'), s('bankstream_batch_seconds_count')) },
        { name: 'Commit no PostgreSQL', type: 'line', showSymbol: false, color: '#8e44ad', data: mediaJanela(t, s('bankstream_commit_seconds_sum'), s('bankstream_commit_seconds_count')) },
      ],
    }, true);
    const acum = [['Dead letters', 'bankstream_dead_letters_total', '#222'], ['Duplicadas', 'bankstream_duplicates_total', '#98a2b3'],
      ['Atrasadas', 'bankstream_rejections_total{motivo="atrasada"}', '#e67e22'], ['Anteriores à última', 'bankstream_rejections_total{motivo="anterior_a_ultima"}', '#5b8def'],
      ['Data futura', 'bankstream_rejections_total{motivo="data_futura"}', '#c0392b']];
    grafico('p-motivos').setOption({
      tooltip: { trigger: 'axis', valueFormatter: (v) => (v === null ? '–' : fmtInt.format(v)) },
      legend: { top: 0, type: 'scroll' },
      grid: { left: 70, right: 20, top: 30, bottom: 45 },
      xAxis: eixoT,
      yAxis: eixoValor('mensagens (desde o início do processador)', { nameGap: 55 }),
      series: acum.map(([nome, k, cor]) => ({ name: nome, type: 'line', step: 'end', showSymbol: false, color: cor, data: t.map((x, i) => [x, s(k)[i]]) })),
    }, true);
  }
  // batch duration distribution from the newest cumulative buckets
  const pre = 'bankstream_batch_seconds_bucket{le="';
  const les = Object.keys(p.series).filter((k) => k.startsWith(pre))
    .map((k) => [k, k.slice(pre.length, -2)]).sort((a, b) => (a[1] === '+Inf' ? 1 : b[1] === '+Inf' ? -1 : Number(a[1]) - Number(b[1])));
  const ultimo = (k) => { const v = p.series[k]; for (let i = v.length - 1; i >= 0; i--) if (v[i] !== null) return v[i]; return null; };
  if (les.length) {
    let antes = 0;
    const barras = les.map(([k, le], i) => { const c = ultimo(k) || 0; const n = c - antes; antes = c; return [i === 0 ? '≤ ' + le + ' s' : le === '+Inf' ? '> ' + les[i - 1][1] + ' s' : les[i - 1][1] + '–' + le + ' s', n]; });
    grafico('p-hist').setOption({
      tooltip: { trigger: 'axis' },
      grid: { left: 60, right: 20, top: 20, bottom: 70 },
      xAxis: { type: 'category', data: barras.map((b) => b[0]), name: 'Duração do batch (cortar + decidir + commit)', nameLocation: 'middle', nameGap: 48, axisLabel: { fontSize: 10, interval: 0, rotate: 30 } },
      yAxis: eixoValor('Batches'),
      series: [{ type: 'bar', color: '#5b8def', data: barras.map((b) => b[1]) }],
    }, true);
  } else {
    vazio('p-hist', p.ok ? 'Nenhum batch ainda' : 'Processador inacessível');
  }
}

/* ----------------------------------------------------------------- topic */

async function atualizarTopico() {
  const k = await api('topico');
  const nota = $('#topico-nota');
  if (!k.brokers) { nota.textContent = 'desativado (--brokers none)'; vazio('t-lag', 'Painel do tópico desativado'); return; }
  nota.textContent = (k.ok ? '● ' : '○ ') + k.topic + ' em ' + k.brokers + ' · grupo ' + k.grupo + (k.ok ? '' : ' — ' + k.erro);
  $('#kpi-msgs').textContent = k.total_mensagens === undefined ? '–' : fmtInt.format(k.total_mensagens);
  $('#kpi-lag').textContent = k.lag_total === null || k.lag_total === undefined ? '–' : fmtInt.format(k.lag_total);
  $('#kpi-grupo').textContent = k.grupo + (k.estado_grupo ? ' · ' + k.estado_grupo + ' · ' + k.membros + ' membro(s)' : '');
  const n = (v) => (v === null || v === undefined ? '–' : fmtInt.format(v));
  const rows = k.particoes.map((p) => {
    const tr = el('tr');
    for (const v of [String(p.particao), String(p.lider), p.replicas + ' / ' + p.isr, n(p.inicio), n(p.fim), n(p.mensagens), n(p.commitado), n(p.lag)]) tr.appendChild(el('td', { class: 'num' }, v));
    return tr;
  });
  linhas($('#tabela-topico tbody'), rows, k.ok ? 'Tópico sem partições.' : 'Sem resposta do cluster.', 8);
  if (!k.particoes.length) { vazio('t-lag', 'Sem partições'); return; }
  grafico('t-lag').setOption({
    tooltip: { trigger: 'axis' },
    grid: { left: 60, right: 20, top: 10, bottom: 40 },
    xAxis: { type: 'category', data: k.particoes.map((p) => 'p' + p.particao), name: 'Partição', nameLocation: 'middle', nameGap: 25 },
    yAxis: eixoValor('Mensagens não lidas', { nameGap: 45 }),
    series: [{ type: 'bar', color: '#e67e22', data: k.particoes.map((p) => p.lag), label: { show: true, position: 'top', formatter: (x) => fmtInt.format(x.value) } }],
  }, true);
}

/* ---------------------------------------------------------- dead letters */

async function atualizarDead() {
  const d = await api('dead_letters', { limite: 50 });
  $('#dead-nota').textContent = fmtInt.format(d.total) + (d.total > 100000 ? '+' : '') + ' no total · as 50 mais recentes';
  const rows = d.linhas.map((r) => {
    const tr = el('tr');
    tr.appendChild(el('td', { class: 'num' }, String(r.id)));
    tr.appendChild(el('td', { class: 'num' }, String(r.batch_id)));
    tr.appendChild(el('td', { class: 'num' }, String(r.particao)));
    tr.appendChild(el('td', { class: 'num' }, String(r.offset)));
    tr.appendChild(el('td', null, (r.tempo_entrada_kafka || '').replace('T', ' ').slice(0, 19)));
    tr.appendChild(el('td', { class: 'erro' }, r.erro));
    tr.appendChild(el('td', { class: 'num' }, fmtInt.format(r.bytes)));
    tr.appendChild(el('td', { class: 'bruto', title: r.inicio }, r.inicio));
    return tr;
  });
  linhas($('#tabela-dead tbody'), rows, 'Nenhuma dead letter.', 8);
}

/* ------------------------------------------------------------- scheduler */

const tarefas = {
  estado: [atualizarEstado, 2000],
  vivo: [atualizarVivo, 2000],
  analise: [atualizarAnalise, 10000],
  pipeline: [atualizarPipeline, 2000],
  topico: [atualizarTopico, 5000],
  dead: [atualizarDead, 10000],
};
const timers = {};
const rodando = {};

function agendar(nome, atraso) {
  clearTimeout(timers[nome]);
  timers[nome] = setTimeout(() => rodar(nome), atraso);
}

async function rodar(nome) {
  const [fn, periodo] = tarefas[nome];
  if (document.hidden) { agendar(nome, periodo); return; }
  if (rodando[nome]) { rodando[nome] = 'de novo'; return; }
  rodando[nome] = true;
  try {
    await fn();
    document.body.dataset['ok' + nome] = String(Number(document.body.dataset['ok' + nome] || 0) + 1);
  } catch (err) {
    console.warn('dashboard: ' + nome + ': ' + err.message);
  }
  const again = rodando[nome] === 'de novo';
  rodando[nome] = false;
  agendar(nome, again ? 0 : periodo);
}

async function carregarMapa() {
  try {
    const r = await fetch('/assets/brazil.svg');
    // @svg-maps/brazil names each state by a lower-case id; ECharts names
    // regions by the `name` attribute.
    const svg = (await r.text()).replace(/id="([a-z]{2})"/g, (m, uf) => m + ' name="' + uf.toUpperCase() + '"');
    echarts.registerMap('brasil', { svg });
    mapaPronto = true;
  } catch (err) {
    console.warn('dashboard: mapa: ' + err.message);
  }
}

async function iniciar() {
  if (window.BANKSTREAM_ASSETS_MISSING || typeof echarts === 'undefined') {
    $('#aviso-assets').hidden = false;
    return;
  }
  iniciarFiltros();
  await carregarMapa();
  for (const nome of Object.keys(tarefas)) agendar(nome, 0);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) for (const nome of Object.keys(tarefas)) agendar(nome, 0); });
  window.addEventListener('resize', () => { for (const c of Object.values(charts)) c.resize(); });
}

document.addEventListener('DOMContentLoaded', iniciar);
