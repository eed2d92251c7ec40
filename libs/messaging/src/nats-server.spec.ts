import { GureumNatsServer } from './nats-server';

/** Reaches the protected route lookup the server uses for every incoming message. */
class Probe extends GureumNatsServer {
  route(pattern: string): string {
    return this.getRouteFromPattern(pattern);
  }
}

describe('GureumNatsServer', () => {
  const server = new Probe({ servers: 'nats://127.0.0.1:1' });

  it('routes a dotted subject as itself, without trying JSON', () => {
    const parse = jest.spyOn(JSON, 'parse');
    expect(server.route('scheduler.cmd.workload.create.v1')).toBe('scheduler.cmd.workload.create.v1');
    expect(parse).not.toHaveBeenCalled();
    parse.mockRestore();
  });

  it('still routes a JSON object pattern as Nest does (keys sorted)', () => {
    expect(server.route('{"b":1,"a":"x"}')).toBe(server.route('{"a":"x","b":1}'));
  });
});
