import { randomUUID } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { IsNull, type DataSource, type EntityManager } from 'typeorm';
import { z } from 'zod';
import { ApiKeyVerifier } from '../auth/api-key-verifier';
import { ApiKey } from '../auth/api-key.entity';
import { TypeOrmApiKeyStore } from '../auth/api-key.store';
import { IssueApiKey } from '../auth/issue-api-key.usecase';
import { Tenant } from '../tenants/tenant.entity';

export const DEMO_TENANT_NAME = 'demo' as const;
/** Seeded keys are recognised by name, so a re-seed revokes exactly the keys it issued before. */
export const DEMO_OPERATOR_KEY_NAME = 'seed-demo operator';
export const DEMO_OWNER_KEY_NAME = 'seed-demo owner';

export const DemoSeedFileSchema = z.object({
  operator: z.object({ apiKey: z.string() }),
  tenant: z.object({ id: z.uuid(), name: z.literal(DEMO_TENANT_NAME), apiKey: z.string() }),
});
export type DemoSeedFile = z.infer<typeof DemoSeedFileSchema>;

export interface SeedDemoResult {
  /** False when the database and the file already matched and nothing was touched. */
  changed: boolean;
  seed: DemoSeedFile;
}

/**
 * Ensures an operator key and a `demo` tenant with an owner key, and that `outFile` holds
 * working copies of both keys. Keys exist in plaintext only in that file, so when the file is
 * missing or its keys no longer verify, fresh keys are issued and the old seeded ones revoked.
 */
export class SeedDemo {
  constructor(
    private readonly dataSource: DataSource,
    private readonly issueApiKey = new IssueApiKey(),
  ) {}

  async execute(outFile: string): Promise<SeedDemoResult> {
    const existing = await readSeedFile(outFile);
    if (existing && (await this.stillValid(existing))) return { changed: false, seed: existing };

    const seed = await this.dataSource.transaction(async (manager) => {
      // Two seeders at once would each revoke the other's fresh keys.
      await manager.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['gureum.api.seed-demo']);
      const tenant = await this.ensureDemoTenant(manager);
      await revokeSeededKeys(manager, tenant.id);
      const operatorKey = await this.issueApiKey.execute(manager, { tenantId: null, role: 'operator', name: DEMO_OPERATOR_KEY_NAME });
      const ownerKey = await this.issueApiKey.execute(manager, { tenantId: tenant.id, role: 'owner', name: DEMO_OWNER_KEY_NAME });
      return { operator: { apiKey: operatorKey.plaintext }, tenant: { id: tenant.id, name: DEMO_TENANT_NAME, apiKey: ownerKey.plaintext } };
    });
    await writeSecretFile(outFile, `${JSON.stringify(seed, null, 2)}\n`);
    return { changed: true, seed };
  }

  private async stillValid(seed: DemoSeedFile): Promise<boolean> {
    const tenant = await this.dataSource.getRepository(Tenant).findOneBy({ name: DEMO_TENANT_NAME });
    if (!tenant || tenant.id !== seed.tenant.id) return false;
    // Checking the file is not using the keys: last_used_at stays untouched.
    const store = new TypeOrmApiKeyStore(this.dataSource);
    const verifier = new ApiKeyVerifier({ findByPrefix: (prefix) => store.findByPrefix(prefix), markUsed: async () => undefined });
    const [operator, owner] = await Promise.all([verifier.verify(seed.operator.apiKey), verifier.verify(seed.tenant.apiKey)]);
    return operator.ok && operator.principal.role === 'operator' && owner.ok && owner.principal.role === 'owner' && owner.principal.tenantId === tenant.id;
  }

  private async ensureDemoTenant(manager: EntityManager): Promise<Tenant> {
    const found = await manager.findOneBy(Tenant, { name: DEMO_TENANT_NAME });
    if (found) return found;
    const tenant = manager.create(Tenant, { id: randomUUID(), name: DEMO_TENANT_NAME, status: 'active', createdAt: new Date() });
    await manager.insert(Tenant, tenant);
    return tenant;
  }
}

async function revokeSeededKeys(manager: EntityManager, demoTenantId: string): Promise<void> {
  const now = new Date();
  await manager.update(ApiKey, { name: DEMO_OPERATOR_KEY_NAME, tenantId: IsNull(), revokedAt: IsNull() }, { revokedAt: now });
  await manager.update(ApiKey, { name: DEMO_OWNER_KEY_NAME, tenantId: demoTenantId, revokedAt: IsNull() }, { revokedAt: now });
}

/** Null when the file is missing or not a seed file: either way it has to be rewritten. */
async function readSeedFile(file: string): Promise<DemoSeedFile | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const parsed = DemoSeedFileSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Written to a temporary file created with mode 600 and renamed, so the secret is never world-readable, not even briefly. */
async function writeSecretFile(file: string, content: string): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const handle = await open(temporary, 'w', 0o600);
  try {
    // The mode of open() is ignored for a leftover file, so it is set again before writing.
    await handle.chmod(0o600);
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
