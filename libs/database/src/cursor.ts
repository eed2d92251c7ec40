/** Opaque keyset-pagination cursors: base64url of `<iso timestamp>|<id>`. */
export interface CursorPosition {
  createdAt: Date;
  id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(`${position.createdAt.toISOString()}|${position.id}`, 'utf8').toString('base64url');
}

/** Returns null for anything that is not a cursor we issued. */
export function decodeCursor(cursor: string): CursorPosition | null {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const [at, id, extra] = text.split('|');
  if (!at || !id || extra !== undefined) return null;
  const createdAt = new Date(at);
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== at) return null;
  if (!/^[0-9a-f-]{36}$/.test(id)) return null;
  return { createdAt, id };
}
