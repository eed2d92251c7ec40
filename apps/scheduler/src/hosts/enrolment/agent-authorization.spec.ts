import { nkeys } from '@nats-io/transport-node';
import { renderAgentUser } from './agent-authorization';

describe('renderAgentUser', () => {
  const publicKey = nkeys.createUser().getPublicKey();

  it('confines an enrolled NKey to its own subjects and inboxes, like a static agent', () => {
    const entry = renderAgentUser({ nodeId: 'node-7', publicKey });
    expect(entry).toContain(`nkey: "${publicKey}"`);
    expect(entry).toContain('publish: { allow: ["agent.node-7.>"] }');
    expect(entry).toContain('subscribe: { allow: ["agent.node-7.>", "_INBOX.agent-node-7.>"] }');
    expect(entry).not.toContain('password');
  });

  it('refuses anything that could inject configuration', () => {
    expect(() => renderAgentUser({ nodeId: 'a.>', publicKey })).toThrow(/node id/);
    expect(() => renderAgentUser({ nodeId: 'node-7', publicKey: `${publicKey}" }, { user: "x` })).toThrow(/NKey/);
    expect(() => renderAgentUser({ nodeId: 'node-7', publicKey: nkeys.createAccount().getPublicKey() })).toThrow(/NKey/);
  });
});
