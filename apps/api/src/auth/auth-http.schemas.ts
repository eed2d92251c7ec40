import { z } from 'zod';

export const LoginBodySchema = z.object({ login: z.string().min(1).max(320), password: z.string().min(1).max(1024) }).strict();
export type LoginBody = z.output<typeof LoginBodySchema>;
export const RefreshBodySchema = z.object({ refreshToken: z.string().min(1).max(512) }).strict();
export type RefreshBody = z.output<typeof RefreshBodySchema>;
export const TokensSchema = z.object({ accessToken: z.string(), refreshToken: z.string(), expiresIn: z.number().int(), tokenType: z.literal('Bearer') });

export const MeSchema = z.object({
  principalId: z.string(),
  kind: z.enum(['api_key', 'user']),
  role: z.enum(['operator', 'owner', 'member', 'viewer']),
  tenant: z.object({ id: z.uuid(), name: z.string(), status: z.enum(['active', 'suspended']) }).nullable(),
});
export type Me = z.output<typeof MeSchema>;
