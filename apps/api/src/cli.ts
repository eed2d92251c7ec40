import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '@gureum/runtime';
import type { DataSource } from 'typeorm';
import { DatabaseEnvSchema } from './config/api.config';
import { createApiDataSource, pendingApiMigrations } from './database/api-data-source';
import { parseOrThrow } from '@gureum/contracts';
import { IssueApiKey } from './auth/issue-api-key.usecase';
import { LoginSchema } from './tenants/tenant-http.schemas';
import { CreateUser } from './users/create-user.usecase';
import { SeedDemo } from './seed/seed-demo.usecase';
import { CreateTenant } from './tenants/create-tenant.usecase';

const USAGE = `usage: cli.js <command>

commands:
  seed-demo --out <file>       ensure an operator key and a "demo" tenant with an owner key,
                               and write both keys to <file> (mode 600); idempotent
  create-tenant <name> [--json]
                               create a tenant with an owner key and print its id and key
  create-operator-key <name> [--json]
                               create a platform operator API key and print it (shown once)
  create-operator-user <login> [--json]
                               create a platform operator who logs in with a password; a
                               generated password is printed once

environment: GUREUM_DATABASE_URL (required), GUREUM_LOG_LEVEL
`;

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

class UsageError extends Error {}

/** Runs one command and returns the exit code: 0 ok, 1 failed, 2 bad usage or configuration. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'seed-demo':
        return await seedDemo(rest, io);
      case 'create-tenant':
        return await createTenant(rest, io);
      case 'create-operator-key':
        return await createOperatorKey(rest, io);
      case 'create-operator-user':
        return await createOperatorUser(rest, io);
      case 'help':
      case '--help':
        io.stdout(USAGE);
        return 0;
      case undefined:
        throw new UsageError('no command given');
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      io.stderr(`${error.message}\n`);
      return 2;
    }
    // Operators get the message; a stack trace of a connection error explains nothing to them.
    io.stderr(`${command}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

async function seedDemo(args: string[], io: CliIo): Promise<number> {
  const { values } = parseOrUsage(() => parseArgs({ args, options: { out: { type: 'string' } }, strict: true, allowPositionals: false }));
  if (!values.out) throw new UsageError('seed-demo needs --out <file>');
  const outFile = values.out;
  return withDatabase(io, async (dataSource) => {
    const result = await new SeedDemo(dataSource).execute(outFile);
    io.stdout(
      result.changed
        ? `seeded: demo tenant ${result.seed.tenant.id}; fresh operator and owner keys written to ${outFile}\n`
        : `already seeded: demo tenant ${result.seed.tenant.id}; the keys in ${outFile} still work\n`,
    );
    return 0;
  });
}

async function createTenant(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrUsage(() => parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true, allowPositionals: true }));
  if (positionals.length !== 1) throw new UsageError('create-tenant needs exactly one <name>');
  const name = positionals[0]!;
  return withDatabase(io, async (dataSource) => {
    const tenant = await new CreateTenant(dataSource).execute({ name });
    io.stdout(
      values.json
        ? `${JSON.stringify({ id: tenant.id, name: tenant.name, apiKey: tenant.owner.apiKey })}\n`
        : `tenant ${tenant.name} created\n  id:       ${tenant.id}\n  api key:  ${tenant.owner.apiKey}\n(the key is shown only now; store it safely)\n`,
    );
    return 0;
  });
}

async function createOperatorKey(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrUsage(() => parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true, allowPositionals: true }));
  if (positionals.length !== 1) throw new UsageError('create-operator-key needs exactly one <name>');
  const name = positionals[0]!;
  return withDatabase(io, async (dataSource) => {
    const key = await dataSource.transaction((manager) => new IssueApiKey().execute(manager, { tenantId: null, role: 'operator', name }));
    io.stdout(
      values.json
        ? `${JSON.stringify({ id: key.id, name: key.name, apiKey: key.plaintext })}\n`
        : `operator key ${key.name} created\n  id:       ${key.id}\n  api key:  ${key.plaintext}\n(the key is shown only now; store it safely)\n`,
    );
    return 0;
  });
}

async function createOperatorUser(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrUsage(() => parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true, allowPositionals: true }));
  if (positionals.length !== 1) throw new UsageError('create-operator-user needs exactly one <login>');
  const login = parseOrThrow(LoginSchema, positionals[0], 'login');
  return withDatabase(io, async (dataSource) => {
    const user = await dataSource.transaction((manager) => new CreateUser().execute(manager, { login, tenantId: null, role: 'operator' }));
    io.stdout(
      values.json
        ? `${JSON.stringify({ id: user.id, login: user.login, password: user.initialPassword })}\n`
        : `operator ${user.login} created\n  id:        ${user.id}\n  password:  ${user.initialPassword}\n(the password is shown only now)\n`,
    );
    return 0;
  });
}

async function withDatabase(io: CliIo, work: (dataSource: DataSource) => Promise<number>): Promise<number> {
  const config = loadConfig(DatabaseEnvSchema, io.env);
  const dataSource = createApiDataSource(config.GUREUM_DATABASE_URL, 'gureum-api-cli');
  await dataSource.initialize();
  try {
    const pending = await pendingApiMigrations(dataSource);
    if (pending.length > 0) {
      io.stderr(`the api database schema is behind (pending: ${pending.join(', ')}); run migrate.js first\n`);
      return 1;
    }
    return await work(dataSource);
  } finally {
    await dataSource.destroy();
  }
}

function parseOrUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2), {
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  }).then((code) => {
    process.exitCode = code;
  });
}
