import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Fields that must never be logged, wherever they appear in a log object. */
const REDACT = [
  'password',
  'pass',
  'secret',
  'apiKey',
  'token',
  'authorization',
  '*.password',
  '*.pass',
  '*.secret',
  '*.apiKey',
  '*.token',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
];

/** One JSON line per event, with the service name on every line. */
export function createLogger(service: string, level: string = process.env['GUREUM_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** Routes NestJS's own logging through pino so a service writes one log format. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}
