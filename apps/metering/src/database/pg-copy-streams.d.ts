// pg-copy-streams ships no types; only the part used here.
declare module 'pg-copy-streams' {
  import type { Writable } from 'node:stream';
  import type { Submittable } from 'pg';

  /** `COPY … FROM STDIN`: a writable stream to give to `client.query`; it finishes when PostgreSQL has the rows. */
  export function from(sql: string): Writable & Submittable;
}
