import { ServerNats } from '@nestjs/microservices';

/**
 * Nest's NATS server with one hot-path cost removed: for every incoming message Nest tries
 * `JSON.parse` on the subject (a pattern may be a JSON object) and, for a dotted subject like
 * ours, builds and throws a SyntaxError before falling back to the string. Our patterns are
 * contract subjects (`libs/contracts`), never JSON, so a subject that cannot start a JSON
 * object or array goes straight to the route; anything else keeps Nest's behaviour.
 */
export class GureumNatsServer extends ServerNats {
  protected override getRouteFromPattern(pattern: string): string {
    const first = pattern.charCodeAt(0);
    // '{' and '[' start a JSON pattern; a quoted or numeric one is not how Gureum names subjects either way.
    if (first !== 0x7b && first !== 0x5b) return this.normalizePattern(pattern);
    return super.getRouteFromPattern(pattern);
  }
}
