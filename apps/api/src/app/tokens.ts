/** Injection token of the api's pino logger. */
export const API_LOGGER = Symbol('API_LOGGER');

/** How often an open event stream re-checks the credential it was opened with, in ms. */
export const STREAM_RECHECK_MS = Symbol('STREAM_RECHECK_MS');

/** Injection token of `() => void`: call after a transaction that enqueued outbox events has committed. */
export const OUTBOX_KICK = Symbol('OUTBOX_KICK');
