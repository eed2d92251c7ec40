import { Controller } from '@nestjs/common';
import { Commands, ErrorCode, GureumError, type RegistryServiceToken, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand, type Bus } from '@gureum/messaging';
import type { Logger } from '@gureum/runtime';
import type { DataSource } from 'typeorm';
import { publicRepositories } from '../repositories/repository.store';
import { REGISTRY_SERVICE } from './issue-token.usecase';
import type { TokenSigner } from './token';

const PULL = Commands.registryTokenPull.subject;
const PUSH = Commands.registryTokenPush.subject;

type ServiceTokenRequest = ValidRequestOf<typeof PULL>;

/**
 * Tokens for the control plane's own pulls and pushes on a tenant's behalf (an agent pulling a
 * workload's image, pushing a commit or a build): the same bearer tokens the token endpoint
 * issues, for exactly one repository. Services are trusted on the internal bus (agents cannot
 * publish here: NATS confines them to `agent.<id>.>`), but the tenant must still own the
 * repository — or, for a pull, the repository must be public.
 */
export class IssueServiceToken {
  /** Tenant names never change, so a lookup is kept for the life of the process. */
  private readonly tenantNames = new Map<string, string>();

  constructor(
    private readonly bus: Bus,
    private readonly dataSource: DataSource,
    private readonly signer: TokenSigner,
    private readonly logger: Logger,
  ) {}

  async execute(request: ServiceTokenRequest, mode: 'pull' | 'push'): Promise<RegistryServiceToken> {
    const tenantName = await this.tenantName(request.tenantId);
    const owns = request.repository.split('/')[0] === tenantName;
    let actions: Array<'pull' | 'push'>;
    if (mode === 'push') {
      if (!owns) {
        throw new GureumError(ErrorCode.Forbidden, `tenant ${tenantName} may only push to repositories under ${tenantName}/, not ${request.repository}`, {
          repository: request.repository,
        });
      }
      actions = ['pull', 'push'];
    } else {
      if (!owns && !(await publicRepositories(this.dataSource.manager, [request.repository])).has(request.repository)) {
        // Same answer whether the repository exists or not: another tenant's private name stays private.
        throw new GureumError(ErrorCode.Forbidden, `tenant ${tenantName} may not pull ${request.repository}: it is not in its namespace and not public`, {
          repository: request.repository,
        });
      }
      actions = ['pull'];
    }
    const nowSeconds = Math.floor(Date.now() / 1000);
    const { token, expiresIn } = this.signer.sign(
      { sub: `service:${mode}:${request.tenantId}`, aud: REGISTRY_SERVICE, access: [{ type: 'repository', name: request.repository, actions }], tenant: tenantName, tenantId: request.tenantId },
      nowSeconds,
    );
    this.logger.info({ tenantId: request.tenantId, tenant: tenantName, repository: request.repository, actions }, 'service token issued');
    return { token, expiresAt: new Date((nowSeconds + expiresIn) * 1000).toISOString(), actions };
  }

  private async tenantName(tenantId: string): Promise<string> {
    const known = this.tenantNames.get(tenantId);
    if (known) return known;
    const { tenantName } = await this.bus.request(Commands.identityTenantName.subject, { tenantId });
    this.tenantNames.set(tenantId, tenantName);
    return tenantName;
  }
}

/** The bus side of IssueServiceToken. */
@Controller()
export class ServiceTokenController {
  constructor(private readonly issue: IssueServiceToken) {}

  @OnCommand(PULL)
  pull(@CommandPayload(PULL) request: ValidRequestOf<typeof PULL>): Promise<RegistryServiceToken> {
    return this.issue.execute(request, 'pull');
  }

  @OnCommand(PUSH)
  push(@CommandPayload(PUSH) request: ValidRequestOf<typeof PUSH>): Promise<RegistryServiceToken> {
    return this.issue.execute(request, 'push');
  }
}
