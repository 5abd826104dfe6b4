import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/config.ts';
import { evaluationCountsRetentionDays } from '../../src/worker/retention-schedule.ts';

describe('the retention run\'s settings', () => {
  it('cleans up and compresses after 90 days unless told otherwise, within 1 to 36,500 days', () => {
    expect(loadConfig({})).toMatchObject({ cleanupAfterDays: 90, auditCompressAfterDays: 90 });
    expect(loadConfig({ FLAGS_CLEANUP_AFTER_DAYS: '30', FLAGS_AUDIT_COMPRESS_AFTER_DAYS: '400' })).toMatchObject({ cleanupAfterDays: 30, auditCompressAfterDays: 400 });
    expect(() => loadConfig({ FLAGS_CLEANUP_AFTER_DAYS: '0' })).toThrow(/FLAGS_CLEANUP_AFTER_DAYS/);
    expect(() => loadConfig({ FLAGS_AUDIT_COMPRESS_AFTER_DAYS: '90d' })).toThrow(/FLAGS_AUDIT_COMPRESS_AFTER_DAYS/);
  });

  it("keeps SDKs' exposure and tracking events a week unless told otherwise, within 1 to 36,500 days", () => {
    expect(loadConfig({}).analyticsEventsKeptDays).toBe(7);
    expect(loadConfig({ FLAGS_ANALYTICS_EVENTS_KEPT_DAYS: '30' }).analyticsEventsKeptDays).toBe(30);
    expect(() => loadConfig({ FLAGS_ANALYTICS_EVENTS_KEPT_DAYS: '0' })).toThrow(/FLAGS_ANALYTICS_EVENTS_KEPT_DAYS/);
    expect(() => loadConfig({ FLAGS_ANALYTICS_EVENTS_KEPT_DAYS: '36501' })).toThrow(/FLAGS_ANALYTICS_EVENTS_KEPT_DAYS/);
  });

  it('keeps evaluation counts for the longest window that reads them, plus a week', () => {
    // The insights' month is the longest window with the default single-value window (14 days).
    expect(evaluationCountsRetentionDays(14)).toBe(37);
    expect(evaluationCountsRetentionDays(30)).toBe(37);
    // A longer single-value window reads older counts: they are kept for it.
    expect(evaluationCountsRetentionDays(60)).toBe(67);
  });
});
