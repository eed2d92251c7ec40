export * from './errors';
export * from './caller';
export * from './identity';
export * from './workload';
export * from './agent';
export * from './subjects';
