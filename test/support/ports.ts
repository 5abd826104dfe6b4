import { createServer } from 'node:net';

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Below the kernel's ephemeral range (32768–60999 here): a port found free there can be handed to an
 * outgoing connection before the server binds it, which made tests fail now and then.
 */
const LOWEST_PORT = 10_000;
const HIGHEST_PORT = 32_000;

/** A block of `count` consecutive free loopback ports (the Temporal dev server uses port, port+1, port+2). */
export async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const base = LOWEST_PORT + Math.floor(Math.random() * (HIGHEST_PORT - LOWEST_PORT - count));
    let allFree = true;
    for (let offset = 0; offset < count && allFree; offset += 1) allFree = await isFree(base + offset);
    if (allFree) return base;
  }
  throw new Error(`no block of ${count} free ports found`);
}
