// One flag: what it is, how it is evaluated in plain words, its rollout, the explain box and its
// history. The sections are a list: a panel is one more entry.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { html } from '../html.js';
import { AuditHistory } from '../components/audit-history.js';
import { Dialog, ErrorMessage, Parts, Time, useLoad, Value } from '../components/common.js';
import { ExplainBox } from '../components/explain.js';
import { InsightsPanel } from '../components/insights-panel.js';
import { evaluationSteps } from '../words.js';

function Evaluation({ flag }) {
  return html`<p>The first step that applies decides the answer.</p>
    <ol class="evaluation">${evaluationSteps(flag).map((step) => html`<li><strong>${step.title}.</strong> <${Parts} parts=${step.parts} /></li>`)}</ol>`;
}

function RolloutSummary({ flag }) {
  const rollout = useLoad((signal) => api('GET', `/v1/flags/${encodeURIComponent(flag.key)}/rollout`, { signal }).catch((error) => {
    if (error.code === 'not_found') return null;
    throw error;
  }), [flag.key, flag.version]);
  if (rollout.error) return html`<${ErrorMessage} error=${rollout.error} title="Could not read the rollout" />`;
  if (rollout.data === undefined) return html`<p>Loading…</p>`;
  if (rollout.data === null) return html`<p>No rollout plan has run for this flag.</p>`;
  const plan = rollout.data;
  return html`<p>The latest rollout plan is <strong>${plan.state}</strong> at ${plan.percentage ?? '—'}%, step ${plan.currentStep + 1} of ${plan.steps.length}, started by ${plan.startedBy}. <a href="#/rollouts">Rollouts</a>${plan.links?.temporalUi && html` · <a href=${plan.links.temporalUi} target="_blank" rel="noopener noreferrer">its workflow in the Temporal UI</a>`}</p>`;
}

/** The flag page's sections, in order. */
const SECTIONS = [
  { id: 'evaluation', title: 'How it is evaluated', Body: Evaluation },
  { id: 'rollout', title: 'Rollout', Body: RolloutSummary },
  { id: 'insights', title: 'Insights', Body: InsightsPanel },
  { id: 'explain', title: 'Explain an answer', Body: ({ flag }) => (flag.state === 'archived' ? html`<p>An archived flag does not evaluate (404).</p>` : html`<${ExplainBox} flagKey=${flag.key} />`) },
  { id: 'history', title: 'History', Body: ({ flag }) => html`<${AuditHistory} path=${`/v1/flags/${encodeURIComponent(flag.key)}/audit`} refreshKey=${flag.version} />` },
];

/** Archive or restore, which a high-impact flag turns into a change request. */
function StateChange({ flag, onDone }) {
  const [open, setOpen] = useState(false);
  const [outcome, setOutcome] = useState(null);
  const [error, setError] = useState(null);
  const action = flag.state === 'archived' ? 'restore' : 'archive';
  async function confirm() {
    setError(null);
    try {
      await api('POST', `/v1/flags/${encodeURIComponent(flag.key)}/${action}`, { headers: { 'if-match': `"${flag.version}"` }, body: {} });
      setOpen(false);
      setOutcome(`${action === 'archive' ? 'Archived' : 'Restored'}.`);
      onDone();
    } catch (apiError) {
      if (apiError.code === 'approval_required') {
        setOpen(false);
        setOutcome(html`The flag is high-impact: the ${action} became <a href="#/approvals">change request ${apiError.details.id}</a>, waiting for a second person.`);
        return;
      }
      setError(apiError);
    }
  }
  return html`<button type="button" onClick=${() => setOpen(true)}>${action === 'archive' ? 'Archive…' : 'Restore…'}</button>
    ${outcome && html`<p class="message" role="status">${outcome}</p>`}
    ${open && html`<${Dialog} title=${`${action === 'archive' ? 'Archive' : 'Restore'} ${flag.key}?`} onClose=${() => setOpen(false)}>
      <p>${action === 'archive' ? 'An archived flag stops evaluating: every caller gets 404 and SDKs their fallback. Its key stays taken.' : 'The flag evaluates again, as it was when archived.'}</p>
      <${ErrorMessage} error=${error} title=${`Could not ${action}`} />
      <div class="actions"><button type="button" class="danger" onClick=${confirm}>${action === 'archive' ? 'Archive' : 'Restore'}</button>
        <button type="button" onClick=${() => setOpen(false)}>Cancel</button></div>
    <//>`}`;
}

export function FlagPage({ flagKey }) {
  const flag = useLoad((signal) => api('GET', `/v1/flags/${encodeURIComponent(flagKey)}`, { signal }), [flagKey]);
  useEffect(() => {
    document.title = `${flagKey} · Flags · Flagship`;
  }, [flagKey]);
  if (flag.error) return html`<h1>${flagKey}</h1><${ErrorMessage} error=${flag.error} title="Could not read the flag" />`;
  if (!flag.data) return html`<h1>${flagKey}</h1><p role="status">Loading…</p>`;
  const f = flag.data;
  return html`<p class="crumbs"><a href="#/flags">Flags</a></p>
    <h1>${f.key}</h1>
    <p class="lead">${f.description || html`<em>No description.</em>`}</p>
    <dl class="facts">
      <div><dt>Type</dt><dd>${f.type}</dd></div>
      <div><dt>State</dt><dd>${f.state}${f.enabled === false ? ', disabled' : ''}</dd></div>
      <div><dt>Version</dt><dd>${f.version}</dd></div>
      <div><dt>Default</dt><dd><${Value} value=${f.defaultValue} /></dd></div>
      <div><dt>Tags</dt><dd>${f.tags.length ? f.tags.join(', ') : '—'}</dd></div>
      <div><dt>Owner</dt><dd>${f.owner ? html`<a href=${`#/flags?owner=${encodeURIComponent(f.owner)}`}>${f.owner}</a>` : '—'}</dd></div>
      <div><dt>High-impact</dt><dd>${f.highImpact ? 'yes: changes need a second person' : 'no'}</dd></div>
      <div><dt>Updated</dt><dd><${Time} iso=${f.updatedAt} /> by ${f.updatedBy}</dd></div>
    </dl>
    <div class="actions">
      ${f.state === 'active' && html`<a class="button" href=${`#/flags/${encodeURIComponent(f.key)}/edit`}>Edit</a>`}
      <${StateChange} flag=${f} onDone=${flag.reload} />
    </div>
    ${SECTIONS.map(({ id, title, Body }) => html`<section aria-labelledby=${`section-${id}`}>
      <h2 id=${`section-${id}`}>${title}</h2>
      <${Body} flag=${f} />
    </section>`)}`;
}
