import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '../../src/log.ts';
import { startTracing, type RunningTracing } from '../../src/tracing.ts';
import { startTestApi, type TestApi } from '../support/api.ts';

describe('tracing over OTLP/HTTP when configured', () => {
  let receiver: Server;
  const received: unknown[] = [];
  let tracing: RunningTracing | undefined;
  let api: TestApi;

  beforeAll(async () => {
    // A stand-in collector: records what the exporter posts to /v1/traces.
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (request.url === '/v1/traces') received.push(JSON.parse(body));
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => receiver.once('listening', resolve));
    tracing = await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}` }, createLogger('silent'), 'flags-test');
    api = await startTestApi();
  });
  afterAll(async () => {
    await api.close();
    await tracing?.stop();
    receiver.close();
  });

  it('is off without an endpoint', async () => {
    expect(await startTracing({}, createLogger('silent'), 'flags-test')).toBeUndefined();
  });

  it('exports flag.update and flag.evaluate spans with their attributes', async () => {
    await api.request('POST', '/v1/flags', { body: { key: 'traced', type: 'boolean', defaultValue: true } });
    await api.request('POST', '/v1/evaluate', { body: { flagKey: 'traced', context: { userId: 'u' } } });
    await tracing!.stop();
    tracing = undefined;
    const spans = JSON.stringify(received);
    expect(spans).toContain('"name":"flag.update"');
    expect(spans).toContain('"name":"flag.evaluate"');
    expect(spans).toContain('"feature_flag.key"');
    expect(spans).toContain('"traced"');
    expect(spans).toContain('flags-test');
  });
});
