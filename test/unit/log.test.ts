import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { createLogger, withRequestId } from '../../src/log.ts';

function capture(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('the logger', () => {
  it('writes each line with its own fields only, outside a request and inside one', async () => {
    const { lines, stream } = capture();
    const log = createLogger('info', 'test', stream);
    log.info({ scheduleId: 'audit-checkpoints' }, 'first');
    log.info({ version: 3 }, 'second');
    withRequestId('req-1', () => {
      log.info({ flagKey: 'checkout' }, 'third');
      log.info({ status: 200 }, 'fourth');
    });
    log.info('fifth');
    await new Promise((resolve) => setImmediate(resolve));
    const fields = lines.map(({ msg, scheduleId, version, requestId, flagKey, status }) => ({ msg, scheduleId, version, requestId, flagKey, status }));
    expect(fields).toEqual([
      { msg: 'first', scheduleId: 'audit-checkpoints', version: undefined, requestId: undefined, flagKey: undefined, status: undefined },
      { msg: 'second', scheduleId: undefined, version: 3, requestId: undefined, flagKey: undefined, status: undefined },
      { msg: 'third', scheduleId: undefined, version: undefined, requestId: 'req-1', flagKey: 'checkout', status: undefined },
      { msg: 'fourth', scheduleId: undefined, version: undefined, requestId: 'req-1', flagKey: undefined, status: 200 },
      { msg: 'fifth', scheduleId: undefined, version: undefined, requestId: undefined, flagKey: undefined, status: undefined },
    ]);
  });
});
