import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { parse } from 'yaml';
import { CliError, EXIT } from '../exit-codes.ts';
import { serialize, writeDocument, type Definition, type DocumentFormat, type FlagDocument } from '../flag-document.ts';
import { translateFlagd, UnsupportedFlagd } from '../flagd.ts';
import type { Session } from '../session.ts';
import { exportDocument } from './code-commands.ts';

/** `import flagd` and `import snapshot`: other definitions as a Flagship document, to plan and apply. */
export function registerImportCommands(program: Command, session: Session): void {
  const importCommand = program.command('import').description('Translate flag definitions from elsewhere into a Flagship document (then plan and apply it)');

  const withTarget = (command: Command) => command
    .option('-f, --file <path>', 'write the document to this file (default: stdout)')
    .option('-d, --dir <folder>', 'write one file per flag under this folder')
    .addOption(new Option('--format <format>', 'document format').choices(['yaml', 'json']).default('yaml'));

  withTarget(importCommand.command('flagd <source>').description('From flagd\'s flag definition format (flagd, GO Feature Flag, …); refuses, by name, what does not translate'))
    .option('--skip-unsupported', 'translate what maps and list the flags left out, instead of refusing the whole file')
    .action((source: string, options: TargetOptions & { skipUnsupported?: boolean }) => {
      let translation;
      try {
        translation = translateFlagd(readStructured(source));
      } catch (error) {
        if (error instanceof UnsupportedFlagd) throw new CliError(`${source}: ${error.message}`);
        throw error;
      }
      const refusals = translation.refused.map((refusal) => `flag "${refusal.key}": ${refusal.reason}`);
      if (refusals.length && !options.skipUnsupported) throw new CliError(`${source} has ${refusals.length} flag(s) that do not translate, nothing was written: ${refusals.join('; ')}`);
      for (const refusal of refusals) session.terminal.note(`left out ${refusal}`);
      emit(session, translation.document, options);
      if (refusals.length) session.exitCode = EXIT.failure;
    });

  withTarget(importCommand.command('snapshot <source>').description('From a Flagship snapshot file (flagship snapshot get), e.g. to restore or to seed another deployment'))
    .action((source: string, options: TargetOptions) => {
      const snapshot = readStructured(source) as { flags?: Definition[]; segments?: Definition[] };
      if (!Array.isArray(snapshot?.flags) || !Array.isArray(snapshot.segments)) throw new CliError(`${source} is not a Flagship snapshot (no flags and segments lists)`);
      emit(session, exportDocument(snapshot.flags, snapshot.segments), options);
    });
}

interface TargetOptions {
  file?: string;
  dir?: string;
  format: DocumentFormat;
}

function readStructured(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return parse(text);
  } catch (error) {
    throw new CliError(`${path}: not valid JSON or YAML: ${(error as Error).message.split('\n')[0]}`);
  }
}

function emit(session: Session, document: FlagDocument, options: TargetOptions): void {
  if (options.file && options.dir) throw new CliError('give --file or --dir, not both', EXIT.usage);
  if (options.dir || options.file) {
    const written = writeDocument(document, (options.dir ?? options.file)!, { format: options.format, split: Boolean(options.dir) });
    session.terminal.note(`Wrote ${document.flags.length} flags and ${document.segments.length} segments (${written.length} files).`);
  } else {
    process.stdout.write(serialize(document, options.format));
  }
}
