import { createServer } from 'node:net';

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A block of `count` consecutive free loopback ports (the Temporal dev server uses port, port+1, port+2). */
export async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let allFree = true;
    for (let offset = 0; offset < count && allFree; offset += 1) allFree = await isFree(base + offset);
    if (allFree) return base;
  }
  throw new Error(`no block of ${count} free ports found`);
}
