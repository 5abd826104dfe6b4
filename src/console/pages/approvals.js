// The approvals inbox: change requests waiting for a second person, each with its diff, who asked,
// why, and when it expires; approve or reject with a comment. An approval names the content hash
// that was on screen, so a request that changed since cannot be approved by mistake. Each request
// shows its impact over the sampled contexts as filed, and recomputed on demand.
import { useEffect, useState } from 'preact/hooks';
import { api, hasScope, queryString } from '../api.js';
import { html } from '../html.js';
import { DiffTable, ErrorMessage, relativeTime, Time, useLoad } from '../components/common.js';
import { Impact } from '../components/impact.js';

const KIND_WORDS = { patch: 'Change', archive: 'Archive', restore: 'Restore', rollout: 'Rollout plan for' };

function ProposedChange({ request }) {
  if (request.kind === 'rollout') {
    return html`<p>The rollout plan, whose steps count from the approval:</p><pre class="json">${JSON.stringify(request.change.plan, null, 2)}</pre>`;
  }
  return html`<${DiffTable} diff=${request.diff} caption=${`What changes in ${request.flagKey} (from version ${request.baseVersion})`} />`;
}

/** The impact as filed, and on demand as it would be now (the sample and the flags move on). */
function RequestImpact({ request }) {
  const [now, setNow] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function recompute() {
    setBusy(true);
    setError(null);
    try {
      setNow(await api('GET', `/v1/changes/${encodeURIComponent(request.id)}/impact`));
    } catch (apiError) {
      setError(apiError);
    } finally {
      setBusy(false);
    }
  }
  return html`<${Impact} impact=${request.impact} title="Impact when filed" />
    ${now && html`<${Impact} impact=${now.now} title="Impact now" />`}
    <${ErrorMessage} error=${error} title="Could not recompute the impact" />
    ${request.status === 'pending' && html`<div class="actions"><button type="button" disabled=${busy} onClick=${recompute}>Recompute the impact now</button></div>`}`;
}

function Decision({ request, me, onDecided }) {
  const [comment, setComment] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  // Approvals compare people (token owners), not tokens: any token of the requester is the requester.
  const own = request.requestedBy === me.owner.id;
  const mayApprove = hasScope(me, 'feature_flag:approve');
  async function decide(action) {
    setBusy(true);
    setError(null);
    try {
      const body = action === 'approve' ? { contentHash: request.contentHash, ...(comment ? { comment } : {}) } : comment ? { reason: comment } : {};
      const decided = await api('POST', `/v1/changes/${encodeURIComponent(request.id)}/${action}`, { body });
      onDecided(`${request.id}: ${decided.status}`);
    } catch (apiError) {
      setError(apiError);
    } finally {
      setBusy(false);
    }
  }
  const commentId = `comment-${request.id}`;
  if (own) {
    return html`<p class="help">You asked for this change: another person must approve it.</p>
      <${ErrorMessage} error=${error} title="Could not withdraw" />
      <div class="actions"><button type="button" disabled=${busy} onClick=${() => decide('cancel')}>Withdraw request</button></div>`;
  }
  if (!mayApprove) return html`<p class="help">Approving needs a token with <code>feature_flag:approve</code>.</p>`;
  return html`<div class="field"><label for=${commentId}>Comment (optional; the reason when rejecting)</label>
      <textarea id=${commentId} rows="2" value=${comment} onInput=${(event) => setComment(event.currentTarget.value)}></textarea></div>
    <${ErrorMessage} error=${error} title="The API refused the decision" />
    <div class="actions">
      <button type="button" class="primary" disabled=${busy} onClick=${() => decide('approve')}>Approve</button>
      <button type="button" class="danger" disabled=${busy} onClick=${() => decide('reject')}>Reject</button>
    </div>`;
}

function Request({ request, me, onDecided }) {
  const pending = request.status === 'pending';
  return html`<article class="card" aria-labelledby=${`request-${request.id}`}>
    <h2 id=${`request-${request.id}`}>${KIND_WORDS[request.kind] ?? request.kind} <a href=${`#/flags/${encodeURIComponent(request.flagKey)}`}>${request.flagKey}</a></h2>
    <dl class="facts">
      <div><dt>Requested by</dt><dd>${request.requestedBy}</dd></div>
      <div><dt>Filed</dt><dd><${Time} iso=${request.createdAt} /></dd></div>
      <div><dt>${pending ? 'Expires' : 'Status'}</dt><dd>${pending ? html`<${Time} iso=${request.expiresAt} /> (${relativeTime(request.expiresAt)})` : request.status}</dd></div>
      ${request.decision && html`<div><dt>Decided by</dt><dd>${request.decision.by}${request.decision.comment ? `: “${request.decision.comment}”` : ''}</dd></div>`}
    </dl>
    ${request.reason && html`<p>Why: ${request.reason}</p>`}
    <${ProposedChange} request=${request} />
    <${RequestImpact} request=${request} />
    ${pending && html`<${Decision} request=${request} me=${me} onDecided=${onDecided} />`}
  </article>`;
}

export function ApprovalsPage({ me }) {
  const [show, setShow] = useState('pending');
  const [notice, setNotice] = useState(null);
  const requests = useLoad((signal) => api('GET', `/v1/changes${queryString({ status: show === 'pending' ? 'pending' : '', limit: 50 })}`, { signal }), [show]);
  useEffect(() => {
    document.title = 'Approvals · Flagship';
  }, []);
  const items = requests.data?.items ?? [];
  return html`<h1>Approvals</h1>
    <fieldset class="mode"><legend>Show</legend>
      ${[['pending', 'Waiting for a decision'], ['all', 'All, newest first']].map(([value, label]) => html`<label class="inline"><input type="radio" name="show" value=${value} checked=${show === value} onChange=${() => setShow(value)} /> ${label}</label>`)}
    </fieldset>
    ${notice && html`<p class="message success" role="status">Decided: ${notice}</p>`}
    <${ErrorMessage} error=${requests.error} title="Could not list change requests" />
    ${requests.data && items.length === 0 && html`<p>${show === 'pending' ? 'Nothing waits for a decision.' : 'No change requests yet.'}</p>`}
    ${items.map((request) => html`<${Request} key=${request.id} request=${request} me=${me} onDecided=${(text) => { setNotice(text); requests.reload(); }} />`)}`;
}
