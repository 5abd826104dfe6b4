// The explain box: paste a context, see the answer and every step the engine took (POST /v1/explain).
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { html } from '../html.js';
import { ErrorMessage, Value } from './common.js';

const STEP_TITLES = {
  enabled: 'Switched on?',
  killswitch: 'Killswitch',
  prerequisite: 'Prerequisite',
  denylist: 'Denylist',
  allowlist: 'Allowlist',
  rule: 'Rule',
  rollout: 'Rollout',
  default: 'Default',
};

function ConditionList({ conditions }) {
  if (!conditions?.length) return null;
  return html`<ul class="conditions">
    ${conditions.map((condition) => html`<li class=${condition.held ? 'held' : 'failed'}>
      <span class="mark">${condition.held ? 'holds' : 'fails'}</span> ${condition.message}
      ${condition.kind === 'segment' && html`<${ConditionList} conditions=${condition.conditions} />`}
    </li>`)}
  </ul>`;
}

function Split({ split }) {
  if (!split) return null;
  return html`<p class="detail">Bucket ${split.bucket ?? 'none'} of 100,000 (salt <code>${split.salt}</code>, identity ${split.identity ? html`<code>${split.identity.attribute}=${split.identity.value}</code>` : 'missing'}): ${split.variants.map((variant, index) => html`${index > 0 ? ', ' : ''}${variant.variant} below ${variant.upTo}`)}.</p>`;
}

function Steps({ steps }) {
  return html`<ol class="trace">
    ${steps.map((step) => html`<li class=${`step ${step.outcome}`}>
      <p><strong>${step.step === 'rule' ? `Rule ${step.ruleId}` : STEP_TITLES[step.step] ?? step.step}</strong>
        <span class=${`badge ${step.outcome}`}>${step.outcome === 'served' ? 'decided the answer' : 'passed on'}</span></p>
      <p>${step.message}</p>
      ${step.step === 'rollout' && step.bucket !== null && step.threshold !== undefined && html`<p class="detail">Bucket ${step.bucket} against threshold ${step.threshold} (salt <code>${step.salt}</code>, ${step.identity.attribute}=${step.identity.value}).</p>`}
      <${ConditionList} conditions=${step.conditions} />
      <${Split} split=${step.split} />
      ${step.step === 'prerequisite' && step.explanation && html`<details><summary>How ${step.flagKey} answered</summary><${Explanation} explanation=${step.explanation} /></details>`}
    </li>`)}
  </ol>`;
}

function Explanation({ explanation }) {
  const { result } = explanation;
  return html`<div class="explanation">
    <p class="answer">Answer: <${Value} value=${result.value} />${result.variant ? ` (variant ${result.variant})` : ''}, reason <strong>${result.reason}</strong>${result.ruleId ? `, rule ${result.ruleId}` : ''}${result.prerequisiteKey ? `, prerequisite ${result.prerequisiteKey}` : ''}, flag version ${result.flagVersion}.</p>
    <${Steps} steps=${explanation.steps} />
  </div>`;
}

export function ExplainBox({ flagKey }) {
  const [text, setText] = useState('{\n  "userId": "user-42"\n}');
  const [problem, setProblem] = useState(null);
  const [explanation, setExplanation] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function run(event) {
    event.preventDefault();
    setError(null);
    let context;
    try {
      context = JSON.parse(text);
      if (typeof context !== 'object' || context === null || Array.isArray(context)) throw new Error('the context must be a JSON object, like {"userId": "u-1"}');
    } catch (parseError) {
      setProblem(parseError.message);
      return;
    }
    setProblem(null);
    setBusy(true);
    try {
      setExplanation(await api('POST', '/v1/explain', { body: { flagKey, context } }));
    } catch (apiError) {
      setExplanation(null);
      setError(apiError);
    } finally {
      setBusy(false);
    }
  }

  return html`<form class="explain" onSubmit=${run}>
    <label for="explain-context">Context (JSON)</label>
    <textarea id="explain-context" rows="5" spellcheck="false" value=${text} aria-invalid=${problem ? 'true' : 'false'}
      aria-describedby=${problem ? 'explain-problem' : 'explain-help'} onInput=${(event) => setText(event.currentTarget.value)}></textarea>
    ${problem ? html`<p id="explain-problem" class="field-error">${problem}</p>` : html`<p id="explain-help" class="help">The attributes of a user or project, as an SDK would send them.</p>`}
    <button type="submit" disabled=${busy}>Explain</button>
    <${ErrorMessage} error=${error} title="Could not explain" />
    <div aria-live="polite">${explanation && html`<${Explanation} explanation=${explanation} />`}</div>
  </form>`;
}
