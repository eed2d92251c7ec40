import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { EntityManager } from 'typeorm';

/**
 * Streams rows into `COPY <target> FROM STDIN` (text format) on the connection of `manager`'s
 * transaction, so the rows are part of that transaction. `rows` yields rows of column values
 * in the order of `target`'s column list; null and undefined are SQL NULL.
 */
export async function copyRows(manager: EntityManager, target: string, rows: Iterable<ReadonlyArray<string | number | null | undefined>>): Promise<void> {
  const runner = manager.queryRunner;
  if (!runner) throw new Error('copyRows needs a transaction (an EntityManager with a query runner)');
  const client = (await runner.connect()) as PoolClient;
  await pipeline(Readable.from(copyText(rows)), client.query(copyFrom(`COPY ${target} FROM STDIN`)));
}

const CHUNK_ROWS = 1_000;

function* copyText(rows: Iterable<ReadonlyArray<string | number | null | undefined>>): Generator<string> {
  let chunk = '';
  let n = 0;
  for (const row of rows) {
    let line = '';
    for (let i = 0; i < row.length; i += 1) {
      if (i > 0) line += '\t';
      line += copyValue(row[i]);
    }
    chunk += line + '\n';
    n += 1;
    if (n === CHUNK_ROWS) {
      yield chunk;
      chunk = '';
      n = 0;
    }
  }
  if (chunk) yield chunk;
}

const SPECIAL = /[\\\t\n\r]/;

/** One value in COPY's text format: `\N` for NULL; backslash, tab, newline and carriage return escaped. */
export function copyValue(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  const text = typeof value === 'number' ? String(value) : value;
  if (!SPECIAL.test(text)) return text;
  return text.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}
