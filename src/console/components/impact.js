// What a change will do, as the API's dry runs and change requests tell it (docs/impact-preview.md):
// the linter's warnings, and per flag reached the transitions of its sampled contexts from today's
// answer to the proposed one.
import { html } from '../html.js';
import { TableWrap } from './common.js';

const percent = (share) => `${(Math.round(share * 1000) / 10).toFixed(1)}%`;

function outcomeText(outcome) {
  if (outcome.reason === 'not_found') return 'not found';
  return `${outcome.variant === null ? outcome.value : `${outcome.variant} (${outcome.value})`} · ${outcome.reason}`;
}

/** The linter's findings: none block the change, each says where and why. */
export function Warnings({ warnings }) {
  if (!warnings || warnings.length === 0) return null;
  return html`<div class="message warning" role="status">
    <p><strong>${warnings.length === 1 ? 'One warning' : `${warnings.length} warnings`}</strong> (they do not block saving):</p>
    <ul>${warnings.map((warning) => html`<li><code>${warning.path}</code>: ${warning.message} <span class="help">(${warning.code})</span></li>`)}</ul>
  </div>`;
}

function FlagTransitions({ impact }) {
  const moves = impact.transitions.filter((transition) => outcomeText(transition.from) !== outcomeText(transition.to));
  const caption = `${impact.flagKey}: ${impact.sampled} sampled contexts (${impact.sample === 'flag' ? 'its own' : 'all flags\''})`;
  return html`<${TableWrap} label=${caption}>
    <table class="impact">
      <caption>${caption}</caption>
      <thead><tr><th scope="col">Today</th><th scope="col">After the change</th><th scope="col">Contexts</th><th scope="col">Share</th></tr></thead>
      <tbody>
        ${moves.length === 0
          ? html`<tr><td colspan="4">Nobody moves.</td></tr>`
          : moves.map((transition) => html`<tr>
            <td>${outcomeText(transition.from)}</td><td>${outcomeText(transition.to)}</td>
            <td class="number">${transition.count}</td><td class="number">${percent(transition.share)}</td>
          </tr>`)}
      </tbody>
    </table>
  <//>
  ${impact.unsampledAttributes?.length > 0 && html`<p class="help">No sampled context carries ${impact.unsampledAttributes.join(', ')}: the sample keeps only what today's rules read, so this rule is judged as if nobody had it.</p>`}`;
}

/** An impact report: its summary line, and a table per flag reached. `title` heads it. */
export function Impact({ impact, title = 'Who it moves' }) {
  if (!impact) return html`<p class="help">No impact could be computed (no sample on this service, or the change no longer applies).</p>`;
  const report = impact.report ?? impact;
  return html`<section class="impact" aria-label=${title}>
    <h3>${title}</h3>
    <p class="impact-summary">${impact.summary ?? report.summary}</p>
    ${report.flagsReached && report.flagsReached.length > report.flags.length && html`<p class="help">It reaches ${report.flagsReached.length} flags; the first ${report.flags.length} are shown.</p>`}
    ${report.archive && html`<p>Would get <code>not_found</code>: ${percent(report.archive.trafficShare.share)} of the last day's evaluations; asked recently by ${report.archive.recentTokens.map((token) => token.token).join(', ') || 'no sampled token'}.</p>`}
    ${report.steps && html`<ul>${report.steps.map((step) => html`<li>${'percentage' in step.rollout ? `${step.rollout.percentage}%` : 'split'}: ${percent(step.share)} of ${step.sampled} sampled contexts in the rollout</li>`)}</ul>`}
    ${(report.flags ?? []).map((flagImpact) => html`<${FlagTransitions} key=${flagImpact.flagKey} impact=${flagImpact} />`)}
  </section>`;
}
