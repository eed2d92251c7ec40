import { Body, Controller, Get, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ErrorCode, GureumError } from '@gureum/contracts';
import { ContractPipe } from '@gureum/messaging';
import { DataSource } from 'typeorm';
import { LoginBodySchema, RefreshBodySchema, type LoginBody, type Me, type RefreshBody } from './auth-http.schemas';
import { PasswordAuthenticator } from './password-authenticator';
import type { Principal } from './principal';
import { RateLimitedError, retryAfterSeconds } from './rate-limited.error';
import { Context, CurrentPrincipal } from './tenant-caller.decorator';
import type { HttpRequest, RequestContext } from '../http/http-context';
import { SessionService, type SessionTokens } from '../sessions/session.service';
import { Tenant } from '../tenants/tenant.entity';

/** Console and CLI login (password → access + refresh token), refresh, logout, and `GET /v1/me`. */
@Controller('v1')
export class AuthController {
  constructor(
    @Inject(PasswordAuthenticator) private readonly passwords: PasswordAuthenticator,
    @Inject(SessionService) private readonly sessions: SessionService,
    @Inject(DataSource) private readonly dataSource: DataSource,
  ) {}

  @Post('auth/login')
  @HttpCode(200)
  async login(@Body(new ContractPipe(LoginBodySchema, 'login')) body: LoginBody, @Req() request: HttpRequest, @Context() context: RequestContext): Promise<SessionTokens> {
    const result = await this.passwords.authenticate(body.login, body.password, request.socket.remoteAddress);
    if (!result.ok && result.reason === 'throttled') throw new RateLimitedError('too many login attempts; wait before trying again', retryAfterSeconds(result.retryAfterMs));
    if (!result.ok) throw new GureumError(ErrorCode.Unauthenticated, 'the login or password is wrong');
    context.principal = result.principal;
    context.auditTarget = `user:${result.principal.principalId}`;
    return this.sessions.open(result.principal.principalId);
  }

  @Post('auth/refresh')
  @HttpCode(200)
  async refresh(@Body(new ContractPipe(RefreshBodySchema, 'refresh')) body: RefreshBody): Promise<SessionTokens> {
    const tokens = await this.sessions.refresh(body.refreshToken);
    if (!tokens) throw new GureumError(ErrorCode.Unauthenticated, 'the refresh token is not valid, was already used, or has expired');
    return tokens;
  }

  @Post('auth/logout')
  @HttpCode(204)
  async logout(@Context() context: RequestContext): Promise<void> {
    if (!context.sessionId) throw new GureumError(ErrorCode.ValidationFailed, 'logout needs the access token of a session, not an API key');
    context.auditTarget = `session:${context.sessionId}`;
    await this.sessions.revoke(context.sessionId);
  }

  @Get('me')
  async me(@CurrentPrincipal() principal: Principal): Promise<Me> {
    const tenant = principal.tenantId ? await this.dataSource.getRepository(Tenant).findOneBy({ id: principal.tenantId }) : null;
    return {
      principalId: principal.principalId,
      kind: principal.kind,
      role: principal.role,
      tenant: tenant ? { id: tenant.id, name: tenant.name, status: tenant.status } : null,
    };
  }
}
