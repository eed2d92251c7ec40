export * from './errors';
export * from './caller';
export * from './identity';
export * from './workload';
export * from './agent';
export * from './registry';
export * from './metering';
export * from './subjects';
