import { z } from 'zod';
import { LoginSchema, PasswordSchema } from '../tenants/tenant-http.schemas';

export const TenantRoleSchema = z.enum(['owner', 'member', 'viewer']);

export const UserPathSchema = z.object({ id: z.uuid({ message: 'must be a user id (a UUID)' }) }).strict();
export type UserPath = z.output<typeof UserPathSchema>;

export const InviteUserBodySchema = z.object({ login: LoginSchema, role: TenantRoleSchema, password: PasswordSchema.optional() }).strict();
export type InviteUserBody = z.output<typeof InviteUserBodySchema>;

export const ChangeRoleBodySchema = z.object({ role: TenantRoleSchema }).strict();
export type ChangeRoleBody = z.output<typeof ChangeRoleBodySchema>;

export const UserViewSchema = z.object({
  id: z.uuid(),
  login: z.string(),
  /** What the user types as the login: `<tenant name>/<login>` for an invited user (logins are unique per tenant), `<login>` for a tenant's first owner. */
  signInAs: z.string(),
  role: TenantRoleSchema,
  tenantId: z.uuid(),
  createdAt: z.iso.datetime(),
});
export type UserView = z.output<typeof UserViewSchema>;
export const InvitedUserSchema = UserViewSchema.extend({ initialPassword: z.string().optional() });
export const UserListSchema = z.object({ items: z.array(UserViewSchema) });
