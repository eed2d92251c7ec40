import { loadNatsConfig } from './nats';

type NatsConfigModule = Awaited<ReturnType<typeof loadNatsConfig>>;
let renderNatsConfig: NatsConfigModule['renderNatsConfig'];
let agentUser: NatsConfigModule['agentUser'];
let agentInboxPrefix: NatsConfigModule['agentInboxPrefix'];

beforeAll(async () => {
  ({ renderNatsConfig, agentUser, agentInboxPrefix } = await loadNatsConfig());
});

const base = { port: 4222, httpPort: 8222, storeDir: '/var/lib/nats', controlPassword: 'secret' };

describe('renderNatsConfig', () => {
  it('listens on loopback with JetStream limits and a control user', () => {
    const config = renderNatsConfig(base);
    expect(config).toContain('listen: "127.0.0.1:4222"');
    expect(config).toContain('http: "127.0.0.1:8222"');
    expect(config).toMatch(/jetstream \{\s+store_dir: "\/var\/lib\/nats"\s+max_memory_store: 256MB\s+max_file_store: 2GB\s+\}/);
    expect(config).toContain('{ user: "control", password: "secret" }');
  });

  it('confines each agent to its own subjects and inboxes', () => {
    const config = renderNatsConfig({ ...base, agents: { 'node-1': 'p1', 'node-2': 'p2' } });
    expect(config).toContain('user: "agent-node-1", password: "p1"');
    expect(config).toContain('publish: { allow: ["agent.node-1.>"] }');
    expect(config).toContain('subscribe: { allow: ["agent.node-1.>", "_INBOX.agent-node-1.>"] }');
    expect(config).toContain('subscribe: { allow: ["agent.node-2.>", "_INBOX.agent-node-2.>"] }');
    expect(config.match(/allow_responses: true/g)).toHaveLength(2);
    expect(agentUser('node-1')).toBe('agent-node-1');
    expect(agentInboxPrefix('node-1')).toBe('_INBOX.agent-node-1');
  });

  it('escapes passwords the way the nats-server lexer reads them', () => {
    const config = renderNatsConfig({ ...base, controlPassword: 'a"b\\c\td\u0001 $x #y }' });
    expect(config).toContain('password: "a\\"b\\\\c\\td\\x01 $x #y }"');
  });

  it.each(['Node-1', '-node', 'node_1', 'a.b', '', 'x'.repeat(64), 'node 1'])('rejects node id %j', (nodeId) => {
    expect(() => renderNatsConfig({ ...base, agents: { [nodeId]: 'p' } })).toThrow(/invalid node id/);
  });

  it('accepts the longest valid node id', () => {
    expect(() => renderNatsConfig({ ...base, agents: { ['a'.repeat(63)]: 'p' } })).not.toThrow();
  });

  it('rejects bad ports, relative store dirs and empty passwords', () => {
    expect(() => renderNatsConfig({ ...base, port: 0 })).toThrow(/port/);
    expect(() => renderNatsConfig({ ...base, httpPort: 70000 })).toThrow(/httpPort/);
    expect(() => renderNatsConfig({ ...base, storeDir: 'relative/dir' })).toThrow(/absolute/);
    expect(() => renderNatsConfig({ ...base, controlPassword: '' })).toThrow(/control/);
    expect(() => renderNatsConfig({ ...base, agents: { 'node-1': '' } })).toThrow(/agent-node-1/);
  });
});

describe('renderNatsConfig with agent enrolment', () => {
  it('moves authorization to an included file, names a pid file, and adds an enrol user that may only ask for credentials', async () => {
    const { renderStaticUsers, renderAuthorization } = await loadNatsConfig();
    const config = renderNatsConfig({ ...base, agents: { 'node-1': 'p1' }, enrolment: { enrolPassword: 'e', authInclude: 'auth.conf', pidFile: '/run/nats.pid' } });
    expect(config).toContain('include "auth.conf"');
    expect(config).toContain('pid_file: "/run/nats.pid"');
    expect(config).not.toContain('authorization');
    const users = renderStaticUsers({ controlPassword: 'secret', agents: { 'node-1': 'p1' }, enrolPassword: 'e' });
    expect(users).toContain('user: "enrol", password: "e"');
    expect(users).toContain('publish: { allow: ["enrol.req.agent.credentials.v1"] }');
    expect(users).toContain('subscribe: { allow: ["_INBOX.enrol.>"] }');
    expect(renderAuthorization(users)).toMatch(/^authorization \{\n {2}users = \[\n/);
    expect(() => renderNatsConfig({ ...base, enrolment: { enrolPassword: 'e', authInclude: '/abs/auth.conf', pidFile: '/run/nats.pid' } })).toThrow(/relative/);
    expect(() => renderNatsConfig({ ...base, enrolment: { enrolPassword: 'e', authInclude: '../auth.conf', pidFile: '/run/nats.pid' } })).toThrow(/relative/);
  });
});
