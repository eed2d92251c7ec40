// One swc configuration for the build and for Jest, so tests run the code as shipped:
// CommonJS (Node 20.19+ require()s the ESM-only NestJS 12), legacy decorators with metadata
// (Nest DI and TypeORM read it) and class names kept (TypeORM and Nest use them as keys).
module.exports = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    target: 'es2022',
    keepClassNames: true,
  },
  module: { type: 'commonjs', strict: true },
  sourceMaps: true,
};
