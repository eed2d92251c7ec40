import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNats, type TestNats } from './nats';

describe('startNats', () => {
  let nats: TestNats;
  const open: NatsConnection[] = [];

  async function as(
    creds: { user: string; password: string; inboxPrefix?: string },
    servers = nats.url,
  ): Promise<NatsConnection> {
    const nc = await connect({
      servers,
      user: creds.user,
      pass: creds.password,
      ...(creds.inboxPrefix ? { inboxPrefix: creds.inboxPrefix } : {}),
    });
    open.push(nc);
    return nc;
  }

  beforeAll(async () => {
    nats = await startNats({ agents: ['node-a', 'node-b'] });
  });

  afterAll(async () => {
    await Promise.all(open.map((nc) => nc.close()));
    await nats?.stop();
  });

  it('runs JetStream', async () => {
    const jsz = (await (await fetch(`${nats.monitorUrl}/jsz`)).json()) as { config?: { max_memory?: number } };
    expect(jsz.config?.max_memory).toBe(256 * 1024 * 1024);
  });

  it('lets control publish and subscribe anywhere', async () => {
    const control = await as(nats.control);
    const sub = control.subscribe('anything.goes.>', { max: 2 });
    await control.flush();
    control.publish('anything.goes.here', 'one');
    control.publish('anything.goes.there', 'two');
    const got: string[] = [];
    for await (const m of sub) got.push(`${m.subject}=${m.string()}`);
    expect(got).toEqual(['anything.goes.here=one', 'anything.goes.there=two']);
  });

  it('lets an agent publish on its own subjects', async () => {
    const control = await as(nats.control);
    const agent = await as(nats.agent('node-a'));
    const sub = control.subscribe('agent.node-a.>', { max: 1 });
    await control.flush();
    agent.publish('agent.node-a.x', 'hello');
    for await (const m of sub) expect([m.subject, m.string()]).toEqual(['agent.node-a.x', 'hello']);
  });

  it("refuses an agent's subscription to another agent's subjects", async () => {
    const agent = await as(nats.agent('node-a'));
    const sub = agent.subscribe('agent.node-b.>');
    const closedWith = await sub.closed;
    expect(closedWith).toBeInstanceOf(Error);
    expect(String(closedWith)).toMatch(/Permissions Violation for Subscription to "agent\.node-b\.>"/);
    // The connection survives the violation.
    expect(agent.isClosed()).toBe(false);
  });

  it("drops an agent's publish to another agent's subjects", async () => {
    const control = await as(nats.control);
    const agent = await as(nats.agent('node-a'));
    const received: string[] = [];
    control.subscribe('agent.node-b.>', {
      callback: (_err, m) => {
        received.push(m.subject);
      },
    });
    await control.flush();
    agent.publish('agent.node-b.cmd', 'spoofed');
    agent.publish('agent.node-a.marker', 'after');
    await agent.flush();
    await control.flush();
    expect(received).toEqual([]);
  });

  it('supports request/reply both ways through the agent inbox prefix', async () => {
    const control = await as(nats.control);
    const agent = await as(nats.agent('node-a'));
    // control → agent: the agent answers on control's inbox (allow_responses).
    agent.subscribe('agent.node-a.cmd.ping', {
      callback: (_err, m) => {
        m.respond(`pong:${m.string()}`);
      },
    });
    // agent → control: control answers on the agent's _INBOX.agent-node-a inbox.
    control.subscribe('agent.node-a.rpc.hello', {
      callback: (_err, m) => {
        m.respond('welcome');
      },
    });
    await Promise.all([agent.flush(), control.flush()]);
    expect((await control.request('agent.node-a.cmd.ping', '1', { timeout: 2_000 })).string()).toBe('pong:1');
    expect((await agent.request('agent.node-a.rpc.hello', '', { timeout: 2_000 })).string()).toBe('welcome');
  });

  it('rejects wrong passwords and unknown nodes', async () => {
    await expect(connect({ servers: nats.url, user: 'control', pass: 'wrong' })).rejects.toThrow(/Authorization/i);
    expect(() => nats.agent('node-z')).toThrow(/no NATS user for node node-z/);
  });

  it('gives each call its own server', async () => {
    const other = await startNats();
    try {
      expect(other.url).not.toBe(nats.url);
      const nc = await as(other.control, other.url);
      expect(nc.info?.jetstream).toBe(true);
    } finally {
      await other.stop();
    }
  });
});
