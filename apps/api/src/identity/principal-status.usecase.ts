import type { Commands, ReplyOf, ValidRequestOf } from '@gureum/contracts';
import type { DataSource } from 'typeorm';
import { ApiKey } from '../auth/api-key.entity';
import { Tenant } from '../tenants/tenant.entity';
import { User } from '../users/user.entity';

type Status = (typeof Commands)['identityPrincipalStatus']['subject'];

/**
 * Whether the credential behind a principal is still good: the API key exists, is neither
 * revoked nor expired; the user still exists; and the tenant of either exists and is active.
 * The registry asks this on use of tokens it minted (cached there for seconds), so revoking a
 * key, removing a user or suspending / deleting a tenant ends its registry tokens too.
 */
export class PrincipalStatus {
  constructor(private readonly dataSource: DataSource) {}

  async execute(request: ValidRequestOf<Status>): Promise<ReplyOf<Status>> {
    if (!isUuid(request.principalId)) return { active: false };
    let tenantId: string | null;
    if (request.kind === 'api_key') {
      const key = await this.dataSource.getRepository(ApiKey).findOneBy({ id: request.principalId });
      if (!key || key.revokedAt !== null || (key.expiresAt !== null && key.expiresAt.getTime() <= Date.now())) return { active: false };
      tenantId = key.tenantId;
    } else {
      const user = await this.dataSource.getRepository(User).findOneBy({ id: request.principalId });
      if (!user) return { active: false };
      tenantId = user.tenantId;
    }
    if (tenantId === null) return { active: true };
    const tenant = await this.dataSource.getRepository(Tenant).findOneBy({ id: tenantId });
    return { active: tenant !== null && tenant.status === 'active' };
  }
}

function isUuid(text: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text);
}
