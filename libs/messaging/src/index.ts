export * from './connection';
export * from './bus';
export * from './nest';
export * from './nats-server';
export * from './jetstream';
export * from './outbox';
export * from './serve-command';
