import type { NatsConnection } from '@gureum/messaging';

/**
 * Whether the NATS connection is up right now. The client reconnects on its own; this only
 * follows its status events so a health check can answer without a round trip.
 */
export class NatsConnectionState {
  private connected: boolean;
  private readonly watching: Promise<void>;

  constructor(private readonly nc: NatsConnection) {
    this.connected = !nc.isClosed();
    this.watching = this.watch();
  }

  isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  /** Resolves once the connection is closed and its status stream has ended. */
  async stopped(): Promise<void> {
    await this.watching;
  }

  private async watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect' || status.type === 'close') this.connected = false;
      else if (status.type === 'reconnect') this.connected = true;
    }
    this.connected = false;
  }
}
