import { ScheduleAlreadyRunning, type Client, type ScheduleOptions } from '@temporalio/client';

/**
 * Creates a schedule, or brings an existing one in line with this worker's settings: every worker
 * calls it at start and the last word wins. The update keeps the schedule's state, so a pause set in
 * the Temporal UI survives a restart.
 */
export async function ensureSchedule(client: Client, schedule: Pick<ScheduleOptions, 'scheduleId' | 'spec' | 'action' | 'policies'>): Promise<string> {
  const { scheduleId, spec, action, policies = {} } = schedule;
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(scheduleId).update((current) => ({ ...current, spec, action, policies: { ...current.policies, ...policies } }));
  }
  return scheduleId;
}
