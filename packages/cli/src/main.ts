import { runCli } from './cli.ts';

// `flagship … | head` closes the pipe early: what was asked for has been read, so that is a success,
// not a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

process.exitCode = await runCli(process.argv.slice(2), process.env);
