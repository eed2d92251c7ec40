import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { migrate } from '@gureum/database';
import { createTestDatabase, type TestDatabase } from '@gureum/testing';
import type { DataSource } from 'typeorm';
import { runCli } from './cli';
import { ApiKeyVerifier, type ApiKeyVerification } from './auth/api-key-verifier';
import { TypeOrmApiKeyStore } from './auth/api-key.store';
import { API_SCHEMA, createApiDataSource } from './database/api-data-source';
import { DemoSeedFileSchema } from './seed/seed-demo.usecase';

/** The operator CLI against a real, migrated database, called in-process as `node cli.js` would. */

let database: TestDatabase;
let dataSource: DataSource;
let workDir: string;

beforeAll(async () => {
  database = await createTestDatabase('api_cli');
  dataSource = createApiDataSource(database.url, 'api-cli-test');
  await dataSource.initialize();
  await migrate(dataSource, API_SCHEMA);
  workDir = await mkdtemp(path.join(tmpdir(), 'gureum-api-cli-'));
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env: { GUREUM_DATABASE_URL: database.url },
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

async function verify(key: string): Promise<ApiKeyVerification> {
  return new ApiKeyVerifier(new TypeOrmApiKeyStore(dataSource)).verify(key);
}

async function keyRows(): Promise<Array<{ name: string; role: string; revoked: boolean }>> {
  return dataSource.query(`SELECT name, role, revoked_at IS NOT NULL AS revoked FROM "api"."api_keys" ORDER BY created_at, name`);
}

describe('cli seed-demo', () => {
  it('seeds once, then does nothing while the file and its keys are good', async () => {
    const out = path.join(workDir, 'demo.json');

    const first = await cli('seed-demo', '--out', out);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(/^seeded/);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const seed = DemoSeedFileSchema.parse(JSON.parse(await readFile(out, 'utf8')));
    expect(await verify(seed.operator.apiKey)).toMatchObject({ ok: true, principal: { role: 'operator', tenantId: null } });
    expect(await verify(seed.tenant.apiKey)).toMatchObject({ ok: true, principal: { role: 'owner', tenantId: seed.tenant.id } });
    const rowsAfterFirst = await keyRows();

    const second = await cli('seed-demo', '--out', out);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.stdout).toMatch(/^already seeded/);
    expect(DemoSeedFileSchema.parse(JSON.parse(await readFile(out, 'utf8')))).toEqual(seed);
    expect(await keyRows()).toEqual(rowsAfterFirst);
  });

  it('issues fresh keys and revokes the old ones when the file is gone or its keys no longer work', async () => {
    const out = path.join(workDir, 'rotate.json');
    await cli('seed-demo', '--out', out);
    const original = DemoSeedFileSchema.parse(JSON.parse(await readFile(out, 'utf8')));

    await rm(out);
    expect((await cli('seed-demo', '--out', out)).stdout).toMatch(/^seeded/);
    const reissued = DemoSeedFileSchema.parse(JSON.parse(await readFile(out, 'utf8')));
    expect(reissued.tenant.id).toBe(original.tenant.id);
    expect(reissued.tenant.apiKey).not.toBe(original.tenant.apiKey);
    expect(await verify(original.tenant.apiKey)).toEqual({ ok: false, reason: 'revoked' });
    expect(await verify(original.operator.apiKey)).toEqual({ ok: false, reason: 'revoked' });
    expect(await verify(reissued.tenant.apiKey)).toMatchObject({ ok: true });

    await writeFile(out, JSON.stringify({ ...reissued, tenant: { ...reissued.tenant, apiKey: original.tenant.apiKey } }));
    expect((await cli('seed-demo', '--out', out)).stdout).toMatch(/^seeded/);
    const repaired = DemoSeedFileSchema.parse(JSON.parse(await readFile(out, 'utf8')));
    expect(await verify(repaired.tenant.apiKey)).toMatchObject({ ok: true });
    expect((await stat(out)).mode & 0o777).toBe(0o600);

    // Exactly one live seeded key per role, however often it ran.
    const live = (await keyRows()).filter((row) => row.name.startsWith('seed-demo') && !row.revoked);
    expect(live.map((row) => row.role).sort()).toEqual(['operator', 'owner']);
    const tenants = (await dataSource.query(`SELECT count(*)::int AS n FROM "api"."tenants" WHERE name = 'demo'`)) as Array<{ n: number }>;
    expect(tenants[0]!.n).toBe(1);
  });

  it('needs --out', async () => {
    expect(await cli('seed-demo')).toMatchObject({ code: 2, stderr: expect.stringContaining('--out') });
  });
});

describe('cli create-tenant', () => {
  it('creates a tenant with a working owner key and prints it as JSON', async () => {
    const result = await cli('create-tenant', 'acme-corp', '--json');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const printed = JSON.parse(result.stdout) as { id: string; name: string; apiKey: string };
    expect(printed).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'acme-corp', apiKey: expect.stringMatching(/^grm_[a-z0-9]{12}_/) });
    expect(await verify(printed.apiKey)).toMatchObject({ ok: true, principal: { tenantId: printed.id, role: 'owner' } });
  });

  it('prints a human-readable form without --json', async () => {
    const result = await cli('create-tenant', 'plain-text');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/id: +[0-9a-f-]{36}/);
    expect(result.stdout).toMatch(/api key: +grm_/);
  });

  it('refuses a duplicate name and an invalid one', async () => {
    await cli('create-tenant', 'taken');
    expect(await cli('create-tenant', 'taken')).toMatchObject({ code: 1, stderr: expect.stringContaining('already exists') });
    expect(await cli('create-tenant', 'Bad_Name')).toMatchObject({ code: 1, stderr: expect.stringContaining('invalid tenant name') });
    expect(await cli('create-tenant')).toMatchObject({ code: 2 });
  });

  it('reports bad configuration listing the variable', async () => {
    let stderr = '';
    const code = await runCli(['create-tenant', 'x1'], { env: {}, stdout: () => undefined, stderr: (text) => (stderr += text) });
    expect(code).toBe(2);
    expect(stderr).toMatch(/GUREUM_DATABASE_URL/);
  });
});

describe('cli create-operator-key / create-operator-user', () => {
  it('creates an operator key that verifies as an operator without a tenant', async () => {
    const result = await cli('create-operator-key', 'ops', '--json');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const printed = JSON.parse(result.stdout) as { apiKey: string };
    expect(await verify(printed.apiKey)).toMatchObject({ ok: true, principal: { tenantId: null, role: 'operator' } });
  });

  it('creates an operator user with a generated password stored only as a hash', async () => {
    const result = await cli('create-operator-user', 'Root@Example.com', '--json');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const printed = JSON.parse(result.stdout) as { login: string; password: string };
    expect(printed.login).toBe('root@example.com');
    expect(printed.password.length).toBeGreaterThanOrEqual(20);
    const [row] = (await dataSource.query(`SELECT role, tenant_id, password_hash FROM "api"."users" WHERE login = $1`, [printed.login])) as Array<{ role: string; tenant_id: string | null; password_hash: string }>;
    expect(row).toMatchObject({ role: 'operator', tenant_id: null, password_hash: expect.stringMatching(/^scrypt\$/) });
    expect(row!.password_hash).not.toContain(printed.password);
    expect(await cli('create-operator-user', 'root@example.com')).toMatchObject({ code: 1, stderr: expect.stringContaining('already exists') });
  });
});
