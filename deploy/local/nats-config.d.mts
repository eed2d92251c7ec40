// Types for nats-config.mjs, so TypeScript (the test harness) can import it.
export interface NatsConfigOptions {
  port: number;
  httpPort: number;
  /** Absolute path; nats-server keeps JetStream data in `<storeDir>/jetstream`. */
  storeDir: string;
  controlPassword: string;
  /** nodeId → password; nodeIds must match /^[a-z0-9][a-z0-9-]{0,62}$/. */
  agents?: Record<string, string>;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /**
   * Agent enrolment: authorization moves to `authInclude` (relative to the config file's
   * directory; rewritten by the scheduler, which reloads the server through the absolute
   * `pidFile`), and an `enrol` user is added.
   */
  enrolment?: { enrolPassword: string; authInclude: string; pidFile: string };
}

export function renderNatsConfig(options: NatsConfigOptions): string;
export function agentUser(nodeId: string): string;
export function agentInboxPrefix(nodeId: string): string;
export function renderStaticUsers(options: { controlPassword: string; agents?: Record<string, string>; enrolPassword?: string }): string;
export function renderAuthorization(users: string): string;
export const ENROL_USER: string;
export const ENROL_SUBJECT: string;
export const ENROL_INBOX_PREFIX: string;
