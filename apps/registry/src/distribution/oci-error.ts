/**
 * The error codes of the OCI Distribution Specification (v1.1, "Error Codes"), each with the
 * HTTP status this registry answers it with. Clients branch on `code`.
 */
export const OciErrorCode = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 415,
  TOOMANYREQUESTS: 429,
} as const;
export type OciErrorCode = keyof typeof OciErrorCode;

/** A protocol error: the HTTP layer turns it into `{errors:[{code,message,detail}]}` once. */
export class OciError extends Error {
  readonly status: number;

  constructor(
    readonly code: OciErrorCode,
    message: string,
    readonly detail: unknown = null,
    status?: number,
    /** Extra response headers (e.g. `Range` on a 416). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'OciError';
    this.status = status ?? OciErrorCode[code];
  }

  body(): { errors: Array<{ code: OciErrorCode; message: string; detail: unknown }> } {
    return { errors: [{ code: this.code, message: this.message, detail: this.detail }] };
  }
}
